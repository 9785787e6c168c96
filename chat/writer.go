package chat

import (
	"errors"
	"net"
	"syscall"
	"time"
	"unicode/utf8"
)

// The writer of a connection: writePump, which Serve (socket.go) runs
// beside the reader.

// MaxWrite caps one websocket message the writer sends: frames queued
// together are joined into messages of at most this size, split at frame
// boundaries; a single larger frame (a big snapshot) goes alone.
const MaxWrite = 64 << 10

// writePump is the writer of a connection whose Socket is not a
// DirectSocket (the pool, pool.go, writes the others); Serve runs it in its own
// goroutine. It blocks until the client is closed. Each time frames are
// queued it writes them as text messages of at most MaxWrite bytes (the
// htmx ws extension swaps every top-level element of a message), with a
// WriteWait deadline on every write; it pings every PingPeriod. When the
// client is closed between writes it writes the close frame (code and
// reason) and returns, dropping frames still queued. A failed write closes
// the client and returns at once. An eviction lets a write in progress
// finish within its deadline (see evictLocked), then the close frame goes
// out within WriteWait of the eviction. writePump never closes the underlying connection. closeSent reports
// whether a close frame was written: if not, the connection is broken and
// Serve ends it at once rather than wait for the peer to answer a close.
func (c *Client) writePump(s socketWriter) (closeSent bool) {
	cfg := &c.reg.cfg
	ping := time.NewTicker(cfg.PingPeriod)
	defer ping.Stop()
	wake := make(chan struct{}, 1)
	wake <- struct{}{} // frames may be queued already
	c.mu.Lock()
	c.wake = wake
	c.mu.Unlock()
	var batch [][]byte
	for {
		select {
		case <-c.wake:
			frames, closed := c.take(batch)
			if closed {
				return c.writeClose(s)
			}
			if pong, ok := c.takePong(); ok {
				err := s.WriteControl(PongMessage, pong, time.Now().Add(cfg.WriteWait))
				if err != nil {
					c.fail(err)
					return false
				}
			}
			closed, err := c.writeBatch(s, frames)
			clear(frames)      // don't pin sent frames while idle
			batch = frames[:0] // the spare for the next take
			if len(c.wake) == 0 {
				batch = c.shrink(batch) // idle for now
			}
			switch {
			case err != nil:
				c.fail(err)
				return false
			case closed:
				return c.writeClose(s)
			}
		case <-ping.C:
			if !c.beginWrite() {
				continue // closed: c.done is ready
			}
			err := s.WriteControl(PingMessage, nil, time.Now().Add(cfg.WriteWait))
			c.endWrite(0)
			if err != nil {
				c.fail(err)
				return false
			}
		case <-c.done:
			return c.writeClose(s)
		}
	}
}

// fail closes the client after a failed write, without a close frame (the
// connection is broken), recording why: the write timed out, the peer had
// closed or reset the connection (a close frame may be unread behind it),
// or something else failed.
func (c *Client) fail(err error) {
	cause := EndWriteError
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		cause = EndWriteTimeout
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		cause = EndClientClosed
	}
	c.closeFor(cause, 0, "")
}

// writeBatch writes frames as text messages of at most MaxWrite bytes
// each. A message of one frame is written as it is; several are joined in
// a pooled buffer (the socket copies what it is given before WriteMessage
// returns). Each message's bytes are released once it is written. It
// stops with closed set if the client is closed between two messages.
func (c *Client) writeBatch(s socketWriter, frames [][]byte) (closed bool, err error) {
	for i := 0; i < len(frames); {
		j, n := i+1, len(frames[i])
		for j < len(frames) && n+len(frames[j]) <= MaxWrite {
			n += len(frames[j])
			j++
		}
		if !c.beginWrite() {
			return true, nil
		}
		err := c.writeMessage(s, frames[i:j])
		c.endWrite(n)
		if err != nil {
			return false, err
		}
		i = j
	}
	return false, nil
}

// writeMessage writes frames as one text message with a WriteWait deadline.
func (c *Client) writeMessage(s socketWriter, frames [][]byte) error {
	if err := s.SetWriteDeadline(time.Now().Add(c.reg.cfg.WriteWait)); err != nil {
		return err
	}
	if len(frames) == 1 {
		return s.WriteMessage(TextMessage, frames[0])
	}
	bp := c.reg.bufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, f := range frames {
		buf = append(buf, f...)
	}
	err := s.WriteMessage(TextMessage, buf)
	*bp = buf // joined up to MaxWrite: the pool's buffers stay modest
	c.reg.bufs.Put(bp)
	return err
}

// writeClose sends the client's close frame, if it has one, and reports
// whether it was written. The connection is finished either way.
func (c *Client) writeClose(s socketWriter) bool {
	code, reason := c.closeFrame()
	if code == 0 {
		return false
	}
	deadline := c.closeDeadline()
	return s.WriteControl(CloseMessage, closePayload(code, reason), deadline) == nil
}

// closePayload builds a close frame's body: the code as two big-endian
// bytes, then the reason, cut at a character boundary so the body fits the
// 125 bytes a control frame may carry.
func closePayload(code int, reason string) []byte {
	const maxReason = 125 - 2
	if len(reason) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	b := make([]byte, 2, 2+len(reason))
	b[0], b[1] = byte(code>>8), byte(code)
	return append(b, reason...)
}
