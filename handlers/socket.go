package handlers

import (
	"errors"
	"runtime/debug"
	"sync"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/db"
)

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
	if s.Rooms.Barred(c.Params("slug"), currentUser(c).ID) {
		// As for an invalid room: a private room shows nothing of itself.
		return fiber.ErrNotFound
	}
	return c.Next()
}

// roomSocket is the room's live connection, run by chat.Client.Serve
// (one reader, one writer). It returns only after the writer ends,
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
			websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "Internal error."), time.Now().Add(chat.CloseWait))
	}
}

func (s *server) serveSocket(conn *websocket.Conn) {
	u, _ := conn.Locals(localUser).(*db.User)
	sid, _ := conn.Locals(localSessionID).(string)
	slug := conn.Params("slug")
	log := s.Log.With("user", u.ID, "room", slug, "ip", socketIP(conn), "origin", conn.Headers(fiber.HeaderOrigin))

	client, err := s.Rooms.Join(slug, chat.Member{ID: u.ID, Name: u.Username}, sid)
	if err != nil {
		r := s.errorResponse(err)
		if r.logMsg != "" {
			log.Error("socket join failed", "err", err)
		} else {
			log.Info("socket join refused", "err", err)
		}
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(r.close, r.text), time.Now().Add(chat.CloseWait))
		return
	}
	log.Info("socket connected")
	reason := endError
	defer func() {
		// Serve has made the member leave and waited for the writer (the
		// client heard 1011); here the panic is logged, not spread.
		if r := recover(); r != nil {
			log.Error("socket panic", "panic", r, "stack", string(debug.Stack()))
			if cause := client.Cause(); cause != "" {
				reason = cause
			}
		}
		log.Info("socket disconnected", "reason", reason)
	}()
	reason = client.Serve(socket{conn.Conn}, func(text []byte, refusedBefore int) bool {
		return s.handleFrame(client, text, refusedBefore)
	})
}

// endError is the reason logged for a socket whose handler panicked,
// besides chat's End... reasons.
const endError = "error"

// socket is the connection as chat reads it: the websocket, with its read
// limit's error told in chat's terms (chat does not import the websocket
// package).
type socket struct{ *fws.Conn }

// ReadMessage is the websocket's, with fws.ErrReadLimit as chat.ErrReadLimit.
func (s socket) ReadMessage() (int, []byte, error) {
	kind, data, err := s.Conn.ReadMessage()
	if errors.Is(err, fws.ErrReadLimit) {
		err = chat.ErrReadLimit
	}
	return kind, data, err
}
