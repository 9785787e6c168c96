package cluster

import (
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Link is, on a room's owner, the way to one relaying node: everything the
// owner sends to that node's relayed sockets (frames, pings, pongs and
// closes) goes through it, in order, published by one goroutine that runs
// while there is something to send. It is chat's Link: a frame the room
// fans out to several of that node's sockets is given to Deliver once,
// with their ids, and published once (opFrames); the relaying node queues
// it to each of those browsers, whose own queue limits evict a slow one
// there. A frame for one socket is published as before (opText), and so
// is each copy of a frame for a node that did not say it takes opFrames
// (an older version, while the nodes are upgraded one by one).
//
// Nothing waits for the relaying node: a publish goes to the NATS
// connection's buffer. Should the frames waiting for the publisher pass
// linkBytes (the NATS server stopped reading, or the node produces more
// than the connection can carry), every socket of that node is closed
// with 1013, as chat closes a connection whose queue filled: its browser
// reconnects and catches up from a snapshot.
type Link struct {
	relays *Relays
	peer   string // the relaying node's conn subject
	// frames is set when the node's last join request said it takes
	// opFrames (JoinRequest.Frames).
	frames atomic.Bool
	// beats is set when the node's last join request said it checks the
	// link's numbers and wants heartbeats (relay_check.go).
	beats atomic.Bool
	// sent is the number of the last message published (by the
	// publisher only).
	sent atomic.Uint64
	// sockets counts the node's sockets in relays.remote (relays.mu).
	sockets int

	mu      sync.Mutex
	pushed  bool // something was queued since the last heartbeat check
	queue   []linkMsg
	bytes   int  // of the frames in queue
	running bool // the publisher runs
}

// linkMsg is one message to the relaying node, for one socket or several.
type linkMsg struct {
	conns []string
	op    string
	data  []byte
	code  int
}

// linkBytes bounds the bytes of frames waiting on one link (a variable for
// tests).
var linkBytes = 16 << 20

// opFrames is a text frame for several relayed sockets: the message's
// body holds their ids, then the frame (encodeFrames).
const opFrames = "frames"

// evictReason is the close reason of the sockets of a link that filled,
// as chat's for a connection whose queue filled.
const evictReason = "Too slow; reconnect to catch up."

const closeTryAgainLater = 1013

// linkFor returns the link to the node whose conn subject is peer, made
// the first time. r.mu must be held.
func (r *Relays) linkFor(peer string) *Link {
	l := r.links[peer]
	if l == nil {
		l = &Link{relays: r, peer: peer}
		r.links[peer] = l
	}
	return l
}

// Deliver publishes frame, once, for the relayed sockets conns of the
// link's node, after everything given to the link before. It never
// blocks. It keeps conns and frame, which nobody may modify.
func (l *Link) Deliver(frame []byte, conns []string) {
	if len(conns) == 0 {
		return
	}
	if !l.push(linkMsg{conns: conns, op: opText, data: frame}, true) {
		l.overflow()
	}
}

// control sends a ping, a pong or a close of socket id, after everything
// given to the link before. It is never refused: it is small, and a close
// must get through.
func (l *Link) control(id, op string, data []byte, code int) {
	l.push(linkMsg{conns: []string{id}, op: op, data: data, code: code}, false)
}

// push queues m and starts the publisher if it is not running. A frame
// (bounded) that would make the frames waiting pass linkBytes is refused.
func (l *Link) push(m linkMsg, bounded bool) bool {
	l.mu.Lock()
	if bounded {
		if l.bytes > 0 && l.bytes+len(m.data) > linkBytes {
			l.mu.Unlock()
			return false
		}
		l.bytes += len(m.data)
	}
	l.queue = append(l.queue, m)
	l.pushed = true
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		go l.publisher()
	}
	return true
}

// publisher publishes what is queued, in order, until nothing is.
func (l *Link) publisher() {
	var batch []linkMsg
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.running = false
			l.queue = nil // a burst's memory goes back
			l.mu.Unlock()
			return
		}
		batch, l.queue = l.queue, batch[:0]
		l.bytes = 0
		l.mu.Unlock()
		for i, m := range batch {
			if err := l.publish(m); err != nil {
				l.failed(m.conns, err)
			}
			batch[i] = linkMsg{} // don't pin sent frames
		}
		if cap(batch) > 1024 {
			batch = nil
		}
	}
}

// publish publishes m to the link's node, with this node's conn subject
// as the reply subject (publishReply).
func (l *Link) publish(m linkMsg) error {
	if m.op == opBeat {
		msg := nats.NewMsg(l.peer)
		msg.Header.Set(headerOp, opBeat)
		return l.send(msg)
	}
	if len(m.conns) == 1 || !l.frames.Load() {
		for _, id := range m.conns {
			if err := l.send(natsMsg(l.peer, id, m.op, m.data, m.code)); err != nil {
				return err
			}
		}
		return nil
	}
	msg := nats.NewMsg(l.peer)
	msg.Header.Set(headerOp, opFrames)
	msg.Data = encodeFrames(m.conns, m.data)
	return l.send(msg)
}

// send publishes msg, numbered on the link, with this node's conn subject
// as the reply subject (publishReply). A message that was not published
// keeps its number: the relaying node sees the gap.
func (l *Link) send(msg *nats.Msg) error {
	msg.Reply = connSubject(l.relays.node)
	if !l.relays.unnumbered.Load() {
		msg.Header.Set(headerLink, l.relays.epoch+" "+strconv.FormatUint(l.sent.Add(1), 10))
	}
	if l.relays.lose.Load() > 0 && l.relays.lose.Add(-1) >= 0 {
		return nil // lost on the way (tests: LoseLinkMessages)
	}
	return l.relays.conn.nc.PublishMsg(msg)
}

// failed ends, here, the sockets a message could not be published for
// (the NATS connection is closed, or its buffer full while it
// reconnects), as a failed write ends a browser's connection: their
// reader stops, and their members leave as from a socket closed. The
// relaying node is told to close them with 1012 (should the connection
// take that close), so that the browsers reconnect.
func (l *Link) failed(conns []string, err error) {
	l.relays.log.Warn("NATS: a relayed frame was not published; its sockets end", "sockets", len(conns), "err", err)
	ids := make(map[string]bool, len(conns))
	for _, id := range conns {
		ids[id] = true
	}
	l.endAll(func(s *RemoteSocket) bool { return ids[s.id] }, closeServiceRestart, reconnectReason)
}

// overflow closes every socket of the link's node with 1013, dropping
// what waited for the publisher but closes (the frames are those very
// sockets').
func (l *Link) overflow() {
	l.mu.Lock()
	kept := l.queue[:0]
	for _, m := range l.queue {
		if m.op == opClose {
			kept = append(kept, m)
		}
	}
	clear(l.queue[len(kept):])
	l.queue, l.bytes = kept, 0
	l.mu.Unlock()
	n := l.endAll(func(*RemoteSocket) bool { return true }, closeTryAgainLater, evictReason)
	l.relays.log.Warn("NATS: the frames for a relaying node waited past the limit; its sockets are closed", "subject", l.peer, "sockets", n)
}

// endAll ends the link's sockets that pick picks and that had not ended,
// and sends their node a close with code and reason for each, in place
// of chat's own close frame (which a socket that ended does not send).
// It returns how many it ended.
func (l *Link) endAll(pick func(*RemoteSocket) bool, code int, reason string) int {
	l.relays.mu.Lock()
	var picked []*RemoteSocket
	for _, s := range l.relays.remote {
		if s.link == l && pick(s) {
			picked = append(picked, s)
		}
	}
	l.relays.mu.Unlock()
	n := 0
	for _, s := range picked {
		if s.end() {
			l.control(s.id, opClose, []byte(reason), code)
			n++
		}
	}
	return n
}

// encodeFrames is the body of an opFrames message: the ids' common
// prefix, their count and the rest of each (every length an unsigned
// varint), then frame. A relaying node's ids share a long prefix
// (Relays.prefix), so each costs a few bytes.
func encodeFrames(conns []string, frame []byte) []byte {
	prefix := conns[0]
	for _, id := range conns[1:] {
		n := 0
		for n < len(prefix) && n < len(id) && prefix[n] == id[n] {
			n++
		}
		prefix = prefix[:n]
	}
	size := binary.MaxVarintLen64 * (2 + len(conns))
	size += len(prefix) + len(frame)
	for _, id := range conns {
		size += len(id) - len(prefix)
	}
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(prefix)))
	b = append(b, prefix...)
	b = binary.AppendUvarint(b, uint64(len(conns)))
	for _, id := range conns {
		b = binary.AppendUvarint(b, uint64(len(id)-len(prefix)))
		b = append(b, id[len(prefix):]...)
	}
	return append(b, frame...)
}

var errBadFrames = errors.New("cluster: a malformed frames message")

// decodeFrames is encodeFrames undone.
func decodeFrames(b []byte) (conns []string, frame []byte, err error) {
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, true
	}
	prefix, ok := field()
	if !ok {
		return nil, nil, errBadFrames
	}
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) { // each id takes a byte at least
		return nil, nil, errBadFrames
	}
	b = b[k:]
	conns = make([]string, 0, count)
	for range count {
		rest, ok := field()
		if !ok {
			return nil, nil, errBadFrames
		}
		conns = append(conns, string(prefix)+string(rest))
	}
	return conns, b, nil
}

// gotFrames queues a frame from an owner to the browsers of the relayed
// sockets it names; a socket this node does not know is closed on the
// owner's side, as for a single frame (gotConn).
func (r *Relays) gotFrames(m *nats.Msg) {
	conns, frame, err := decodeFrames(m.Data)
	if err != nil {
		r.log.Warn("NATS: a bad frames message", "err", err)
		return
	}
	known := make([]*Relayed, 0, len(conns))
	var unknown []string
	r.mu.Lock()
	for _, id := range conns {
		if rl := r.relayed[id]; rl != nil {
			known = append(known, rl)
		} else {
			unknown = append(unknown, id)
		}
	}
	r.mu.Unlock()
	for _, rl := range known {
		rl.got(opText, frame, "")
	}
	if m.Reply == "" {
		return
	}
	for _, id := range unknown {
		r.closeUnknown(m.Reply, id)
	}
}
