package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"natter/chat"
	"natter/db"
)

// socketGate admits an upgrade only for a signed-in user, a valid room and
// this site's own origin; everything else is refused before the 101.
func (s *server) socketGate(c *fiber.Ctx) error {
	if !fws.FastHTTPIsWebSocketUpgrade(c.Context()) {
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

// roomSocket is the room's live connection. The handshake goes through
// fasthttp/websocket's upgrader; the connection itself is then read and
// written by wsConn (socket_conn.go) over the TCP connection, not through
// the websocket package's Conn, whose buffers (and fasthttp's request
// and read buffer behind it) would live as long as the socket. Fiber
// keeps hijacked connections open (KeepHijackedConns, set in New), so
// the hijack handler returns once the member joined: fasthttp gets its
// request context back and the socket's goroutine (runSocket) starts
// with a small stack. chat writes the socket from its shared writers.
func (s *server) roomSocket() fiber.Handler {
	up := &fws.FastHTTPUpgrader{
		// The upgrader's own reader and writer are never used.
		ReadBufferSize:    16,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: false,
		// socketGate checked the origin against the site's.
		CheckOrigin: func(*fasthttp.RequestCtx) bool { return true },
	}
	return func(c *fiber.Ctx) error {
		u, _ := c.Locals(localUser).(*db.User)
		sid, _ := c.Locals(localSessionID).(string)
		info := socketInfo{
			member:  chat.Member{ID: u.ID, Name: u.Username},
			session: sid,
			slug:    c.Params("slug"),
			ip:      clientIP(c),
			origin:  c.Get(fiber.HeaderOrigin),
			private: c.Query("private") == "1",
		}
		if err := up.Upgrade(c.Context(), func(conn *fws.Conn) { s.serveSocket(conn.NetConn(), info) }); err != nil {
			return fiber.ErrUpgradeRequired
		}
		return nil
	}
}

// socketInfo is what a socket keeps of its upgrade request (the request
// itself goes back to fasthttp).
type socketInfo struct {
	member                    chat.Member
	session, slug, ip, origin string
	// private is the room page's hint (?private=1 on the socket's URL)
	// that it showed a private or direct room: the join then never
	// creates the room (chat.Registry.JoinPrivate), so that after a
	// restart, which ends every room, a private room's members are told
	// it no longer exists instead of bringing it back as a public room
	// listed to everyone. The hint comes from the client, and that is
	// safe: it can only make the server stricter (refuse a join it would
	// otherwise allow), never admit anyone or reveal anything; a client
	// that leaves it out gets the join of a public room's page, as
	// before, in which a private room bars whoever it does not admit.
	private bool
}

// log logs msg with the socket's attributes.
func (i *socketInfo) log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	if !log.Enabled(context.Background(), level) {
		return
	}
	log.Log(context.Background(), level, msg, append([]any{"user", i.member.ID, "room", i.slug, "ip", i.ip, "origin", i.origin}, args...)...)
}

// serveSocket runs in fasthttp's hijack goroutine, once the handshake is
// written: it takes the TCP connection from fasthttp's wrapper (with any
// bytes fasthttp read past the request), joins the member and hands the
// socket to runSocket, or refuses it with a close frame.
func (s *server) serveSocket(hijacked net.Conn, info socketInfo) {
	conn, pre := unwrapHijacked(hijacked)
	ws := &wsConn{conn: conn, pre: pre}
	handedOver := false
	defer func() {
		// A panic here (in Join) must not take the process down: the
		// client hears 1011, as from a panic while it is served.
		if r := recover(); r != nil {
			info.log(s.Log, slog.LevelError, "socket panic", "panic", r, "stack", string(debug.Stack()))
			_ = ws.WriteControl(chat.CloseMessage, fws.FormatCloseMessage(chat.CloseInternalError, "Internal error."), time.Now().Add(chat.CloseWait))
		}
		if !handedOver {
			_ = conn.Close()
		}
	}()
	var sock chat.Socket = ws
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			sock = directConn{ws, raw}
		}
	}
	client, onText, end, err := s.joinSocket(info)
	if err != nil {
		var refusal RelayRefusal
		if errors.As(err, &refusal) {
			code, reason := refusal.CloseCode()
			info.log(s.Log, slog.LevelInfo, "socket join refused by the room's owner", "code", code)
			_ = ws.WriteControl(chat.CloseMessage, fws.FormatCloseMessage(code, reason), time.Now().Add(chat.CloseWait))
			return
		}
		r := s.errorResponse(err)
		if r.logMsg != "" {
			info.log(s.Log, slog.LevelError, "socket join failed", "err", err)
		} else {
			info.log(s.Log, slog.LevelInfo, "socket join refused", "err", err)
		}
		_ = ws.WriteControl(chat.CloseMessage, fws.FormatCloseMessage(r.close, r.text), time.Now().Add(chat.CloseWait))
		return
	}
	ws.client = client
	info.log(s.Log, slog.LevelInfo, "socket connected")
	handedOver = true
	go s.runSocket(conn, sock, client, info, onText, end)
}

// errRoomsAway refuses a socket whose room's owner cannot be found or
// reached: the browser reconnects (1012) and tries again.
var errRoomsAway error = &chat.Error{Kind: chat.Unavailable, Msg: "Reconnecting to the other servers; try again in a moment."}

// relayWait bounds finding a room's owner and joining there.
const relayWait = 10 * time.Second

// joinSocket joins the member to the room: here if this node holds it (or
// one node only), else through a relay to the node that does. onText
// handles the browser's frames; end, if not nil, runs once the socket
// ended.
func (s *server) joinSocket(info socketInfo) (client *chat.Client, onText func([]byte, int) bool, end func(), err error) {
	owner := ""
	if s.Shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), relayWait)
		defer cancel()
		if owner, err = s.Shared.Claim(ctx, info.slug); err != nil {
			info.log(s.Log, slog.LevelWarn, "room claim failed", "err", err)
			return nil, nil, nil, errRoomsAway
		}
		if owner != "" {
			return s.relaySocket(ctx, info, owner)
		}
	}
	join := s.Rooms.Join
	if info.private {
		join = s.Rooms.JoinPrivate
	}
	if client, err = join(info.slug, info.member, info.session); err != nil {
		return nil, nil, nil, err
	}
	return client, func(text []byte, refusedBefore int) bool { return s.handleFrame(client, text, refusedBefore) }, nil, nil
}

// relaySocket joins the member to the room that node owner holds: a
// connection here in no room (Registry.Relay), its frames carried to and
// from the owner.
func (s *server) relaySocket(ctx context.Context, info socketInfo, owner string) (*chat.Client, func([]byte, int) bool, func(), error) {
	client, err := s.Rooms.Relay(info.slug, info.member, info.session)
	if err != nil {
		return nil, nil, nil, err
	}
	send, end, err := s.Shared.Relay(ctx, owner, info.slug, info.private, info.member, info.session, client)
	if err != nil {
		s.Rooms.Leave(client)
		var refusal RelayRefusal
		if !errors.As(err, &refusal) {
			info.log(s.Log, slog.LevelWarn, "socket relay failed", "owner", owner, "err", err)
			err = errRoomsAway
		}
		return nil, nil, nil, err
	}
	// A frame that could not be passed on counts as refused: a browser
	// typing on while the owner cannot be reached is closed as a flood.
	return client, func(text []byte, _ int) bool { return send(text) != nil }, end, nil
}

// runSocket is the socket's one goroutine: chat's Serve reads it until it
// ends, then the connection is closed.
func (s *server) runSocket(conn net.Conn, sock chat.Socket, client *chat.Client, info socketInfo, onText func([]byte, int) bool, end func()) {
	reason := endError
	defer func() {
		// Serve has made the member leave and waited for the writer (the
		// client heard 1011); here the panic is logged, not spread.
		if r := recover(); r != nil {
			info.log(s.Log, slog.LevelError, "socket panic", "panic", r, "stack", string(debug.Stack()))
			if cause := client.Cause(); cause != "" {
				reason = cause
			}
		}
		_ = conn.Close()
		if end != nil {
			end()
		}
		info.log(s.Log, slog.LevelInfo, "socket disconnected", "reason", reason)
	}()
	reason = client.Serve(sock, onText)
}

// unwrapHijacked returns the connection under fasthttp's hijacked wrapper
// and the bytes fasthttp had read past the handshake request (a client
// should send none before the 101, but nothing is lost if it did): with
// the read deadline in the past, the wrapper's reader returns what it
// buffered and then stops without reading the connection.
func unwrapHijacked(hijacked net.Conn) (net.Conn, []byte) {
	u, ok := hijacked.(interface{ UnsafeConn() net.Conn })
	if !ok {
		return hijacked, nil
	}
	conn := u.UnsafeConn()
	if err := conn.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return hijacked, nil
	}
	var pre []byte
	var b [512]byte
	for {
		n, err := hijacked.Read(b[:])
		pre = append(pre, b[:n]...)
		if err != nil || n == 0 {
			break
		}
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return hijacked, nil
	}
	return conn, pre
}

// endError is the reason logged for a socket whose handler panicked,
// besides chat's End... reasons.
const endError = "error"
