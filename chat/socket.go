package chat

import (
	"errors"
	"net"
	"sync"
	"time"
	"unicode/utf8"
)

// This file holds a connection's Socket, its codes and Serve with the
// reader; the writer, which Serve runs beside it, is in writer.go.

// Socket is a websocket connection, as Serve reads from and writes to it;
// *websocket.Conn from github.com/fasthttp/websocket (and
// gorilla/websocket) satisfies it.
type Socket interface {
	socketWriter
	ReadMessage() (messageType int, p []byte, err error)
	SetReadDeadline(t time.Time) error
	SetReadLimit(limit int64)
	SetPongHandler(h func(appData string) error)
}

// socketWriter is the half of a Socket that the writer uses.
type socketWriter interface {
	SetWriteDeadline(t time.Time) error
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
}

// ErrReadLimit is what a Socket's ReadMessage must return (or wrap) when an
// incoming message passes Config.MaxFrame; chat cannot know the websocket
// package's own error, so the handler translates it.
var ErrReadLimit = errors.New("websocket: read limit exceeded")

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
	CloseUnsupportedData = 1003 // sent by Serve on a binary frame
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseInternalError   = 1011 // sent by Serve when its onText panics
	CloseServiceRestart  = 1012 // sent to every connection by Registry.Close
	CloseTryAgainLater   = 1013 // sent to a connection evicted for a full queue
)

// CloseWait bounds writing a close frame on the way out, and is how long
// Serve then waits for the peer to answer it.
const CloseWait = time.Second

// floodLimit is how many messages in a row the rate limit may refuse
// before Serve closes the connection (1008) as a flood.
const floodLimit = 200

// Why a connection ended, as Serve returns it and the handler logs it.
const (
	// EndEvicted: the connection's queue passed QueueLimit or QueueBytes,
	// or its user's passed UserQueueBytes.
	EndEvicted = "evicted"
	// EndWriteTimeout: a write did not finish within WriteWait.
	EndWriteTimeout = "write timeout"
	// EndWriteError: a write failed otherwise than by a timeout or the
	// peer's closing the connection.
	EndWriteError = "write error"
	// EndShutdown: Registry.Close.
	EndShutdown = "shutdown"
	// EndMoved: the room moved to another node (Registry.Drop).
	EndMoved = "moved"
	// EndSignedOut: CloseSession or CloseUser (sign-out, an expired
	// session, a password change).
	EndSignedOut = "signed out"
	// EndRemoved: the room's owner or an admin removed the member
	// (Registry.Remove).
	EndRemoved = "removed"
	// EndClientClosed: the peer sent a close frame or closed the connection
	// (a write found it closed or reset).
	EndClientClosed = "client closed"
	// EndPingTimeout: nothing came, not even a pong, within PongWait.
	EndPingTimeout = "ping timeout"
	// EndFlood: the rate limit refused floodLimit messages in a row.
	EndFlood = "policy: flood"
	// EndBinary: the peer sent a binary frame.
	EndBinary = "policy: binary"
	// EndInvalid: the peer sent a text frame that is not UTF-8.
	EndInvalid = "policy: invalid utf-8"
	// EndTooLarge: the peer sent a message larger than MaxFrame.
	EndTooLarge = "policy: frame too large"
)

// Serve runs the connection: call it once, right after Join, in the
// handler's goroutine (under Fiber the handler must not return while the
// connection is in use). It reads until the connection fails or closes,
// while its writer writes the queued frames and the pings: the registry's
// writers if s is a DirectSocket (pool.go), else writePump in a goroutine
// of its own. Then it calls Registry.Leave, waits for the writer to finish
// and returns why the connection ended (an End... constant). It never
// closes s: the caller does that after Serve returns.
//
// Every text frame in valid UTF-8 goes to onText, in order, on Serve's
// goroutine, until the client is closed for sign-out or removal (see
// revoked); refusedBefore is how many frames in a row just before it the
// rate limit refused, and onText reports whether it refused this one
// (Post's ErrRateLimited): floodLimit in a row close the connection. A
// binary or invalid frame closes it with a policy code. If onText panics,
// the peer gets 1011 and the panic goes on up once the member has left
// and the writer has ended.
func (c *Client) Serve(s Socket, onText func(text []byte, refusedBefore int) (refused bool)) (reason string) {
	dl := &readDeadline{sock: s, wait: c.reg.cfg.PongWait}
	writerDone := make(chan struct{})
	end := func(closeSent bool) {
		if closeSent {
			// The close frame is out. Give the peer CloseWait to answer
			// it (so it sees our code, not 1006), then the reader gives up.
			dl.finish(CloseWait)
		} else {
			// No close frame could be written (a failed or abandoned
			// write): nothing to wait for, end the connection now.
			dl.finish(0)
		}
		close(writerDone)
	}
	if ds, ok := s.(DirectSocket); ok {
		// No writer goroutine: the registry's writers write it (pool.go).
		c.reg.attachDirect(c, ds, end)
	} else {
		go func() { end(c.writePump(s)) }()
	}
	returned := false
	defer func() {
		if !returned {
			c.Close(CloseInternalError, "Internal error.") // onText panicked
		}
		// What the registry or the writer saw first (an eviction, say)
		// explains the reader's error that followed.
		if cause := c.Cause(); cause != "" {
			reason = cause
		}
		c.reg.Leave(c)
		<-writerDone
		why := reason
		if why == "" {
			why = "error" // onText panicked: the handler logs the same word
		}
		c.reg.count.endedFor(why)
	}()
	reason = c.read(s, dl, onText)
	returned = true
	return reason
}

// read reads until the connection fails or closes and returns why.
func (c *Client) read(s Socket, dl *readDeadline, onText func([]byte, int) bool) string {
	s.SetReadLimit(int64(c.reg.cfg.MaxFrame))
	dl.extend()
	s.SetPongHandler(func(string) error { dl.extend(); return nil })
	refused := 0 // messages refused in a row by the rate limit
	for {
		kind, data, err := s.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return EndPingTimeout
			case errors.Is(err, ErrReadLimit):
				return EndTooLarge
			}
			return EndClientClosed
		}
		dl.extend()
		switch {
		case kind != TextMessage:
			c.Close(CloseUnsupportedData, "Only text frames are accepted.")
			return EndBinary
		case !utf8.Valid(data):
			c.Close(CloseInvalidPayload, "Frames must be valid UTF-8.")
			return EndInvalid
		}
		if c.revoked() {
			continue // read on for the peer's close, acting on nothing
		}
		if onText(data, refused) {
			refused++
		} else {
			refused = 0
		}
		if refused >= floodLimit {
			c.Close(ClosePolicyViolation, "Too many messages too fast.")
			return EndFlood
		}
	}
}

// revoked reports whether the client was closed because its member may
// no longer act through it: signed out, or removed from the room. The
// frames its peer sends before it answers the close are not acted on.
func (c *Client) revoked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause == EndSignedOut || c.cause == EndRemoved
}

// readDeadline moves the reader's deadline: PongWait ahead while the
// connection lives, and a last CloseWait (or none) once the writer has
// finished, which nothing extends.
type readDeadline struct {
	sock Socket
	wait time.Duration
	mu   sync.Mutex
	done bool
}

func (d *readDeadline) extend() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.done {
		_ = d.sock.SetReadDeadline(time.Now().Add(d.wait))
	}
}

func (d *readDeadline) finish(wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = true
	_ = d.sock.SetReadDeadline(time.Now().Add(wait))
}
