// Package handlers is Natter's web layer: every route, the middleware
// around them, form handling and the room socket. New builds the whole
// application from explicit dependencies; routes.go lists every route on
// one screen.
//
// Every route handler, and every middleware that uses a dependency, is a
// method on *server: nearly all of them need several of its parts (the
// database, the rooms, the session store, the logger, the settings), and
// one style means a reader finds each by its name after "s." in routes.go.
// Plain functions are left for what needs nothing of the server (noStore,
// requireUser) and for helpers.
//
// One concept, one file:
//
//	routes.go      every route
//	handlers.go    Config, Deps, New, the server and its background sweep
//	auth.go        sign-up, sign-in, sign-out
//	reset.go       the forgotten-password flow
//	account.go     the profile and password forms
//	admin.go       /admin: accounts, sign-up mode, invitations
//	rooms.go       the lobby, room pages and posting without a socket
//	private.go     private rooms' invitation links, removing members, direct messages
//	socket.go      the room's live connection
//	health.go      /healthz and /readyz
//	validate.go    form rules and message cleaning
//	mail.go        every mail Natter sends
//	errors.go      errors to responses (errorResponse) and the error pages
//	middleware.go  request logging, security headers, form pages, requireUser
//	csrf.go        the origin and CSRF checks
//	ratelimit.go   rate limits and the sign-in slowdown
//	session.go     sessions: sign-in state and CSRF tokens
//	storage.go     the session storage over the database
//	clientaddr.go  the client's address behind proxies
//	render.go      page layout data and the chat frame renderer
//	observe.go     request metrics
package handlers

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"

	"natter/assets"
	"natter/chat"
	"natter/db"
	"natter/mail"
	"natter/password"
)

// Config holds the settings the web layer needs.
type Config struct {
	// BaseURL is the public URL (scheme://host[:port]) of the server: reset
	// links, the socket origin check and secure cookies derive from it.
	BaseURL string
	// AnyLoopback accepts the loopback names of BaseURL's port (localhost,
	// 127.0.0.1 and [::1], over http) as this site too: set when no base
	// URL was configured, so that opening http://127.0.0.1:8080 works as
	// well as http://localhost:8080.
	AnyLoopback bool
	// TrustedProxies lists the reverse proxies whose X-Forwarded-* headers
	// are believed; empty trusts none.
	TrustedProxies []string
	// ResetTTL is how long a password reset link works.
	ResetTTL time.Duration
	// SessionIdle ends a session not used for this long; SessionAbsolute
	// ends any session this long after sign-in.
	SessionIdle, SessionAbsolute time.Duration
	// MaxMessage is the longest message, in characters.
	MaxMessage int
	// SessionCheck is how often open sockets are checked against their
	// sessions: a session that expired or was deleted elsewhere loses its
	// sockets within this time. Default 30 s.
	SessionCheck time.Duration
	// SlowdownStep and SlowdownMax set the account-wide sign-in slowdown
	// (see signInDelay): the first wait, doubling up to the longest.
	// Defaults 500 ms and 8 s.
	SlowdownStep, SlowdownMax time.Duration
	// VisitorSessions caps the stored sessions of visitors (not signed
	// in); beyond it the least recently saved are deleted. Default 10,000.
	VisitorSessions int
}

// Mailer queues mail for delivery off the request path.
type Mailer interface {
	Enqueue(m mail.Message) bool
}

// Deps are the services the handlers use.
type Deps struct {
	DB     *db.DB
	Rooms  *chat.Registry
	Mailer Mailer
	Hasher *password.Hasher
	Policy *password.Policy
	Assets *assets.Server
	Log    *slog.Logger
	// Observe, if set, is told of every finished request (metrics).
	Observe RequestObserver
	// Users, if set, reaches a user's sockets on every node (package
	// cluster); unset, Rooms's alone, which is all there is on one node.
	Users Users
	// Cluster, if set, is the node's link to the other nodes: /readyz
	// fails while it is down.
	Cluster Cluster
	// Shared, if set, reaches the rooms other nodes hold (shared.go).
	Shared Shared
}

// Users closes and notifies a user's sockets wherever they are: what the
// handlers do when sessions end or a notice is due goes through it, so
// that this node and the others act alike.
type Users interface {
	SendUser(id int64, frame []byte) int
	CloseUser(userID int64, keepSession string, code int, reason string)
	CloseSession(session string, code int, reason string)
}

// Cluster is the node's link to the other nodes.
type Cluster interface {
	// Ready returns nil while the link is up, else why it is not.
	Ready() error
}

// App is the built web application.
type App struct {
	*fiber.App
	srv  *server
	stop context.CancelFunc
	done chan struct{}
}

// New builds the application: middleware, sessions, routes and the
// background sweeper of expired rows.
func New(cfg Config, d Deps) (*App, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.ResetTTL == 0 {
		cfg.ResetTTL = time.Hour
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 14 * 24 * time.Hour
	}
	if cfg.SessionAbsolute == 0 {
		cfg.SessionAbsolute = 30 * 24 * time.Hour
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = 2000
	}
	if cfg.SessionCheck == 0 {
		cfg.SessionCheck = 30 * time.Second
	}
	if cfg.SlowdownStep == 0 {
		cfg.SlowdownStep = 500 * time.Millisecond
	}
	if cfg.SlowdownMax == 0 {
		cfg.SlowdownMax = 8 * time.Second
	}
	if cfg.VisitorSessions == 0 {
		cfg.VisitorSessions = 10000
	}
	if d.Users == nil {
		d.Users = d.Rooms
	}
	proxies, err := parseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL)
	s := &server{cfg: cfg, Deps: d, base: base, secure: base.Scheme == "https", proxies: proxies, mismatchSeen: map[string]bool{}}
	s.origin = strings.ToLower(base.Scheme + "://" + base.Host)
	s.origins = []string{s.origin}
	if cfg.AnyLoopback && base.Scheme == "http" {
		for _, host := range []string{"localhost", "127.0.0.1", "[::1]"} {
			o := "http://" + host
			if p := base.Port(); p != "" {
				o += ":" + p
			}
			if o != s.origin {
				s.origins = append(s.origins, o)
			}
		}
	}
	s.headers = s.securityHeaders()
	s.accountLimits()

	s.store = d.DB.NewSessionStore(10 * time.Minute)
	s.sessions = newSessionStore(&sessionStorage{Storage: s.store, db: d.DB, log: d.Log}, cfg.SessionIdle, s.secure)

	// Trusted proxies are believed for X-Forwarded-Proto. There is no
	// ProxyHeader, so c.IP() stays the peer: the client address comes from
	// clientAddr, which reads X-Forwarded-For without trusting the client.
	app := fiber.New(fiber.Config{
		AppName:                 "Natter",
		ErrorHandler:            s.errorHandler,
		BodyLimit:               64 * 1024,
		ReadTimeout:             30 * time.Second,
		WriteTimeout:            30 * time.Second,
		IdleTimeout:             120 * time.Second,
		DisableStartupMessage:   true,
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.TrustedProxies,
		// Socket connections are hijacked; fasthttp's per-connection buffers
		// stay allocated for their life, so keep them small.
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		// Strings from the request (form values, params, headers) outlive
		// the handler: room slugs and messages go into the registry, the
		// reset address into a goroutine, limiter keys into a map. Without
		// this they alias fasthttp's reused buffers and change under us.
		Immutable: true,
	})
	// Room sockets outlive their hijack handler (socket.go).
	app.Server().KeepHijackedConns = true
	s.routes(app)

	ctx, cancel := context.WithCancel(context.Background())
	a := &App{App: app, srv: s, stop: cancel, done: make(chan struct{})}
	go s.sweep(ctx, a.done)
	return a, nil
}

// Drain marks the node as stopping: /readyz answers 503 from now on, while
// everything else is served as before until the server shuts down.
func (a *App) Drain() { a.srv.draining.Store(true) }

// Close stops the background work and waits for it. Call it after the
// server has stopped serving and before the database closes.
func (a *App) Close() error {
	a.stop()
	<-a.done
	a.srv.background.Wait()
	return a.srv.store.Close()
}

func (c Config) check() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("handlers: BaseURL must be an absolute http(s) URL")
	}
	return nil
}

// server carries what the handlers share; the handlers are its methods.
type server struct {
	Deps
	cfg    Config
	base   *url.URL
	origin string // scheme://host of BaseURL, what browsers send as Origin
	// origins are the Origin values accepted as this site: origin, and its
	// loopback names when cfg.AnyLoopback.
	origins []string
	// headers are the security headers of every response.
	headers [][2]string
	// newVisitors counts the visitor sessions made, to pace trimVisitors.
	newVisitors atomic.Int64
	// mismatchSeen holds the wrong addresses already logged.
	mismatchMu   sync.Mutex
	mismatchSeen map[string]bool
	secure       bool
	proxies      []netip.Prefix // trusted reverse proxies (Config.TrustedProxies)
	store        *db.SessionStore
	sessions     *session.Store
	// resetLimit caps reset mails per address, resetIPLimit per client.
	resetLimit, resetIPLimit eventLimit
	// knownSignIns holds account@address of recent sign-ins (see
	// knownSignIn).
	knownSignIns recentKeys
	// loginFailures counts failed sign-ins per account from every address,
	// for the slowdown (see signInDelay).
	loginFailures eventLimit
	// shared counts the limits in the database when it is PostgreSQL
	// (see accountLimits); nil on SQLite.
	shared *sharedLimits
	// background counts work started off the request path (reset mails),
	// which Close waits for before the database goes.
	background sync.WaitGroup
	// draining is set when the server is stopping: /readyz fails.
	draining atomic.Bool
	// health is /healthz's last answer.
	health healthCheck
}

// link builds an absolute URL from the configured base, never from the
// request's Host header.
func (s *server) link(path string) string {
	return strings.TrimRight(s.cfg.BaseURL, "/") + path
}

// sweep deletes stale reset tokens and session links every few minutes,
// and closes the sockets of ended sessions.
func (s *server) sweep(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	check := time.NewTicker(s.cfg.SessionCheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			s.closeEndedSessions()
		case <-t.C:
			if n, err := s.DB.DeleteStaleResetTokens(ctx); err != nil {
				s.Log.Error("sweep reset tokens", "err", err)
			} else if n > 0 {
				s.Log.Info("swept reset tokens", "count", n)
			}
			if err := s.DB.DeleteOrphanSessionLinks(ctx); err != nil {
				s.Log.Error("sweep session links", "err", err)
			}
		}
	}
}

// closeEndedSessions closes, with 1008, every socket whose session is gone
// from the store (expired, signed out, or ended by a password change) or
// has passed its absolute lifetime, which the store's idle expiry alone
// would let a busy socket outlive.
func (s *server) closeEndedSessions() {
	for _, sid := range s.Rooms.Sessions() {
		v, err := s.store.Get(sid)
		if err != nil {
			s.Log.Error("check socket session", "err", err)
			return
		}
		if v == nil || s.pastLifetime(signedInAt(v)) {
			s.Rooms.CloseSession(sid, closePolicy, "Your session has ended.")
		}
	}
}

// signedInAt reads the sign-in time (keySignedIn) from a stored session,
// encoded as Fiber's session store encodes it; 0 (long past) when it
// cannot be read, so an unreadable session ends.
func signedInAt(stored []byte) int64 {
	var data map[string]any
	if err := gob.NewDecoder(bytes.NewReader(stored)).Decode(&data); err != nil {
		return 0
	}
	at, _ := data[keySignedIn].(int64)
	return at
}

// closePolicy closes a socket whose session ended or that broke a rule
// (1008): the page stops reconnecting and says why.
const closePolicy = chat.ClosePolicyViolation
