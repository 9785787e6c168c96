package chat

import "time"

// ring is a room's history: its most recent entries, at most limit of
// them. It grows by append up to limit, so a quiet room holds only what it
// has, then overwrites the oldest entry in place, so a busy room never
// allocates again.
type ring struct {
	buf   []Message
	start int // index of the oldest entry; nonzero only once buf is full
	limit int
}

// push appends m, dropping the oldest entry when the ring is full.
func (h *ring) push(m Message) {
	if len(h.buf) < h.limit {
		h.buf = append(h.buf, m)
		return
	}
	h.buf[h.start] = m
	h.start = (h.start + 1) % h.limit
}

// last returns the newest entry, if any.
func (h *ring) last() (Message, bool) {
	if len(h.buf) == 0 {
		return Message{}, false
	}
	i := h.start - 1
	if i < 0 {
		i = len(h.buf) - 1
	}
	return h.buf[i], true
}

// slice returns a copy of the entries, oldest first.
func (h *ring) slice() []Message {
	out := make([]Message, 0, len(h.buf))
	out = append(out, h.buf[h.start:]...)
	return append(out, h.buf[:h.start]...)
}

// reset empties the ring and releases its memory.
func (h *ring) reset() {
	h.buf = nil
	h.start = 0
}

// record appends a history entry and returns it. rm.mu must be held.
func (rm *room) record(kind Kind, author Member, text string, now time.Time) Message {
	rm.seq++
	m := Message{Seq: rm.seq, Kind: kind, Author: author, Text: text, Sent: now}
	if prev, ok := rm.history.last(); ok && kind == KindText && prev.Kind == KindText &&
		prev.Author.ID == author.ID && now.Sub(prev.Sent) <= ContinueWithin {
		m.Continued = true
	}
	rm.history.push(m)
	return m
}
