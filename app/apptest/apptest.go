// Package apptest starts a real Natter for tests: the server app.New
// builds, on a free loopback port, with a SQLite file in a temp dir, a real
// SMTP server (mailtest) and a log the test can read. It is the one way
// tests of app, handlers and e2e start a server, so they run what main
// runs, wired the same way.
package apptest

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"natter/app"
	"natter/client"
	"natter/handlers"
	"natter/internal/testlog"
	"natter/mail"
	"natter/mail/mailtest"
	"natter/password"
)

// CheapHash makes a password hash take well under a millisecond.
func CheapHash() password.Params {
	return password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// sharedPolicy decompresses the common-password list once per test binary
// (it is read-only once built).
var sharedPolicy = sync.OnceValues(password.NewPolicy)

// Server is one running Natter. It stops when the test ends.
type Server struct {
	*app.Server
	t testing.TB
	// URL is http://<listen address>: where test clients connect, which is
	// the public BaseURL unless an option changed that.
	URL  string
	Log  *testlog.Buffer
	Mail *mailtest.Server
	// Config is the configuration the server was started with.
	Config app.Config

	tune app.Tuning
	logw io.Writer
	skew atomic.Int64
	stop func() error
}

// options are what Option may change before the server starts.
type options struct {
	cfg      app.Config
	tune     app.Tuning
	smtpDown bool
	logTo    io.Writer
}

// Option changes how Start builds the server.
type Option func(*options)

// Config edits the settings, as flags would.
func Config(edit func(*app.Config)) Option { return func(o *options) { edit(&o.cfg) } }

// Tune edits what no setting reaches (see app.Tuning).
func Tune(edit func(*app.Tuning)) Option { return func(o *options) { edit(&o.tune) } }

// Web edits the web layer's configuration after app.New has built it; its
// BaseURL is then http://localhost:<port> unless Config set one.
func Web(edit func(*handlers.Config)) Option {
	return func(o *options) {
		prev := o.tune.Web
		o.tune.Web = func(c *handlers.Config) {
			if prev != nil {
				prev(c)
			}
			edit(c)
		}
	}
}

// SMTPDown points the mailer at a port where nothing listens.
func SMTPDown() Option { return func(o *options) { o.smtpDown = true } }

// LogTo also copies the server's log to w.
func LogTo(w io.Writer) Option { return func(o *options) { o.logTo = w } }

// Start runs a server and stops it when the test ends. By default it logs
// at debug level, hashes passwords cheaply (four at once), and its mailer
// sends to Mail (connect and send timeouts 2 s and 5 s); the database's
// clock is the one AdvanceClock moves.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	smtp := mailtest.Start(t)
	o := options{cfg: app.DefaultConfig()}
	o.cfg.Addr = "127.0.0.1:0"
	o.cfg.DBPath = filepath.Join(t.TempDir(), "natter.db")
	o.cfg.LogLevel = "debug"
	o.cfg.SMTPHost, o.cfg.SMTPPort, o.cfg.SMTPTLS = smtp.Host(), smtp.Port(), mail.TLSNone
	o.cfg.SMTPConnectTimeout, o.cfg.SMTPSendTimeout = 2*time.Second, 5*time.Second
	hash := CheapHash()
	o.tune = app.Tuning{Hash: &hash, HashSlots: 4}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{t: t, Log: &testlog.Buffer{}, Mail: smtp, Config: o.cfg}
	s.logw = s.Log
	if o.logTo != nil {
		s.logw = io.MultiWriter(s.Log, o.logTo)
	}
	if o.tune.Policy == nil {
		policy, err := sharedPolicy()
		if err != nil {
			t.Fatal(err)
		}
		o.tune.Policy = policy
	}
	o.tune.Now = func() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }
	if o.smtpDown {
		s.Config.SMTPPort = mailtest.ClosedPort(t)
	}
	s.tune = o.tune
	s.serve()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// serve starts a server with s's configuration and makes it s's server.
func (s *Server) serve() {
	s.t.Helper()
	srv, err := app.NewTuned(context.Background(), s.Config, s.logw, s.tune)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	var serr error
	s.stop = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	s.Server, s.URL = srv, "http://"+srv.Addr()
}

// Stop stops the server as SIGTERM does and returns what Serve returned;
// the test's end stops it too.
func (s *Server) Stop() error { return s.stop() }

// Restart stops the server the way a deploy does (sockets closed with
// 1012) and starts a new one on the same address and database.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Errorf("serve: %v", err)
	}
	addr := s.Addr()
	s.Config.Addr = addr
	s.serve()
	if s.Addr() != addr {
		s.t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
}

// AdvanceClock moves the database's clock forward by d: expiry tests.
func (s *Server) AdvanceClock(d time.Duration) { s.skew.Add(int64(d)) }

// WaitLog waits until the log holds a line containing every one of parts,
// and returns it; after timeout it fails the test.
func (s *Server) WaitLog(timeout time.Duration, parts ...string) string {
	s.t.Helper()
	return s.Log.Wait(s.t, timeout, parts...)
}

// Password is the password of every account User registers.
const Password = "plum-kettle-orbit-42"

// Client returns a new visitor of the server with cookies of its own.
func (s *Server) Client() *client.Client {
	c, err := client.New(s.BaseURL())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// User registers name (as name@example.com, with Password) on a new
// client and returns it signed in.
func (s *Server) User(name string) *client.Client {
	s.t.Helper()
	c := s.Client()
	if err := c.Register(name, name+"@example.com", Password); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// SignIn signs name (made by User, perhaps on another node) in on a new
// client and returns it.
func (s *Server) SignIn(name string) *client.Client {
	s.t.Helper()
	c := s.Client()
	if err := c.Login(name, Password); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// Get fetches url with a plain HTTP client (no cookies, redirects
// followed) and returns the status, the headers and the body.
func Get(t testing.TB, url string) (status int, header http.Header, body string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// Dial opens a room socket, fails the test if it is refused, and closes it
// when the test ends.
func Dial(t testing.TB, c *client.Client, slug string) *client.Socket {
	t.Helper()
	return DialPath(t, c, "/rooms/"+slug+"/ws")
}

// DialPath is Dial of the socket at path, as a room page's ws-connect
// names it (a private room's carries ?private=1).
func DialPath(t testing.TB, c *client.Client, path string) *client.Socket {
	t.Helper()
	s, err := c.DialPath(path, nil)
	if err != nil {
		status := 0
		if s.Response != nil {
			status = s.Response.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
