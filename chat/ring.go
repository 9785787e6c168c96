package chat

// ring is a room's history: its most recent entries, at most limit of
// them and at most maxBytes of rendered frames (each entry is charged the
// length of the frame the Renderer made of it, which is what a snapshot
// and the room page will hold again). The newest entry is always kept,
// whatever its size. Entries live in buf[head:]; dropping the oldest moves
// head, and the live part is copied down once head passes half of buf, so
// a busy room allocates only while it grows.
type ring struct {
	buf      []entry
	head     int // index of the oldest entry
	limit    int
	maxBytes int
	bytes    int // sum of the live entries' sizes
}

// entry is a history entry and the size of its rendered frame.
type entry struct {
	Message
	size int
	// reactSize is the part of size that its reactions' frame accounts
	// for: a change of reactions is charged by that frame alone, without
	// rendering the whole entry again.
	reactSize int
}

// push appends m, whose rendered frame is size bytes long, dropping the
// oldest entries while the ring holds more than limit entries or more than
// maxBytes.
func (h *ring) push(m Message, size int) {
	h.buf = append(h.buf, entry{Message: m, size: size})
	h.bytes += size
	for h.len() > h.limit || (h.bytes > h.maxBytes && h.len() > 1) {
		h.bytes -= h.buf[h.head].size
		h.buf[h.head] = entry{} // don't pin the text
		h.head++
	}
	if h.head > 0 && h.head >= len(h.buf)/2 {
		n := copy(h.buf, h.buf[h.head:])
		clear(h.buf[n:])
		h.buf = h.buf[:n]
		h.head = 0
	}
}

// find returns the index in buf of the entry numbered seq, or -1. Entries
// are in Seq order, so it is a binary search.
func (h *ring) find(seq uint64) int {
	live := h.buf[h.head:]
	i, j := 0, len(live)
	for i < j {
		k := int(uint(i+j) >> 1)
		if live[k].Seq < seq {
			i = k + 1
		} else {
			j = k
		}
	}
	if i < len(live) && live[i].Seq == seq {
		return h.head + i
	}
	return -1
}

// at returns the entry at index i of buf, as find gives it.
func (h *ring) at(i int) Message { return h.buf[i].Message }

// replace puts m in place of the entry at index i of buf and charges it
// size bytes, reactSize of which are its reactions' frame; then, like
// push, it drops the oldest entries while the ring holds more than
// maxBytes (the newest entry is always kept). It reports whether the
// entry at i is still there.
func (h *ring) replace(i int, m Message, size, reactSize int) bool {
	h.bytes += size - h.buf[i].size
	h.buf[i] = entry{m, size, reactSize}
	for h.bytes > h.maxBytes && h.len() > 1 {
		h.bytes -= h.buf[h.head].size
		h.buf[h.head] = entry{}
		h.head++
	}
	return i >= h.head
}

// sizes returns the sizes charged to the entry at index i of buf.
func (h *ring) sizes(i int) (size, reactSize int) { return h.buf[i].size, h.buf[i].reactSize }

// len returns how many entries the ring holds.
func (h *ring) len() int { return len(h.buf) - h.head }

// last returns the newest entry, if any.
func (h *ring) last() (Message, bool) {
	if h.len() == 0 {
		return Message{}, false
	}
	return h.buf[len(h.buf)-1].Message, true
}

// slice returns a copy of the entries, oldest first.
func (h *ring) slice() []Message {
	out := make([]Message, h.len())
	for i, e := range h.buf[h.head:] {
		out[i] = e.Message
	}
	return out
}

// reset empties the ring and releases its memory.
func (h *ring) reset() {
	h.buf = nil
	h.head = 0
	h.bytes = 0
}
