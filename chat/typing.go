package chat

import (
	"bytes"
	"strings"
	"time"
)

// The typing line: who in a room is typing. A member's signal (Typing)
// names them for Config.TypingExpiry; their next message, or the expiry,
// takes the name away. Every change is told to every connection at once,
// as a frame of its own or after the message that ended someone's typing;
// a typer's own connections get a variant without them. At most one
// broadcast per user per Config.TypingThrottle names them: a signal
// before that is absorbed. The line is not history: a joiner gets it
// after the snapshot (sendTypingLocked).

// typingState is a room's typing line. It is guarded by the room's mutex.
type typingState struct {
	typers []typer // in the order they started typing
	// named is when each user was last added to the line, for the
	// throttle; entries older than TypingThrottle are pruned.
	named map[int64]time.Time
	// timer takes expired typers off the line; gen makes a timer that
	// fires after a reset do nothing.
	timer *time.Timer
	gen   uint64
}

// typer is one name on the line and when it expires.
type typer struct {
	Member
	until time.Time
}

// index returns the position of user id on the line, or -1.
func (t *typingState) index(id int64) int {
	for i, ty := range t.typers {
		if ty.ID == id {
			return i
		}
	}
	return -1
}

// stop takes user id off the line and reports whether they were on it.
func (t *typingState) stop(id int64) bool {
	i := t.index(id)
	if i < 0 {
		return false
	}
	t.typers = append(t.typers[:i], t.typers[i+1:]...)
	return true
}

// reset empties the line and stops its timer (the room is destroyed).
func (t *typingState) reset() {
	if t.timer != nil {
		t.timer.Stop()
	}
	*t = typingState{gen: t.gen + 1}
}

// Typing says that member m types in room slug: see Client.Typing.
func (r *Registry) Typing(slug string, m Member) error {
	rm, err := r.lookup(slug)
	if err != nil {
		return err
	}
	return r.typing(rm, m)
}

// Typing says that the client's member is typing in its room: they are
// named on the others' typing line, and the line is told to every
// connection, unless they are named already (the expiry is pushed back)
// or were named less than TypingThrottle ago (the signal is absorbed).
// Errors: ErrClosed, ErrNoRoom, ErrNotMember and ErrTypingRateLimited
// (a flood of signals).
func (c *Client) Typing() error {
	if c.reg.isClosed() {
		return ErrClosed
	}
	return c.reg.typing(c.room, c.member)
}

func (r *Registry) typing(rm *room, m Member) error {
	now := r.cfg.Now()
	if !r.allowAction(m.ID, actTyping, now) {
		return ErrTypingRateLimited
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	switch {
	case rm.dead:
		return ErrNoRoom
	case rm.members[m.ID] == nil:
		return ErrNotMember
	}
	t := &rm.typing
	until := now.Add(r.cfg.TypingExpiry)
	if i := t.index(m.ID); i >= 0 {
		t.typers[i].until = until
		return nil
	}
	for id, at := range t.named {
		if now.Sub(at) >= r.cfg.TypingThrottle {
			delete(t.named, id)
		}
	}
	if _, recent := t.named[m.ID]; recent {
		return nil // absorbed: named less than TypingThrottle ago
	}
	if t.named == nil {
		t.named = make(map[int64]time.Time)
	}
	t.named[m.ID] = now
	t.typers = append(t.typers, typer{m, until})
	r.fanoutTypingLocked(rm, nil)
	r.armTypingLocked(rm, now)
	return nil
}

// armTypingLocked starts the timer that takes the first typer to expire
// off the line, unless one runs. rm.mu must be held.
func (r *Registry) armTypingLocked(rm *room, now time.Time) {
	t := &rm.typing
	if t.timer != nil || len(t.typers) == 0 || rm.dead {
		return
	}
	first := t.typers[0].until
	for _, ty := range t.typers[1:] {
		if ty.until.Before(first) {
			first = ty.until
		}
	}
	gen := t.gen
	t.timer = time.AfterFunc(max(first.Sub(now), 0), func() { r.expireTyping(rm, gen) })
}

// expireTyping is the typing line's timer: it takes the typers whose time
// ran out (by Config.Now) off the line, tells everyone, and arms the timer
// for the next.
func (r *Registry) expireTyping(rm *room, gen uint64) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	t := &rm.typing
	if rm.dead || t.gen != gen {
		return
	}
	t.timer = nil
	now := r.cfg.Now()
	kept := t.typers[:0]
	for _, ty := range t.typers {
		if now.Before(ty.until) {
			kept = append(kept, ty)
		}
	}
	if len(kept) != len(t.typers) {
		clear(t.typers[len(kept):])
		t.typers = kept
		r.fanoutTypingLocked(rm, nil)
	}
	r.armTypingLocked(rm, now)
}

// typingFrames renders the typing line as each connection of rm sees it:
// all for those who do not type, and for each typer a variant without
// them. Views with three names or more read alike and share one frame;
// so a change renders at most four frames. prefix (a message's frame, or
// nil) is put before every one of them.
func (r *Registry) typingFrames(rm *room, prefix []byte) (all []byte, own map[int64][]byte) {
	t := &rm.typing
	rendered := make(map[string][]byte, 4)
	frame := func(skip int64) []byte {
		names := make([]string, 0, len(t.typers))
		for _, ty := range t.typers {
			if ty.ID != skip {
				names = append(names, ty.Name)
			}
		}
		key := "several"
		if len(names) < 3 {
			key = strings.Join(names, "\x00") + "\x00" // "\x00" keeps "" apart from "several"
		}
		f, ok := rendered[key]
		if !ok {
			f = r.render.Typing(rm.slug, names)
			if prefix != nil {
				f = bytes.Join([][]byte{prefix, f}, nil)
			}
			rendered[key] = f
		}
		return f
	}
	all = frame(0)
	own = make(map[int64][]byte, len(t.typers))
	for _, ty := range t.typers {
		own[ty.ID] = frame(ty.ID)
	}
	return all, own
}

// fanoutTypingLocked tells every connection of rm the typing line, after
// prefix (the message that took its author off the line) if not nil. Only
// prefix, which changed the room, goes to the delta log: a joiner gets the
// line itself from sendTypingLocked.
func (r *Registry) fanoutTypingLocked(rm *room, prefix []byte) {
	all, own := r.typingFrames(rm, prefix)
	if prefix != nil {
		rm.logDelta(prefix)
	}
	r.deliverLocked(rm, func(c *Client) []byte {
		if f, ok := own[c.member.ID]; ok {
			return f
		}
		return all
	})
}

// sendTypingLocked queues the typing line, as c sees it, to a connection
// that just got its snapshot, if anyone is typing (the snapshot holds an
// empty line). rm.mu must be held.
func (r *Registry) sendTypingLocked(rm *room, c *Client) {
	if len(rm.typing.typers) == 0 {
		return
	}
	all, own := r.typingFrames(rm, nil)
	f, ok := own[c.member.ID]
	if !ok {
		f = all
	}
	r.enqueue(c, f)
}
