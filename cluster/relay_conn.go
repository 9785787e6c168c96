package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The two ends of a relayed socket: RemoteSocket on the room's owner,
// Relayed on the node that serves the browser (relay.go).

// errRelayGone is what a RemoteSocket's reader returns once the relaying
// side ended the connection (chat counts it as the client closing).
var errRelayGone = errors.New("cluster: the relayed socket closed")

// errTooLarge ends a remote connection that sent more than its read
// limit; the relaying node checks the limit first, so it only comes from
// a node that does not.
var errTooLarge = errors.New("cluster: a relayed message passed the read limit")

// RemoteSocket is, on a room's owner, the socket of a member whose
// browser is connected to another node: chat's Socket (it has every
// method chat.Socket asks for), whose writes are published to that node
// and whose reads are what that node published. Close it once chat's
// Serve returned.
type RemoteSocket struct {
	relays *Relays
	id     string
	link   *Link // to the relaying node; everything written goes through it

	in   chan inbound  // from the relaying node: text frames and pongs
	wake chan struct{} // (capacity 1) the read deadline moved
	gone chan struct{} // closed once the relaying side ended, or Close
	once sync.Once

	mu       sync.Mutex
	deadline time.Time
	limit    int64
	onPong   func(string) error
}

// inbound is one message from the relaying node.
type inbound struct {
	op   string
	data []byte
}

// got takes a message from the relaying node; it runs on the
// subscription's goroutine and never blocks.
func (s *RemoteSocket) got(op string, data []byte) {
	switch op {
	case opText, opPong:
		select {
		case s.in <- inbound{op, data}:
		default:
			s.relays.log.Warn("NATS: a relayed socket sends faster than its room reads; dropped", "conn", s.id)
			// Told here: once ended, chat's own close frame is not sent.
			s.end()
			s.link.control(s.id, opClose, []byte(floodReason), closePolicyViolation)
		}
	case opClose:
		s.end()
	}
}

// end makes the reader stop; it reports whether this call did.
func (s *RemoteSocket) end() (ended bool) {
	s.once.Do(func() {
		close(s.gone)
		ended = true
	})
	return ended
}

// ReadMessage returns the next text frame from the browser, calling the
// pong handler for each pong on the way; it fails with
// os.ErrDeadlineExceeded (a timeout) at the read deadline, and once the
// relaying side ended the connection.
func (s *RemoteSocket) ReadMessage() (int, []byte, error) {
	for {
		s.mu.Lock()
		dl, limit, onPong := s.deadline, s.limit, s.onPong
		s.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		var m inbound
		var got bool
		select {
		case m = <-s.in:
			got = true
		case <-s.wake:
		case <-timeout:
		case <-s.gone:
			if t != nil {
				t.Stop()
			}
			return 0, nil, errRelayGone
		}
		if t != nil {
			t.Stop()
		}
		if got {
			if m.op == opPong {
				if onPong != nil {
					if err := onPong(string(m.data)); err != nil {
						return 0, nil, err
					}
				}
				continue
			}
			if limit > 0 && int64(len(m.data)) > limit {
				return 0, nil, errTooLarge
			}
			return textMessage, m.data, nil
		}
	}
}

// SetReadDeadline moves the read deadline, also under a reader waiting.
func (s *RemoteSocket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// SetReadLimit caps a text frame's size.
func (s *RemoteSocket) SetReadLimit(limit int64) {
	s.mu.Lock()
	s.limit = limit
	s.mu.Unlock()
}

// SetPongHandler sets what the reader calls for each pong.
func (s *RemoteSocket) SetPongHandler(h func(appData string) error) {
	s.mu.Lock()
	s.onPong = h
	s.mu.Unlock()
}

// SetWriteDeadline does nothing: a write waits for neither the link's
// publisher nor the peer (while NATS is away, the connection's buffer
// holds what is published).
func (s *RemoteSocket) SetWriteDeadline(time.Time) error { return nil }

// WriteMessage publishes a text message to the relaying node, through
// the link (a copy of data: it is published later).
func (s *RemoteSocket) WriteMessage(kind int, data []byte) error {
	if kind != textMessage {
		return errors.New("cluster: only text messages are relayed")
	}
	return s.publish(opText, data, 0)
}

// WriteControl publishes a ping, a pong or a close (its code and reason
// from the websocket close payload) to the relaying node.
func (s *RemoteSocket) WriteControl(kind int, data []byte, _ time.Time) error {
	switch kind {
	case pingMessage:
		return s.publish(opPing, data, 0)
	case pongMessage:
		return s.publish(opPong, data, 0)
	case closeMessage:
		code := 1005 // no code
		if len(data) >= 2 {
			code, data = int(binary.BigEndian.Uint16(data)), data[2:]
		}
		return s.publish(opClose, data, code)
	}
	return errors.New("cluster: unknown control message")
}

func (s *RemoteSocket) publish(op string, data []byte, code int) error {
	select {
	case <-s.gone:
		return errRelayGone
	default:
	}
	data = bytes.Clone(data) // published later, and the writer reuses its buffers
	if op == opText {
		s.link.Deliver(data, []string{s.id})
	} else {
		s.link.control(s.id, op, data, code)
	}
	return nil
}

// Link returns the link to the relaying node, which carries this socket's
// frames (and those of the node's other sockets) once per frame: chat's
// JoinRemote takes it, with ID.
func (s *RemoteSocket) Link() *Link { return s.link }

// ID names the socket on its link: the JoinRequest's Conn.
func (s *RemoteSocket) ID() string { return s.id }

// Close forgets the connection: chat's Serve returned. A message about it
// that comes later makes this node tell its sender to end it.
func (s *RemoteSocket) Close() error {
	s.end()
	s.relays.mu.Lock()
	if s.relays.remote[s.id] == s {
		delete(s.relays.remote, s.id)
		s.link.sockets--
	}
	s.relays.mu.Unlock()
	return nil
}

// Relayed is, on the node that serves a browser's socket, that socket's
// connection to the room's owner.
type Relayed struct {
	relays    *Relays
	id        string
	room      string
	ownerNode string // the owner's name
	owner     string // the owner's conn subject
	browser   Browser
	closed    atomic.Bool
	// epoch is the owner's process id, from its join answer ("" until
	// then, and from an owner that does not number its links). r.mu.
	epoch string
}

// got takes a message from the owner; it runs on the subscription's
// goroutine.
func (rl *Relayed) got(op string, data []byte, code string) {
	switch op {
	case opText:
		rl.browser.Frame(data)
	case opPing:
		_ = rl.publish(opPong, data, 0)
	case opClose:
		n, err := strconv.Atoi(code)
		if err != nil {
			n = 1005
		}
		if rl.forget() {
			rl.browser.Close(n, string(data))
			// Answered, as a browser answers a close frame, so that the
			// owner's reader ends now rather than after chat's CloseWait.
			_ = rl.publish(opClose, nil, n)
		}
	}
}

// Send publishes a text frame from the browser to the owner.
func (rl *Relayed) Send(text []byte) error {
	if rl.closed.Load() {
		return errRelayGone
	}
	return rl.publish(opText, text, 0)
}

// Close ends the connection on the owner's side (the browser went): the
// member leaves as from a socket closed there. It does not call
// browser.Close.
func (rl *Relayed) Close() {
	if rl.forget() {
		_ = rl.publish(opClose, nil, 1000)
	}
}

// forget takes the connection out of the relays' index; it reports
// whether this call did.
func (rl *Relayed) forget() bool {
	if rl.closed.Swap(true) {
		return false
	}
	rl.relays.mu.Lock()
	rl.relays.removeLocked(rl)
	rl.relays.mu.Unlock()
	return true
}

func (rl *Relayed) publish(op string, data []byte, code int) error {
	return rl.relays.publishReply(rl.owner, rl.id, op, data, code)
}

// publishReply is publish with this node's conn subject as the reply
// subject, so that a node that no longer knows the connection can tell
// this one to end it.
func (r *Relays) publishReply(subject, id, op string, data []byte, code int) error {
	m := natsMsg(subject, id, op, data, code)
	m.Reply = connSubject(r.node)
	return r.conn.nc.PublishMsg(m)
}
