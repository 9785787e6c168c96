package chat

import (
	"bytes"
	"time"
)

// Messages and history: posting, numbering and fan-out of room events.
// The history itself is a ring (ring.go).

// Kind says what a history entry is: a chat message or a presence notice.
type Kind uint8

// The kinds of history entries.
const (
	KindText  Kind = iota // a chat message a member posted
	KindJoin              // notice: a member joined the room
	KindLeave             // notice: a member left the room
)

// String returns the kind's name, for logs and tests.
func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindJoin:
		return "join"
	case KindLeave:
		return "leave"
	}
	return "unknown"
}

// ContinueWithin is how close in time two texts of one author must be for
// the second to be Continued (grouped under the first by the view).
const ContinueWithin = 5 * time.Minute

// Message is one entry in a room's history: a chat message or a presence
// notice.
type Message struct {
	// Seq numbers the room's entries from 1, strictly increasing, shared by
	// texts and notices. A destroyed room (or a permanent room that emptied)
	// starts again at 1.
	Seq  uint64
	Kind Kind
	// Author is the sender, or the member who joined or left.
	Author Member
	// Text is the message as posted; empty for notices.
	Text string
	Sent time.Time
	// Continued is set on a KindText entry whose previous history entry is
	// also a KindText of the same author, sent at most ContinueWithin
	// earlier: the view groups it under the previous one.
	Continued bool
}

// Post appends a text message from m to room slug and queues its frame to
// every connection of the room. Errors: ErrClosed, ErrNoRoom, ErrNotMember
// (m has no connection in the room and is not inside the grace period) and
// ErrRateLimited (m's bucket, shared across their connections and rooms, is
// empty). text is stored as given. It returns the stored Message.
func (r *Registry) Post(slug string, m Member, text string) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	return r.post(rm, m, text)
}

// Post appends text from the client's member to the client's room, as
// Registry.Post does for the room of this connection, without looking it
// up again by name. It is what a reader's onText calls; the errors are
// Registry.Post's.
func (c *Client) Post(text string) (Message, error) {
	if c.reg.isClosed() {
		return Message{}, ErrClosed
	}
	return c.reg.post(c.room, c.member, text)
}

// post is Post to room rm, once found.
func (r *Registry) post(rm *room, m Member, text string) (Message, error) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead {
		return Message{}, ErrNoRoom
	}
	mem := rm.members[m.ID]
	if mem == nil {
		return Message{}, ErrNotMember
	}
	now := r.cfg.Now()
	if !mem.user.limiter.AllowN(now, 1) {
		return Message{}, ErrRateLimited
	}
	return r.record(rm, KindText, mem.Member, text, now), nil
}

// PostVisitor appends a text message from m to room slug like Post, but m
// need not be a member: it serves posting without a socket (a browser
// without JavaScript, a script). So that everyone sees who wrote, a poster
// who is not a member becomes one with no connection, as if inside the
// grace period: announced by the usual KindJoin notice and MemberJoined
// frame before the message, and removed (with a leave notice) one Grace
// after their last such post unless they connect meanwhile. m's bucket is
// the one of their connections if they have any, else a visitor bucket of
// the same size that their connections take over.
func (r *Registry) PostVisitor(slug string, m Member, text string) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	limiter := r.visitorLimiter(m.ID)
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead || rm.barredLocked(m.ID) {
		return Message{}, ErrNoRoom
	}
	now := r.cfg.Now()
	if !limiter.AllowN(now, 1) {
		return Message{}, ErrRateLimited
	}
	mem := rm.members[m.ID]
	if mem == nil {
		u, err := r.holdMembership(m.ID)
		if err != nil {
			return Message{}, err
		}
		rm.stopEmptyTimer()
		mem = rm.addMember(m, u)
		r.announceJoinLocked(rm, m)
	}
	msg := r.record(rm, KindText, mem.Member, text, now)
	if mem.conns == 0 {
		r.armGraceLocked(rm, mem) // restarted by each post
	}
	return msg, nil
}

// next numbers a new history entry and works out whether it continues the
// previous one; the caller renders it and then records it with push, so
// that it is charged its rendered size. rm.mu must be held.
func (rm *room) next(kind Kind, author Member, text string, now time.Time) Message {
	rm.seq++
	m := Message{Seq: rm.seq, Kind: kind, Author: author, Text: text, Sent: now}
	if prev, ok := rm.history.last(); ok && kind == KindText && prev.Kind == KindText &&
		prev.Author.ID == author.ID && now.Sub(prev.Sent) <= ContinueWithin {
		m.Continued = true
	}
	return m
}

// record numbers, renders and stores a history entry and queues its frame,
// followed by extra frames (presence), to every connection. It returns
// the entry. rm.mu must be held.
func (r *Registry) record(rm *room, kind Kind, author Member, text string, now time.Time, extra ...[]byte) Message {
	m := rm.next(kind, author, text, now)
	frame := r.render.Message(rm.slug, m)
	rm.history.push(m, len(frame))
	rm.changed()
	if kind == KindText {
		r.count.posted.Add(1)
	}
	r.fanoutLocked(rm, append([][]byte{frame}, extra...)...)
	return m
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
	n := 0
	for _, c := range rm.clients {
		switch r.enqueue(c, frame) {
		case queued:
			n++
		case evicted:
			out = append(out, c)
		}
	}
	r.count.deliveries.Add(int64(n))
	for _, c := range out {
		r.leaveLocked(rm, c)
	}
}
