// Package chat is Natter's room registry: rooms, their members and their
// connections, a bounded history per room, and the fan-out of frames that
// the handlers rendered. It knows nothing of HTTP, HTML or the database: a
// Renderer turns each room event into bytes once, and chat queues the same
// bytes to every connection of the room (render once, send many).
//
// # Locking
//
// There is no hub goroutine. The Registry has one mutex for its indexes
// (rooms by slug, users, session tags) and each room has its own mutex,
// held while a room event is numbered, rendered and queued, so that every
// connection of a room receives the room's frames in the same order. The
// lock order is room, then registry, then client: the registry lock is held
// only for short bookkeeping, never while rendering and never while taking
// a room lock. Renderer methods other than Snapshot are therefore called
// with the room's lock held; none may call back into the Registry.
//
// # Snapshots
//
// The snapshot a joiner gets first is rendered once per room state (the
// history and the member list, numbered by a version) and its bytes are
// shared by every joiner until the room changes. It is rendered outside
// the room lock: a joiner copies the state under the lock, renders, and
// uses the result only if the version is unchanged when it takes the lock
// again, so it still gets the snapshot before any later frame, in room
// order. The history is bounded in entries and in rendered bytes, so a
// snapshot stays small.
//
// # Message actions
//
// A text message may be edited by its author, deleted by its author, the
// room's owner or an admin, and reacted to (actions.go); each change
// replaces the message in the history (a deleted one keeps only its
// tombstone) and is told to every connection with one frame. Mentions are
// resolved by the handler and stored with the message; those mentioned
// with no connection in the room are told in their other rooms
// (mentions.go). The typing line (typing.go) is the one frame that is
// not the same for everyone: a typer's own view leaves them out.
//
// # History kept elsewhere
//
// With several nodes, a Store (Config.Store, store.go) keeps every room's
// history in the broker: each entry is stored before anyone is told of
// it, and a post that cannot be stored is refused (ErrNotStored).
//
// # Relayed connections
//
// With several nodes, a socket for a room another node holds is served
// here as a Client in no room (Registry.Relay, relay.go): one of its
// user's connections, fed by Send with what the room's owner sends. On
// the owner, such a socket is a member's connection (JoinRemote) whose
// frames go to its node through a Link (linked.go): a frame the room fans
// out travels once per node, not once per connection.
//
// # A socket's life
//
// Each connection has one reader, the goroutine that runs Client.Serve.
// Its writer is the registry's pool of writers when the socket is a
// DirectSocket (pool.go: queued frames are written with non-blocking
// writes, a stalled peer gets a goroutine of its own until its write
// ends, pings come from one wheel), else a goroutine of Serve's
// (writePump). An idle connection thus costs one goroutine.
//
//	c, err := reg.Join(slug, member, sessionID)
//	if err != nil { /* send close frame CloseCodeFor(err), err.Error() */ }
//	reason := c.Serve(conn, func(text []byte, refusedBefore int) (refused bool) {
//		_, err := c.Post(string(text)) // or c.Send(errorFragment)
//		return errors.Is(err, ErrRateLimited)
//	})
//	// Serve has called reg.Leave (which starts the grace period) and
//	// waited for the writer: close conn; reason says why it ended.
package chat

// Renderer turns room events into HTML frames; the handlers implement it
// with templ. chat calls each method once per event and queues the same
// bytes to every connection of the room, so a frame must not depend on who
// receives it.
//
// Every method but Snapshot is called with the room's lock held (that is
// what keeps every member's frames in the same order): it must be quick.
// Snapshot is called without it and may run concurrently with the other
// methods. No method may call back into the Registry, nor keep or modify
// the slices it is given after returning.
type Renderer interface {
	// Message renders a frame that appends one entry (text or notice) to
	// the room's message list.
	Message(room string, m Message) []byte
	// MemberJoined renders a frame that adds one member to the member list
	// and sets the member count.
	MemberJoined(room string, m Member, count int) []byte
	// MemberLeft renders a frame that removes one member from the member
	// list and sets the member count.
	MemberLeft(room string, m Member, count int) []byte
	// Snapshot renders the frame sent first on every (re)connect: it
	// replaces (not appends to) the message list and the member list.
	// history is oldest-first; members are in join order. The bytes are
	// shared by every joiner of the same room state; chat never modifies
	// them.
	Snapshot(room string, history []Message, members []Member) []byte
	// Update renders a frame that replaces one entry of the message list
	// in place (an edited or deleted message, or one no longer grouped
	// under a deleted one).
	Update(room string, m Message) []byte
	// Reactions renders a frame that replaces the reactions of one
	// message.
	Reactions(room string, m Message) []byte
	// Typing renders the room's typing line naming who types, in the
	// order they started: none (an empty line), one, two, or three and
	// more, which all read alike ("several people"), so chat renders one
	// frame for every view with three or more names (given the names of
	// the first such view). The names are those a view shows: chat leaves
	// each typer out of their own view.
	Typing(room string, names []string) []byte
	// Mentioned renders the notice a mentioned user gets in their other
	// rooms: it links to m and must not depend on who is mentioned.
	Mentioned(room string, m Message) []byte
}
