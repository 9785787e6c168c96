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
// # A socket's life
//
// The socket handler owns one reader (itself) and one writer (WritePump):
//
//	c, err := reg.Join(slug, member, sessionID)
//	if err != nil { /* send close frame CloseCodeFor(err), err.Error() */ }
//	done := make(chan struct{})
//	go func() {
//		wait := time.Duration(0) // no close frame went out: end now
//		if c.WritePump(conn) {
//			// Give the peer a moment to answer the close frame (closing
//			// the TCP connection at once could turn it into 1006).
//			wait = time.Second
//		}
//		conn.SetReadDeadline(time.Now().Add(wait)) // unblocks the reader
//		close(done)
//	}()
//	for { /* conn.ReadMessage, reg.Post(slug, member, text) or c.Send(errorFragment) */ }
//	reg.Leave(c) // closes c (so WritePump returns) and starts the grace period
//	<-done       // then close conn; only now may the handler return
//	// log c.Cause() (or why the reader stopped) as the reason it ended
package chat

import "time"

// Member is a user in a room. Members are users, not connections: two tabs
// of one user are one member.
type Member struct {
	ID   int64
	Name string
}

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

// RoomInfo is one line of the lobby.
type RoomInfo struct {
	Slug string
	// Members counts members, including those inside their grace period.
	Members   int
	Permanent bool
}

// Stats counts what the registry holds, for metrics, tests and leak checks.
// Once every client has left and every grace period has run out, every
// field is zero again.
type Stats struct {
	Rooms       int // live user rooms; permanent rooms are not counted
	Members     int // members of all rooms, pending ones included
	Pending     int // members whose last connection closed, waiting out the grace period
	Connections int // joined connections (Clients not yet passed to Leave)
	Users       int // per-user records: connection sets, rate limiters, rooms created
	Sessions    int // session tags with at least one connection
}

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
}
