package chat

import (
	"slices"
	"sync/atomic"
	"time"
)

// Members and presence: joining, leaving and the grace period. Functions
// named ...Locked run with rm.mu held and take the registry lock only for
// bookkeeping, never around a render.

// Member is a user in a room. Members are users, not connections: two tabs
// of one user are one member.
type Member struct {
	ID   int64
	Name string
}

// member is a user in a room, with its connection count in that room.
type member struct {
	Member
	user  *user // the user's registry record; it outlives every member of that user
	conns int
	// While conns is 0 the member waits out the grace period: timer
	// removes it unless gen changed (a re-join bumps gen).
	timer *time.Timer
	gen   uint64
}

// Join adds one connection for member m to room slug, creating the room if
// needed (with Ensure's caps; a direct room's slug is never created here:
// ErrNoRoom). The check and the join are atomic: a room being destroyed is
// never joined; the joiner gets a fresh one. The returned Client has the
// Snapshot frame queued first. A member new to the room (or removed after
// the grace period) is announced to every connection, this one included,
// by a KindJoin notice and a MemberJoined frame; a second tab or a
// reconnect inside the grace period announces nothing and cancels the
// pending removal. session tags the connection for CloseSession and
// CloseUser. The caller must run c.Serve, which calls Leave when the
// connection ends.
func (r *Registry) Join(slug string, m Member, session string) (*Client, error) {
	return r.join(slug, m, session, nil, false)
}

// JoinPrivate is Join for the socket of a page that showed room slug as a
// private (or direct) room: it never creates the room. A room that does
// not exist, or that is not private (the private one ended and a public
// room of that name was opened since), is refused with ErrNoRoom, as a
// room that vanished is: after a restart, a private room's members must
// not bring it back as a public room that the lobby lists to everyone.
// The check and the join are atomic, as in Join.
func (r *Registry) JoinPrivate(slug string, m Member, session string) (*Client, error) {
	return r.join(slug, m, session, nil, true)
}

// join is Join, or JoinPrivate with private set; remote, if not nil,
// makes the connection JoinRemote's.
func (r *Registry) join(slug string, m Member, session string, remote *remoteConn, private bool) (*Client, error) {
	mode := forJoin
	if private {
		mode = forJoinExisting
	}
	for {
		rm, created, err := r.lookupOrCreate(slug, m, mode, nil)
		if err != nil {
			return nil, err
		}
		rm.mu.Lock()
		if created {
			if err := r.createdLocked(rm); err != nil {
				rm.mu.Unlock()
				return nil, err
			}
		}
		if rm.barredLocked(m.ID) || (private && !rm.dead && !rm.private) {
			rm.mu.Unlock()
			return nil, ErrNoRoom // as if the room did not exist
		}
		snap, tail, ok := r.snapshotLocked(rm) // may unlock and lock again
		if !ok {
			rm.mu.Unlock()
			continue // its last member left meanwhile: look again
		}
		c, err := r.joinLocked(rm, m, session, snap, tail, remote)
		if err != nil && created {
			r.armEmptyLocked(rm) // made for nothing: let it expire like Ensure's
		}
		rm.mu.Unlock()
		return c, err
	}
}

// joinLocked adds a connection for m to rm, which must be live. The new
// client gets snap and tail, the room as it is now, first; a member new to
// the room is announced to every connection, the new one included, after
// that snapshot.
func (r *Registry) joinLocked(rm *room, m Member, session string, snap []byte, tail [][]byte, remote *remoteConn) (*Client, error) {
	c := newClient(r, rm, m, session)
	if remote != nil {
		c.remote = true
		c.link, c.linkID = remote.link, remote.conn
	}
	mem := rm.members[m.ID]
	fresh := mem == nil
	u, err := r.admit(c, fresh)
	if err != nil {
		return nil, err
	}
	rm.stopEmptyTimer()
	// The snapshot was taken before a new member is added, so the
	// MemberJoined frame that follows does not list them twice.
	if r.enqueue(c, snap) == queued {
		r.count.snapshotBytes.Add(int64(len(snap)))
	}
	for _, f := range tail {
		r.enqueue(c, f)
	}
	r.sendTypingLocked(rm, c) // issue 13: the typing line is not in the snapshot
	rm.addClient(c)
	if !fresh {
		// Second tab, or back inside the grace period: nothing to announce.
		mem.stopTimer()
		mem.conns++
		return c, nil
	}
	mem = rm.addMember(m, u)
	mem.conns++
	r.announceJoinLocked(rm, m)
	return c, nil
}

// announceJoinLocked tells every connection of rm that m joined: a join
// notice and a MemberJoined frame.
func (r *Registry) announceJoinLocked(rm *room, m Member) {
	lazy := rm.presenceLocked()
	r.record(rm, KindJoin, m, "", r.cfg.Now(), r.render.MemberJoined(rm.slug, m, len(rm.members)))
	lazy.Store(false)
}

// presenceBatchMin is the room size from which presence frames may wait
// for company: in a room of n connections, n joins cost n² frames, and a
// storm of them would otherwise be written one message per join to every
// connection.
const presenceBatchMin = 32

// presenceLocked marks the fan-out about to happen as presence, which a
// connection written by the registry's writers may hold for up to
// PresenceInterval so that the presence frames of a join storm reach it
// as one message per interval, not one per join (any other frame queued
// meanwhile sends them at once, in order). Small rooms are written at
// once. The caller clears the returned flag after the fan-out. rm.mu
// must be held.
func (rm *room) presenceLocked() *atomic.Bool {
	if len(rm.clients) >= presenceBatchMin {
		rm.lazyFanout.Store(true)
	}
	return &rm.lazyFanout
}

// Leave closes c (code 1000 unless it was closed already) and removes it
// from its room. It is idempotent, and safe after eviction or a failed
// write. When c was its member's last connection, the member is removed
// after Grace (a re-join cancels that) with a KindLeave notice and a
// MemberLeft frame; if no member remains the room is destroyed then (a
// permanent room only loses its history).
func (r *Registry) Leave(c *Client) {
	if c == nil {
		return
	}
	c.Close(CloseNormal, "")
	rm := c.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	r.leaveLocked(rm, c)
}

// leaveLocked takes c out of rm (a no-op if it already left). When it was
// its member's last connection, the member leaves the typing line at once
// and is removed after Grace, or now if Grace is zero or the registry is
// closed.
func (r *Registry) leaveLocked(rm *room, c *Client) {
	if !c.joined {
		return
	}
	rm.removeClient(c)
	closed := r.forget(c)
	if rm.relay {
		return // no member: the room's owner has it (Relay)
	}
	mem := rm.members[c.member.ID]
	mem.conns--
	if mem.conns == 0 && !closed && rm.typing.stop(mem.ID) {
		r.fanoutTypingLocked(rm, nil) // nobody is left to type as them
	}
	switch {
	case mem.conns > 0:
	case closed:
		r.removeMemberLocked(rm, mem, false)
	case r.cfg.Grace == 0:
		r.removeMemberLocked(rm, mem, true)
	default:
		r.armGraceLocked(rm, mem)
	}
}

// armGraceLocked (re)starts mem's grace period: it is removed after Grace
// unless a join cancels that. With Grace zero it is removed at once.
func (r *Registry) armGraceLocked(rm *room, mem *member) {
	mem.stopTimer()
	if r.cfg.Grace == 0 {
		r.removeMemberLocked(rm, mem, !r.isClosed())
		return
	}
	gen, id := mem.gen, mem.ID
	mem.timer = time.AfterFunc(r.cfg.Grace, func() { r.expireMember(rm, id, gen) })
}

// expireMember is the grace timer of member id: it removes the member
// unless a re-join (or anything else) changed the member's generation.
func (r *Registry) expireMember(rm *room, id int64, gen uint64) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	mem := rm.members[id]
	if rm.dead || mem == nil || mem.gen != gen || mem.conns > 0 {
		return
	}
	mem.timer = nil
	r.removeMemberLocked(rm, mem, !r.isClosed())
}

// removeMemberLocked takes mem out of rm. If members remain and announce
// is set, they get a leave notice and a MemberLeft frame; if none remain
// the room is destroyed at once.
func (r *Registry) removeMemberLocked(rm *room, mem *member, announce bool) {
	rm.deleteMember(mem)
	r.releaseMembership(mem.ID)
	if len(rm.members) == 0 {
		r.destroyLocked(rm)
		return
	}
	if !announce {
		rm.resetDeltas() // a change no frame tells
		return
	}
	lazy := rm.presenceLocked()
	r.record(rm, KindLeave, mem.Member, "", r.cfg.Now(), r.render.MemberLeft(rm.slug, mem.Member, len(rm.members)))
	lazy.Store(false)
}

// memberList returns the members in join order. rm.mu must be held.
func (rm *room) memberList() []Member {
	out := make([]Member, len(rm.order))
	for i, mem := range rm.order {
		out[i] = mem.Member
	}
	return out
}

// addMember makes m a member. rm.mu must be held.
func (rm *room) addMember(m Member, u *user) *member {
	mem := &member{Member: m, user: u}
	rm.members[m.ID] = mem
	rm.order = append(rm.order, mem)
	rm.nmembers.Store(int32(len(rm.members)))
	rm.changed()
	return mem
}

// deleteMember forgets mem. rm.mu must be held.
func (rm *room) deleteMember(mem *member) {
	mem.stopTimer()
	delete(rm.members, mem.ID)
	if i := slices.Index(rm.order, mem); i >= 0 {
		rm.order = slices.Delete(rm.order, i, i+1)
	}
	rm.nmembers.Store(int32(len(rm.members)))
	rm.changed()
}

// stopTimer cancels a pending grace-period removal.
func (mem *member) stopTimer() {
	if mem.timer != nil {
		mem.timer.Stop()
		mem.timer = nil
	}
	mem.gen++
}
