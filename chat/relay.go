package chat

// Relayed connections: with several nodes (docs/shared-rooms.md), a
// browser's socket for a room that another node owns is served here and
// relayed there, where the room lives. Here it is a Client in no room: no
// membership, history or presence (the owner keeps them), but one of its
// user's connections all the same, so the caps (MaxConnsPerUser, the
// user's queued bytes), sign-outs (CloseUser, CloseSession) and shutdown
// (Close) treat it as any other.

// Relay returns a connection of member m, with session tag session, for
// room slug held by another node. Serve runs it as any connection: each
// text frame the browser sends goes to onText (which passes it to the
// owner), and what the owner sends is queued with Send, in the owner's
// order (a full queue evicts the connection, 1013, and the browser
// reconnects and catches up from a snapshot). Serve's Leave forgets it;
// Close closes it with the code and reason the owner gave. Errors:
// ErrClosed, ErrTooManyConnections.
func (r *Registry) Relay(slug string, m Member, session string) (*Client, error) {
	rm := newRoom(slug, false, 0, &r.cfg)
	rm.relay = true
	c := newClient(r, rm, m, session)
	if _, err := r.admit(c, false); err != nil {
		return nil, err
	}
	rm.mu.Lock()
	rm.addClient(c)
	rm.mu.Unlock()
	return c, nil
}

// relayClientsLocked returns the relayed connections of every user.
// r.mu must be held.
func (r *Registry) relayClientsLocked() []*Client {
	var out []*Client
	for _, u := range r.users {
		for _, c := range u.clients {
			if c.room.relay {
				out = append(out, c)
			}
		}
	}
	return out
}

// JoinRemote is Join for a connection that another node serves and relays
// to this one, the room's owner (package cluster's RemoteSocket): a
// member like any other in the room, but notices for its user (SendUser)
// skip it, since its own node delivers them to the browser (through its
// Relay connection) and they would arrive twice. session is the tag the
// relaying node gave (a hash of the session). With a link (one per node),
// the connection's frames go through it, named conn, each frame the room
// fans out once per link (linked.go), and that node's queue limits apply
// to them; with none (nil), they are queued and written here like a local
// connection's.
func (r *Registry) JoinRemote(slug string, m Member, session string, link Link, conn string) (*Client, error) {
	return r.join(slug, m, session, &remoteConn{link, conn}, false)
}

// JoinRemotePrivate is JoinRemote for a socket whose page showed room slug
// as private: like JoinPrivate, it never creates the room, and refuses
// one that does not exist or is not private with ErrNoRoom.
func (r *Registry) JoinRemotePrivate(slug string, m Member, session string, link Link, conn string) (*Client, error) {
	return r.join(slug, m, session, &remoteConn{link, conn}, true)
}

// remoteConn is how a remote connection is reached: through link, as
// conn, if link is not nil.
type remoteConn struct {
	link Link
	conn string
}
