package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/fasthttp/websocket"
)

// The message mix (-mix): besides posts, a sender sends the other socket
// frames of issue 13 (docs/SPEC-13 in the notes): reactions to messages
// it saw lately, edits of its own recent messages and typing signals.
// Only posts are measured as deliveries; the others are counted as sent.

// Kinds of frames a sender sends.
const (
	kindPost = iota
	kindReact
	kindEdit
	kindTyping
	nKinds
)

var kindNames = [nKinds]string{"posts", "reactions", "edits", "typing"}

// mix is how many of every 100 frames are of each kind, spread evenly.
type mix struct {
	weights [nKinds]int
	pattern []uint8 // 100 kinds in sending order
}

// parseMix reads "posts=80,reactions=10,edits=5,typing=5" (weights in
// any unit; "" is posts only).
func parseMix(s string) (mix, error) {
	var m mix
	if s == "" {
		m.weights[kindPost] = 1
	}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || n < 0 || n > 1000 {
			return m, fmt.Errorf("bad -mix part %q: want KIND=WEIGHT", part)
		}
		found := false
		for i, name := range kindNames {
			if strings.TrimSpace(k) == name {
				m.weights[i], found = n, true
			}
		}
		if !found {
			return m, fmt.Errorf("bad -mix kind %q: one of posts, reactions, edits, typing", k)
		}
	}
	total := 0
	for _, w := range m.weights {
		total += w
	}
	if total == 0 {
		return m, fmt.Errorf("-mix %q sends nothing", s)
	}
	// Smooth weighted round robin over 100 slots: each kind's frames are
	// spread over the cycle rather than sent in runs.
	var cur [nKinds]int
	for range 100 {
		best := 0
		for i, w := range m.weights {
			cur[i] += w
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		m.pattern = append(m.pattern, uint8(best))
	}
	return m, nil
}

// String is the mix as given on the command line.
func (m mix) String() string {
	var parts []string
	for i, w := range m.weights {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", kindNames[i], w))
		}
	}
	return strings.Join(parts, ",")
}

// seqSeen is what a receiver learned of the room's message numbers: the
// last text message it saw, and the last one its own sender posted.
type seqSeen struct {
	last atomic.Uint64
	own  atomic.Uint64
}

var dataSeq = []byte(`data-seq="`)

// noteSeq records the seq of the message whose text starts at i in msg
// (the data-seq of the last <li> before it); own says it was this
// socket's sender's.
func (s *seqSeen) noteSeq(msg []byte, i int, own bool) {
	// The <li> opens at most a few hundred bytes before the text.
	from := max(0, i-2048)
	j := bytes.LastIndex(msg[from:i], dataSeq)
	if j < 0 {
		return
	}
	j += from
	seq, _, ok := readUint(msg[j+len(dataSeq):])
	if !ok {
		return
	}
	s.last.Store(seq)
	if own {
		s.own.Store(seq)
	}
}

// actionFrame is the JSON of a non-post frame of kind k, or nil when the
// sender knows no message to act on yet (then it posts instead).
func actionFrame(k int, seen *seqSeen, n int) []byte {
	h := `,"HEADERS":{"HX-Request":"true"}}`
	switch k {
	case kindReact:
		if seq := seen.last.Load(); seq > 0 {
			emoji := [...]string{"👍", "🎉", "👀"}[n%3]
			return []byte(`{"react":"` + strconv.FormatUint(seq, 10) + `","emoji":"` + emoji + `"` + h)
		}
	case kindEdit:
		if seq := seen.own.Load(); seq > 0 {
			return []byte(`{"edit":"` + strconv.FormatUint(seq, 10) + `","message":"edited ` + strconv.Itoa(n) + `"` + h)
		}
	case kindTyping:
		return []byte(`{"typing":"1"` + h)
	}
	return nil
}

// sendAction sends a non-post frame.
func sendAction(rc *receiver, frame []byte) error {
	return rc.sock.WriteMessage(websocket.TextMessage, frame)
}
