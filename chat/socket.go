package chat

import (
	"time"
	"unicode/utf8"
)

// Socket is what WritePump writes to; *websocket.Conn from
// github.com/fasthttp/websocket (and gorilla/websocket) satisfies it.
type Socket interface {
	SetWriteDeadline(t time.Time) error
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
}

// Websocket message types (RFC 6455, section 11.8), as the websocket
// packages number them.
const (
	TextMessage  = 1
	CloseMessage = 8
	PingMessage  = 9
)

// Websocket close codes (RFC 6455, section 7.4). The htmx ws extension
// reconnects on 1006, 1012 and 1013.
const (
	CloseNormal          = 1000
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseServiceRestart  = 1012 // sent to every connection by Registry.Close
	CloseTryAgainLater   = 1013 // sent to a connection evicted for a full queue
)

// shutdownReason is the close reason Registry.Close sends.
const shutdownReason = "Server restarting."

// WritePump is the connection's only writer; run it once, in its own
// goroutine, right after Join. It blocks until the client is closed. Each time frames
// are queued it writes all of them as ONE text message (the htmx ws
// extension swaps every top-level element of a message), with a WriteWait
// deadline on every write; it pings every PingPeriod. When the client is
// closed it writes the close frame (code and reason) and returns, dropping
// frames still queued. A failed write closes the client and returns at
// once. WritePump never closes the underlying connection: the handler does
// that after WritePump returns, and still calls Registry.Leave.
func (c *Client) WritePump(s Socket) {
	cfg := &c.reg.cfg
	ping := time.NewTicker(cfg.PingPeriod)
	defer ping.Stop()
	var batch [][]byte
	for {
		select {
		case <-c.wake:
			frames, closed := c.take(batch)
			if closed {
				c.writeClose(s)
				return
			}
			err := c.writeBatch(s, frames)
			clear(frames)      // don't pin sent frames while idle
			batch = frames[:0] // the spare for the next take
			if len(c.wake) == 0 {
				batch = c.shrink(batch) // idle for now
			}
			if err != nil {
				c.Close(0, "")
				return
			}
		case <-ping.C:
			if err := s.WriteControl(PingMessage, nil, time.Now().Add(cfg.WriteWait)); err != nil {
				c.Close(0, "")
				return
			}
		case <-c.done:
			c.writeClose(s)
			return
		}
	}
}

// writeBatch writes frames as one text message. A single frame is written
// as it is; several are joined in a pooled buffer (the socket copies what
// it is given before WriteMessage returns).
func (c *Client) writeBatch(s Socket, frames [][]byte) error {
	if len(frames) == 0 {
		return nil // a wake-up for frames an earlier take already wrote
	}
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
	if cap(buf) <= 64<<10 { // keep the pool's buffers modest
		*bp = buf
		c.reg.bufs.Put(bp)
	}
	return err
}

// writeClose sends the client's close frame, if it has one. Errors are
// ignored: the connection is finished either way.
func (c *Client) writeClose(s Socket) {
	code, reason := c.closeFrame()
	if code == 0 {
		return
	}
	deadline := time.Now().Add(c.reg.cfg.WriteWait)
	_ = s.WriteControl(CloseMessage, closePayload(code, reason), deadline)
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
