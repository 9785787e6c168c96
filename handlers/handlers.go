// Package handlers is Natter's web layer: every route, the middleware
// around them, form handling and the room socket. New builds the whole
// application from explicit dependencies; routes.go lists the routes.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
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
	base, _ := url.Parse(cfg.BaseURL)
	s := &server{cfg: cfg, Deps: d, base: base, secure: base.Scheme == "https"}
	s.origin = base.Scheme + "://" + base.Host
	s.resetLimit = newWindowLimit(5, time.Hour)
	s.resetIPLimit = newWindowLimit(30, time.Hour)

	s.store = d.DB.NewSessionStore(10 * time.Minute)
	s.sessions = newSessionStore(sessionStorage{s.store}, cfg.SessionIdle, s.secure)

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
		ProxyHeader:             proxyHeader(cfg.TrustedProxies),
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
	s.routes(app)

	ctx, cancel := context.WithCancel(context.Background())
	a := &App{App: app, srv: s, stop: cancel, done: make(chan struct{})}
	go s.sweep(ctx, a.done)
	return a, nil
}

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

func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

// server carries what the handlers share. Handlers are methods only where
// they need several of these; each still takes what it uses.
type server struct {
	Deps
	cfg      Config
	base     *url.URL
	origin   string // scheme://host of BaseURL, what browsers send as Origin
	secure   bool
	store    *db.SessionStore
	sessions *session.Store
	// resetLimit caps reset mails per address, resetIPLimit per client.
	resetLimit, resetIPLimit *windowLimit
	// background counts work started off the request path (reset mails),
	// which Close waits for before the database goes.
	background sync.WaitGroup
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
// from the store (expired, signed out, or ended by a password change).
func (s *server) closeEndedSessions() {
	for _, sid := range s.Rooms.Sessions() {
		v, err := s.store.Get(sid)
		if err != nil {
			s.Log.Error("check socket session", "err", err)
			return
		}
		if v == nil {
			s.Rooms.CloseSession(sid, closePolicy, "Your session has ended.")
		}
	}
}
