package chat

import (
	"bytes"
	"time"
)

// This file holds the room-side steps of joining, leaving and fan-out.
// Every function here runs with rm.mu held and takes the registry lock only
// for bookkeeping, never around a render.

// joinLocked adds a connection for m to rm, which must be live. The new
// client gets snap and tail, the room as it is now, first; a member new to
// the room is announced to every connection, the new one included, after
// that snapshot.
func (r *Registry) joinLocked(rm *room, m Member, session string, snap []byte, tail [][]byte) (*Client, error) {
	c := newClient(r, rm, m, session)
	mem := rm.members[m.ID]
	fresh := mem == nil
	u, err := r.admit(c, fresh)
	if err != nil {
		return nil, err
	}
	rm.stopEmptyTimer()
	// The snapshot was taken before a new member is added, so the
	// MemberJoined frame that follows does not list them twice.
	r.enqueue(c, snap)
	for _, f := range tail {
		r.enqueue(c, f)
	}
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
	r.record(rm, KindJoin, m, "", r.cfg.Now(), r.render.MemberJoined(rm.slug, m, len(rm.members)))
}

// snapshotLocked returns what a joiner of rm gets first: a snapshot and
// the frames fanned out since it was rendered (tail), which together show
// the room as it is now. The snapshot of the room's current version is
// rendered once and shared. Rendering happens without the room lock, so a
// big history does not stall the room's posts; concurrent joiners wait
// for the one that renders instead of rendering too. A joiner whose
// render raced with the room (or who waited for one) gets that snapshot
// with the frames fanned out meanwhile, from the room's delta log; if the
// log no longer holds them all, it renders under the lock, so a joiner of
// a busy room is never starved. ok is false if the room died while
// unlocked. rm.mu must be held; it is held again on return.
func (r *Registry) snapshotLocked(rm *room) (snap []byte, tail [][]byte, ok bool) {
	raced := false
	for {
		if rm.dead {
			return nil, nil, false
		}
		if rm.snap != nil && rm.snapVer == rm.version {
			return rm.snap, nil, true
		}
		if raced {
			if rm.snap != nil {
				if tail, ok := rm.deltasSince(rm.snapVer); ok {
					return rm.snap, tail, true
				}
			}
			rm.snap, rm.snapVer = r.render.Snapshot(rm.slug, rm.history.slice(), rm.memberList()), rm.version
			return rm.snap, nil, true
		}
		raced = true
		if rm.rendering != nil {
			wait := rm.rendering // another joiner is rendering
			rm.mu.Unlock()
			<-wait
			rm.mu.Lock()
			continue
		}
		ver, history, members := rm.version, rm.history.slice(), rm.memberList()
		done := make(chan struct{})
		rm.rendering = done
		rm.mu.Unlock()
		snap := r.render.Snapshot(rm.slug, history, members)
		rm.mu.Lock()
		close(done)
		rm.rendering = nil
		if _, ok := rm.deltasSince(ver); ok && !rm.dead {
			rm.snap, rm.snapVer = snap, ver
		}
	}
}

// leaveLocked takes c out of rm (a no-op if it already left). When it was
// its member's last connection, the member is removed after Grace, or now
// if Grace is zero or the registry is closed.
func (r *Registry) leaveLocked(rm *room, c *Client) {
	if !c.joined {
		return
	}
	rm.removeClient(c)
	closed := r.forget(c)
	mem := rm.members[c.member.ID]
	mem.conns--
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

// armEmptyLocked starts the timer that destroys rm after Grace unless
// someone joins it first.
func (r *Registry) armEmptyLocked(rm *room) {
	if rm.permanent || rm.dead || len(rm.members) > 0 || rm.emptyTimer != nil {
		return
	}
	gen := rm.emptyGen
	rm.emptyTimer = time.AfterFunc(r.cfg.Grace, func() { r.expireEmpty(rm, gen) })
}

// expireEmpty is the timer of a room that nobody joined since it was
// created: it destroys the room if that is still so.
func (r *Registry) expireEmpty(rm *room, gen uint64) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead || rm.emptyGen != gen || len(rm.members) > 0 {
		return
	}
	r.destroyLocked(rm)
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
	r.record(rm, KindLeave, mem.Member, "", r.cfg.Now(), r.render.MemberLeft(rm.slug, mem.Member, len(rm.members)))
}

// destroyLocked ends an empty room: a user room leaves the registry (a
// joiner holding it will see dead and look again); a permanent room only
// loses its history. Calling it twice is harmless.
func (r *Registry) destroyLocked(rm *room) {
	if rm.permanent {
		rm.resetHistory()
		return
	}
	if rm.dead {
		return
	}
	rm.dead = true
	rm.stopEmptyTimer()
	rm.history.reset()
	r.dropRoom(rm)
}

// fanoutLocked queues frames, in order, to every connection of rm. Queueing
// never blocks; a connection whose queue is full is evicted (closed with
// 1013) and then removed from the room like a Leave, which may announce
// its member's departure with a nested fan-out.
func (r *Registry) fanoutLocked(rm *room, frames ...[]byte) {
	frame := frames[0]
	if len(frames) > 1 {
		// One queue entry per event: a join storm fills queues half as fast.
		frame = bytes.Join(frames, nil)
	}
	rm.logDelta(frame)
	var out []*Client
	for _, c := range rm.clients {
		if r.enqueue(c, frame) == evicted {
			out = append(out, c)
		}
	}
	for _, c := range out {
		r.leaveLocked(rm, c)
	}
}
