// Package app assembles Natter from its parts: it reads the configuration,
// opens the database, builds the room registry, the mailer and the web
// handlers, serves, and stops gracefully. main calls Run; tests call Run
// too, or New and Serve when they need to reach into the running server.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"time"

	"natter/assets"
	"natter/chat"
	"natter/cluster"
	"natter/db"
	"natter/handlers"
	"natter/mail"
	"natter/password"
)

// ErrHelp is returned by Run when -h asked for the usage text.
var ErrHelp = errors.New("help requested")

// shutdownWait bounds the graceful stop: in-flight requests get this long.
const shutdownWait = 10 * time.Second

// Run starts Natter with settings from args and getenv and serves until ctx
// is cancelled.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	s, err := New(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Server is a Natter ready to serve.
type Server struct {
	cfg Config
	log *slog.Logger
	db  *db.DB
	// local is the SQLite file that holds the mail outbox: db itself, or,
	// when the accounts are in PostgreSQL, this node's own file.
	local    *db.DB
	rooms    *chat.Registry
	mailer   *mail.Mailer
	hasher   *password.Hasher
	web      *handlers.App
	deps     handlers.Deps // what web runs on
	listener net.Listener
	// nats is the link to the other nodes, set when NATSURL is, and
	// shared shares the rooms through it.
	nats   *cluster.Conn
	shared *sharedRooms
	// metrics and metricsListener are set when MetricsAddr is.
	metrics         *metrics
	metricsListener net.Listener
}

// New opens the database, builds every part and binds the listen address.
// On error nothing is left open.
func New(ctx context.Context, cfg Config, stdout io.Writer) (*Server, error) {
	return NewTuned(ctx, cfg, stdout, Tuning{})
}

// Tuning changes what no setting reaches, for tests (see app/apptest):
// cheap password hashing, a database clock moved forward, limits small
// enough to reach. The zero Tuning is production's; every field is
// optional.
type Tuning struct {
	// Hash replaces password.DefaultParams, and HashSlots the number of
	// passwords hashed at once (GOMAXPROCS).
	Hash      *password.Params
	HashSlots int
	// Policy replaces a policy of New's own (its list of common passwords
	// takes a while to load: tests share one).
	Policy *password.Policy
	// Now replaces the database's clock.
	Now func() time.Time
	// Chat, Mail and Web edit the configuration of the room registry, the
	// mailer and the web layer once New has built it from Config.
	Chat func(*chat.Config)
	Mail func(*mail.Config)
	Web  func(*handlers.Config)
}

// NewTuned is New with parts tuned by tune.
func NewTuned(ctx context.Context, cfg Config, stdout io.Writer, tune Tuning) (_ *Server, err error) {
	// Every line says which node wrote it: with several, the logs are read together.
	s := &Server{cfg: cfg, log: newLogger(stdout, cfg.LogLevel, cfg.LogFormat, cfg.nodeName())}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	// Every connection costs a file descriptor: keep them below the limit
	// and, except for a trusted proxy, let no one address hold too many.
	maxConns := maxOpenConns()
	s.listener = newLimitListener(ln, s.log.With("component", "listener"), maxConns, maxConnsPerAddr, proxyPrefixes(cfg.trustedProxies()))
	if cfg.MetricsAddr != "" {
		if s.metricsListener, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("cannot listen on %s for metrics: %w", cfg.MetricsAddr, err)
		}
	}
	anyLoopback := cfg.BaseURL == ""
	if anyLoopback {
		cfg.BaseURL = defaultBaseURL(s.listener.Addr())
		s.cfg.BaseURL = cfg.BaseURL
	}
	if err = s.openDatabases(ctx); err != nil {
		return nil, err
	}
	if tune.Now != nil {
		s.db.Now, s.local.Now = tune.Now, tune.Now
	}
	mcfg := cfg.mailConfig()
	if tune.Mail != nil {
		tune.Mail(&mcfg)
	}
	if err = mcfg.Validate(); err != nil {
		return nil, err
	}
	// Queued mail waits in the database, so a restart does not lose it.
	ob, err := s.local.OpenOutbox(cfg.DBPath + "-mailkey")
	if err != nil {
		return nil, err
	}
	mcfg.Outbox = outbox{ob}
	s.mailer = mail.New(mcfg, s.log.With("component", "mail"))
	ccfg := cfg.chatConfig()
	if tune.Chat != nil {
		tune.Chat(&ccfg)
	}
	if err = s.connectCluster(ctx, &ccfg); err != nil {
		return nil, err
	}
	s.rooms = chat.New(ccfg, handlers.Renderer())
	users, err := s.joinCluster(ctx, ccfg)
	if err != nil {
		return nil, err
	}
	policy := tune.Policy
	if policy == nil {
		if policy, err = password.NewPolicy(); err != nil {
			return nil, err
		}
	}
	static, err := assets.New()
	if err != nil {
		return nil, err
	}
	hash, slots := password.DefaultParams(), runtime.GOMAXPROCS(0)
	if tune.Hash != nil {
		hash = *tune.Hash
	}
	if tune.HashSlots > 0 {
		slots = tune.HashSlots
	}
	s.hasher = password.NewHasher(hash, slots)
	var observe handlers.RequestObserver
	if s.metricsListener != nil {
		s.metrics = newMetrics(s)
		observe = s.metrics.observe
	}
	web := handlers.Config{
		BaseURL:        cfg.BaseURL,
		AnyLoopback:    anyLoopback,
		TrustedProxies: cfg.trustedProxies(),
	}
	if tune.Web != nil {
		tune.Web(&web)
		s.cfg.BaseURL = web.BaseURL
	}
	s.deps = handlers.Deps{
		DB:      s.db,
		Rooms:   s.rooms,
		Mailer:  s.mailer,
		Hasher:  s.hasher,
		Policy:  policy,
		Assets:  static,
		Log:     s.log,
		Observe: observe,
		Users:   users,
	}
	if s.nats != nil {
		s.deps.Cluster = s.nats
		s.deps.Shared = s.shared
	}
	s.web, err = handlers.New(web, s.deps)
	if err != nil {
		return nil, err
	}
	if s.shared != nil {
		s.shared.web.Store(s.web)
	}
	// The listener already holds connections under maxConns; Fiber's
	// worker cap (default 256 Ki) is set to match, so it never promises
	// more than the descriptors allow. Fiber reads it when serving starts.
	s.web.Server().Concurrency = maxConns
	return s, nil
}

// MetricsAddr is the address of the metrics listener, or "".
func (s *Server) MetricsAddr() string {
	if s.metricsListener == nil {
		return ""
	}
	return s.metricsListener.Addr().String()
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.listener.Addr().String() }

// BaseURL is the server's public URL.
func (s *Server) BaseURL() string { return s.cfg.BaseURL }

// Rooms is the live room registry.
func (s *Server) Rooms() *chat.Registry { return s.rooms }

// DB is the server's database.
func (s *Server) DB() *db.DB { return s.db }

// Web is the server's web layer.
func (s *Server) Web() *handlers.App { return s.web }

// Deps are the services the web layer runs on (tests build a second web
// layer on them).
func (s *Server) Deps() handlers.Deps { return s.deps }

// Serve answers requests until ctx is cancelled, then stops gracefully:
// sockets are told to reconnect (1012), requests in flight finish, the
// mailer sends what is due within closeAll's wait and leaves the rest in
// the database for the next start (a normal stop, so no error), and the
// database is closed cleanly.
func (s *Server) Serve(ctx context.Context) error {
	s.log.Info("natter listening", "addr", s.Addr(), "max_connections", s.web.Server().Concurrency, "base_url", s.cfg.BaseURL, "db", s.db.Name(), "smtp", s.cfg.smtpSummary())
	if s.cfg.SMTPHost == "" {
		s.log.Info("no SMTP server configured: mail (password reset links included) is printed to this log")
	}
	served := make(chan error, 1)
	go func() { served <- s.web.Listener(s.listener) }()
	metricsCtx, stopMetrics := context.WithCancel(context.Background())
	metricsDone := make(chan struct{})
	if s.metrics != nil {
		s.log.Info("metrics listening", "addr", s.metricsListener.Addr().String())
		go func() {
			defer close(metricsDone)
			if err := s.metrics.serve(metricsCtx, s.metricsListener); err != nil {
				s.log.Error("metrics listener failed", "err", err)
			}
		}()
	} else {
		close(metricsDone)
	}

	var err error
	select {
	case err = <-served:
		// The listener failed on its own.
	case <-ctx.Done():
		// Not ready from this moment: a proxy polling /readyz stops
		// sending new work while the requests and sockets here go on.
		s.web.Drain()
		if s.cfg.DrainDelay > 0 {
			s.log.Info("draining", "for", s.cfg.DrainDelay.String())
			time.Sleep(s.cfg.DrainDelay)
		}
		s.log.Info("shutting down")
		// Sockets first, so browsers reconnect to the next process; then
		// the HTTP server waits for the requests in flight.
		s.rooms.Close()
		err = s.web.ShutdownWithTimeout(shutdownWait)
		// A shutdown that came before the listener started serving would
		// leave it serving; closing it ends Listener either way.
		_ = s.listener.Close()
		<-served
	}
	stopMetrics()
	<-metricsDone
	if cerr := s.closeAll(); err == nil {
		err = cerr
	}
	s.log.Info("stopped")
	return err
}

// closeAll releases whatever New opened, in reverse order.
func (s *Server) closeAll() error {
	var errs []error
	if s.listener != nil && s.web == nil {
		errs = append(errs, s.listener.Close())
	}
	if s.metricsListener != nil && s.web == nil {
		errs = append(errs, s.metricsListener.Close())
	}
	if s.shared != nil {
		s.shared.close()
	}
	if s.rooms != nil {
		s.rooms.Close()
	}
	if s.web != nil {
		errs = append(errs, s.web.Close())
	}
	// The leases go once no socket is served here: the other nodes'
	// relayed sockets reconnect, and the rooms are taken over.
	if s.shared != nil && s.shared.owners != nil {
		// A lease not released (NATS away) expires by itself.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.shared.owners.Close(ctx); err != nil {
			s.log.Warn("NATS: the rooms' leases were not released; they expire", "err", err)
		}
		cancel()
	}
	// After the web layer: nothing publishes any more.
	if s.nats != nil {
		errs = append(errs, s.nats.Close())
	}
	if s.mailer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.mailer.Close(ctx))
		cancel()
	}
	if s.local != nil && s.local != s.db {
		errs = append(errs, s.local.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// openDatabases opens the SQLite file, or PostgreSQL for the accounts and
// the SQLite file for this node's mail outbox only: mail waits on the node
// that accepted it, sealed under that node's key file, which no other node
// has (see db.OpenOutbox).
func (s *Server) openDatabases(ctx context.Context) error {
	var err error
	if s.cfg.DatabaseURL == "" {
		s.db, err = db.Open(ctx, s.cfg.DBPath)
		s.local = s.db
		return err
	}
	if s.db, err = db.OpenPostgres(ctx, s.cfg.DatabaseURL); err != nil {
		return err
	}
	if s.local, err = db.Open(ctx, s.cfg.DBPath); err != nil {
		return err
	}
	// A file from the days of one node still holds its accounts, which
	// nobody copies to PostgreSQL by itself: say so rather than let them
	// seem lost.
	if n, err := s.local.CountUsers(ctx); err == nil && n > 0 {
		s.log.Warn("the SQLite file holds accounts that are not used: with NATTER_DATABASE_URL set, accounts are in PostgreSQL", "file", s.cfg.DBPath, "accounts", n)
	}
	s.log.Info("accounts in PostgreSQL; mail outbox in the SQLite file", "database", s.db.Name(), "outbox", s.cfg.DBPath)
	return nil
}

// outbox is the mailer's queue in the database. mail may not import db, so
// the two methods that carry a message convert between mail.Stored and
// db.OutboxMail (the same fields); the others are db's own.
type outbox struct{ *db.Outbox }

func (o outbox) AddMail(ctx context.Context, m mail.Stored, max int) (bool, error) {
	return o.Outbox.AddMail(ctx, db.OutboxMail(m), max)
}

func (o outbox) NextMail(ctx context.Context) (mail.Stored, bool, error) {
	m, ok, err := o.Outbox.NextMail(ctx)
	return mail.Stored(m), ok, err
}

// newLogger writes key=value lines, or JSON objects for a log collector,
// each ending with the node's name.
func newLogger(w io.Writer, level, format, node string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(nodeHandler{h, slog.String("node", node)})
}

// nodeHandler adds the node's name to every record, after the record's
// own attributes: a line reads as it did on one node, the node last.
// (slog's With would put it first, before the message's details.)
type nodeHandler struct {
	slog.Handler
	node slog.Attr
}

func (h nodeHandler) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.node)
	return h.Handler.Handle(ctx, r)
}

func (h nodeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return nodeHandler{h.Handler.WithAttrs(attrs), h.node}
}

func (h nodeHandler) WithGroup(name string) slog.Handler {
	return nodeHandler{h.Handler.WithGroup(name), h.node}
}
