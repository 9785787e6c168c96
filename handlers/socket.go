package handlers

import (
	"encoding/json"
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/db"
	"natter/views"
)

// Socket timing. The writer (chat.Client.WritePump) pings every
// chat.Config.PingPeriod; the reader gives the peer pongWait to show life.
const (
	// pongWait is how long the reader waits for any frame or pong before
	// treating the peer as gone (a half-open connection).
	pongWait = 60 * time.Second
	// maxFrame caps one incoming frame: 2,000 characters of the worst case
	// (4 bytes each, doubled by JSON escaping) plus htmx's headers.
	maxFrame = 32 * 1024
	// floodLimit is how many messages in a row the rate limit may refuse
	// before the connection is closed (1008) as a flood.
	floodLimit = 200
	// closeWait bounds writing a close frame on the way out.
	closeWait = time.Second
)

const closePolicy = chat.ClosePolicyViolation

// socketGate admits an upgrade only for a signed-in user, a valid room and
// this site's own origin; everything else is refused before the 101.
func (s *server) socketGate(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.NewError(fiber.StatusUpgradeRequired, "This address is for the room's live connection.")
	}
	if !validSlug(c.Params("slug")) {
		return fiber.ErrNotFound
	}
	if origin := c.Get(fiber.HeaderOrigin); !s.originAllowed(origin) {
		s.Log.Warn("socket refused", "reason", "origin", "origin", origin, "ip", clientIP(c))
		return fiber.NewError(fiber.StatusForbidden, "Connections from other sites are refused.")
	}
	if currentUser(c) == nil {
		s.Log.Warn("socket refused", "reason", "not signed in", "ip", clientIP(c))
		return fiber.NewError(fiber.StatusUnauthorized, "Sign in first.")
	}
	return c.Next()
}

// roomSocket is the room's live connection: one reader (here) and one
// writer (the client's WritePump). It returns only after the writer ends,
// because Fiber reuses the connection object afterwards.
func (s *server) roomSocket() fiber.Handler {
	return websocket.New(s.serveSocket, websocket.Config{
		Origins:         s.origins,
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		// Idle sockets hold no write buffer: most of them write rarely.
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: false,
		RecoverHandler:    s.recoverSocket,
	})
}

// recoverSocket keeps a panic in one socket from taking the process down,
// and tells the client only that something failed (1011).
func (s *server) recoverSocket(conn *websocket.Conn) {
	if r := recover(); r != nil {
		s.Log.Error("socket panic", "panic", r)
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "Internal error."), time.Now().Add(closeWait))
	}
}

func (s *server) serveSocket(conn *websocket.Conn) {
	u, _ := conn.Locals(localUser).(*db.User)
	sid, _ := conn.Locals(localSessionID).(string)
	slug := conn.Params("slug")
	log := s.Log.With("user", u.ID, "room", slug, "ip", socketIP(conn), "origin", conn.Headers(fiber.HeaderOrigin))

	client, err := s.Rooms.Join(slug, chat.Member{ID: u.ID, Name: u.Username}, sid)
	if err != nil {
		log.Info("socket join refused", "err", err)
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(chat.CloseCodeFor(err), err.Error()), time.Now().Add(closeWait))
		return
	}
	log.Info("socket connected")
	dl := &readDeadline{conn: conn}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		if client.WritePump(conn.Conn) {
			// The close frame is out. Give the peer closeWait to answer
			// it (so it sees our code, not 1006), then the reader gives up.
			dl.finish(closeWait)
		} else {
			// No close frame could be written (a failed or abandoned
			// write): nothing to wait for, end the connection now.
			dl.finish(0)
		}
	}()
	reason := endError
	defer func() {
		// Even after a panic the member leaves and the writer ends before
		// Fiber takes the connection back; the client hears only 1011.
		if r := recover(); r != nil {
			log.Error("socket panic", "panic", r, "stack", string(debug.Stack()))
			client.Close(websocket.CloseInternalServerErr, "Internal error.")
		}
		// What the registry or the writer saw first (an eviction, say)
		// explains the reader's error that followed.
		if cause := client.Cause(); cause != "" {
			reason = cause
		}
		s.Rooms.Leave(client)
		<-writerDone
		log.Info("socket disconnected", "reason", reason)
	}()
	reason = s.readFrames(conn, client, dl)
}

// Why a socket ended, besides chat's End... causes: the reason attribute
// of the "socket disconnected" log line.
const (
	endClientClosed = "client closed" // the peer sent a close frame or closed the connection
	endPingTimeout  = "ping timeout"  // nothing, not even a pong, within pongWait
	endFlood        = "policy: flood"
	endBinary       = "policy: binary"
	endInvalid      = "policy: invalid utf-8"
	endTooLarge     = "policy: frame too large"
	endError        = "error" // a panic
)

// readFrames reads until the connection fails or closes and returns why.
func (s *server) readFrames(conn *websocket.Conn, client *chat.Client, dl *readDeadline) string {
	conn.SetReadLimit(maxFrame)
	dl.extend()
	conn.SetPongHandler(func(string) error { dl.extend(); return nil })
	refused := 0 // messages refused in a row by the rate limit
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return endPingTimeout
			case errors.Is(err, fws.ErrReadLimit):
				return endTooLarge
			}
			return endClientClosed
		}
		dl.extend()
		switch {
		case kind != websocket.TextMessage:
			client.Close(1003, "Only text frames are accepted.")
			return endBinary
		case !utf8.Valid(data):
			client.Close(chat.CloseInvalidPayload, "Frames must be valid UTF-8.")
			return endInvalid
		}
		if s.handleFrame(client, data, refused) {
			refused++
		} else {
			refused = 0
		}
		if refused >= floodLimit {
			client.Close(closePolicy, "Too many messages too fast.")
			return endFlood
		}
	}
}

// readDeadline moves the reader's deadline: pongWait ahead while the
// connection lives, and a last closeWait (or none) once the writer has
// finished, which nothing extends.
type readDeadline struct {
	conn *websocket.Conn
	mu   sync.Mutex
	done bool
}

func (d *readDeadline) extend() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.done {
		_ = d.conn.SetReadDeadline(time.Now().Add(pongWait))
	}
}

func (d *readDeadline) finish(wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = true
	_ = d.conn.SetReadDeadline(time.Now().Add(wait))
}

// wsFrame is what htmx's ws extension sends: the form's fields as JSON,
// plus HEADERS, which we ignore (the sender is the session's user).
type wsFrame struct {
	Message *string `json:"message"`
}

// handleFrame posts one message, or tells its sender why not. It reports
// whether the rate limit refused the message; only the first refusal in a
// row is answered, so a flood gets one error fragment, not one per frame.
func (s *server) handleFrame(client *chat.Client, data []byte, refusedBefore int) bool {
	var f wsFrame
	if err := json.Unmarshal(data, &f); err != nil || f.Message == nil {
		client.Send(renderBytes(views.MessageErrorFrame("This message could not be read; reload the page and try again.")))
		return false
	}
	text, problem := cleanMessage(*f.Message, s.cfg.MaxMessage)
	if problem != "" {
		client.Send(renderBytes(views.MessageErrorFrame(problem)))
		return false
	}
	if text == "" {
		return false
	}
	if _, err := s.Rooms.Post(client.Room(), client.Member(), text); err != nil {
		if errors.Is(err, chat.ErrRateLimited) {
			if refusedBefore == 0 {
				client.Send(renderBytes(views.MessageErrorFrame(err.Error())))
			}
			return true
		}
		if isChatError(err) {
			client.Send(renderBytes(views.MessageErrorFrame(err.Error())))
			return false
		}
		s.Log.Error("post message", "err", err, "room", client.Room())
		client.Send(renderBytes(views.MessageErrorFrame("The message could not be sent.")))
	}
	return false
}
