package chat

import (
	"bytes"
	"time"

	"golang.org/x/time/rate"
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
	// also a KindText of the same author, not deleted, sent at most
	// ContinueWithin earlier: the view groups it under the previous one.
	Continued bool
	// Room is the slug of the room the entry belongs to.
	Room string
	// Edited is set once the author edited the text.
	Edited bool
	// Deleted is set when the message was deleted: its text, mentions
	// and reactions are gone, and the view shows a tombstone.
	Deleted bool
	// Reactions are the message's reactions, by emoji, in the order each
	// emoji was first used. A Message's slices are never modified once
	// it is stored: a change stores new ones, so a copy taken for a
	// snapshot stays as it was.
	Reactions []Reaction
	// Mentions are the users the text mentions (@name), as the handler
	// resolved them, each once.
	Mentions []Member
}

// Reaction is one emoji on a message and who chose it, in the order they
// did.
type Reaction struct {
	Emoji string
	By    []Member
}

// Post appends a text message from m to room slug and queues its frame to
// every connection of the room. Errors: ErrClosed, ErrNoRoom, ErrNotMember
// (m has no connection in the room and is not inside the grace period) and
// ErrRateLimited (m's bucket, shared across their connections and rooms, is
// empty). text is stored as given; mentions are the users it mentions, as
// the handler resolved them (see Message.Mentions): those with no
// connection in the room get a notice in their other rooms. The message
// ends its author's typing. It returns the stored Message.
func (r *Registry) Post(slug string, m Member, text string, mentions ...Member) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	return r.post(rm, m, r.bucket(m.ID), text, mentions)
}

// Post appends text from the client's member to the client's room, as
// Registry.Post does for the room of this connection, without looking it
// up again by name. It is what a reader's onText calls; the errors are
// Registry.Post's.
func (c *Client) Post(text string, mentions ...Member) (Message, error) {
	if c.reg.isClosed() {
		return Message{}, ErrClosed
	}
	var bucket *rate.Limiter
	if c.user != nil {
		bucket = c.user.limiter
	}
	return c.reg.post(c.room, c.member, bucket, text, mentions)
}

// post is Post to room rm, once found, charged to bucket: m's message
// bucket, found before the room's lock (nil: the registry keeps no record
// of m, who is then a member of no room). A member's record, and so their
// bucket, lives as long as the membership: it is the one rm holds.
//
// The token is taken before the room's lock: a post waiting there (behind
// a Store's Put, say) is charged when it came, not all at once with the
// others that waited. A post that is refused (not stored, or the room
// went while it waited) gives its token back: only what was sent counts.
func (r *Registry) post(rm *room, m Member, bucket *rate.Limiter, text string, mentions []Member) (Message, error) {
	if bucket == nil {
		return Message{}, ErrNotMember
	}
	return r.postCharged(rm, bucket, func() (Message, error) { return r.postLocked(rm, m, text, mentions) })
}

// postCharged takes a token from bucket, then runs send with rm locked:
// the post is charged when it came, before it waits for the lock, and
// given its token back if send refuses it. A post sent tells the users it
// mentions.
func (r *Registry) postCharged(rm *room, bucket *rate.Limiter, send func() (Message, error)) (Message, error) {
	if !bucket.AllowN(r.cfg.Now(), 1) {
		return Message{}, ErrRateLimited
	}
	rm.mu.Lock()
	msg, err := send()
	var n notice
	if err == nil {
		n = r.mentionNoticeLocked(rm, msg, nil)
	}
	rm.mu.Unlock()
	if err != nil {
		giveBack(bucket, r.cfg.Now())
		return Message{}, err
	}
	r.sendNotice(n)
	return msg, nil
}

// postLocked is post once the room is locked and the token taken.
func (r *Registry) postLocked(rm *room, m Member, text string, mentions []Member) (Message, error) {
	if rm.dead {
		return Message{}, ErrNoRoom
	}
	mem := rm.members[m.ID]
	if mem == nil {
		return Message{}, ErrNotMember
	}
	now := r.cfg.Now()
	return r.recordText(rm, mem.Member, text, mentions, now)
}

// recordText records a text message: like record, and the message's frame
// carries the typing line without its author when they were typing. With
// a Store, the message is stored first; if it cannot be, nothing is
// recorded and the number is given back (ErrNotStored).
func (r *Registry) recordText(rm *room, author Member, text string, mentions []Member, now time.Time) (Message, error) {
	m := rm.next(KindText, author, text, now)
	m.Mentions = mentions
	if err := r.storeLocked(rm, m); err != nil {
		rm.seq-- // nobody saw it
		return Message{}, err
	}
	frame := r.render.Message(rm.slug, m)
	rm.history.push(m, len(frame))
	rm.changed()
	r.count.posted.Add(1)
	if rm.typing.stop(author.ID) {
		r.fanoutTypingLocked(rm, frame)
	} else {
		r.fanoutLocked(rm, frame)
	}
	return m, nil
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
func (r *Registry) PostVisitor(slug string, m Member, text string, mentions ...Member) (Message, error) {
	return r.postVisitor(slug, m, false, text, mentions)
}

// postVisitor is PostVisitor, or PostVisitorPrivate when private.
func (r *Registry) postVisitor(slug string, m Member, private bool, text string, mentions []Member) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	return r.postCharged(rm, r.visitorLimiter(m.ID), func() (Message, error) {
		return r.postVisitorLocked(rm, m, private, text, mentions)
	})
}

// postVisitorLocked is postVisitor once the room is found and locked, and
// the token taken.
func (r *Registry) postVisitorLocked(rm *room, m Member, private bool, text string, mentions []Member) (Message, error) {
	if rm.dead || rm.barredLocked(m.ID) || (private && !rm.private) {
		return Message{}, ErrNoRoom
	}
	now := r.cfg.Now()
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
	msg, err := r.recordText(rm, mem.Member, text, mentions, now)
	if mem.conns == 0 {
		r.armGraceLocked(rm, mem) // restarted by each post, or attempt
	}
	return msg, err
}

// next numbers a new history entry and works out whether it continues the
// previous one; the caller renders it and then records it with push, so
// that it is charged its rendered size. rm.mu must be held.
func (rm *room) next(kind Kind, author Member, text string, now time.Time) Message {
	rm.seq++
	m := Message{Seq: rm.seq, Kind: kind, Author: author, Text: text, Sent: now, Room: rm.slug}
	if prev, ok := rm.history.last(); ok && kind == KindText && prev.Kind == KindText && !prev.Deleted &&
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
	// A notice is shown even if it could not be stored: what it tells
	// happened. A node taking the room over lacks it, no more.
	_ = r.storeLocked(rm, m)
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
	r.deliverLocked(rm, func(*Client) []byte { return frame })
}

// deliverLocked queues to every connection c of rm the frame pick(c)
// returns (the same bytes for all, but for the typing line, which leaves
// each typer out of their own), evicting those whose queue is full.
func (r *Registry) deliverLocked(rm *room, pick func(c *Client) []byte) {
	var out []*Client
	n := 0
	for _, c := range rm.clients {
		switch r.enqueue(c, pick(c)) {
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
