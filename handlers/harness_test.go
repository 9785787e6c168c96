package handlers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"natter/assets"
	"natter/chat"
	"natter/client"
	"natter/db"
	"natter/mail"
	"natter/mail/mailtest"
	"natter/password"
)

// The one test harness of package handlers: a real Natter web layer on a
// loopback port, with a real SQLite file, a real SMTP server (mailtest),
// the real middleware chain, and a log the test can read.

// cheapParams make a hash take well under a millisecond.
var cheapParams = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// sharedPolicy decompresses the common-password list once per test binary.
var sharedPolicy = sync.OnceValues(password.NewPolicy)

// harness is one running server.
type harness struct {
	t    *testing.T
	URL  string // the base URL, http://127.0.0.1:port
	DB   *db.DB
	Mail *mailtest.Server
	Log  *logBuffer
	App  *App
	// Deps are the services the server runs on, for a second app.
	Deps Deps
	// skew moves the database clock (DB.Now) forward: expiry tests.
	skew atomic.Int64
}

// harnessConfig is what a test may change before the server starts.
type harnessConfig struct {
	web      Config // BaseURL is always the listen address
	params   password.Params
	smtpDown bool // point the mailer at a closed port
	// behindTLSProxy serves as https://<listen address>, trusting
	// X-Forwarded-Proto from 127.0.0.1 as a TLS-terminating proxy's.
	behindTLSProxy bool
	// hashSlots is how many passwords hash at once (default 4).
	hashSlots int
	// localhostBase sets the base URL to http://localhost:<port> while the
	// test clients use 127.0.0.1; anyLoopback is then the web Config's.
	localhostBase bool
	// chat edits the room registry's configuration (chat.DefaultConfig).
	chat func(*chat.Config)
}

// newHarness starts a server and stops it when the test ends.
func newHarness(t *testing.T, opts ...func(*harnessConfig)) *harness {
	t.Helper()
	hc := harnessConfig{params: cheapParams}
	// Tests that are not about it should not wait out the sign-in slowdown.
	hc.web.SlowdownStep, hc.web.SlowdownMax = time.Millisecond, time.Millisecond
	for _, o := range opts {
		o(&hc)
	}
	h := &harness{t: t, Log: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(h.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))

	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "natter.db"))
	if err != nil {
		t.Fatal(err)
	}
	d.Now = func() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }
	h.DB = d

	h.Mail = mailtest.Start(t)
	mcfg := mail.Config{
		Host: h.Mail.Host(), Port: h.Mail.Port(), TLS: mail.TLSNone,
		From:           "Natter <natter@localhost>",
		ConnectTimeout: 2 * time.Second, SendTimeout: 5 * time.Second,
		Retries: 2, Backoff: 10 * time.Millisecond,
	}
	if hc.smtpDown {
		mcfg.Port = closedPort(t)
	}
	mailer := mail.New(mcfg, log.With("component", "mail"))
	ccfg := chat.DefaultConfig()
	if hc.chat != nil {
		hc.chat(&ccfg)
	}
	rooms := chat.New(ccfg, Renderer())
	policy, err := sharedPolicy()
	if err != nil {
		t.Fatal(err)
	}
	static, err := assets.New()
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.URL = "http://" + ln.Addr().String()
	h.Deps = Deps{
		DB: d, Rooms: rooms, Mailer: mailer,
		Hasher: password.NewHasher(hc.params, cmp.Or(hc.hashSlots, 4)),
		Policy: policy, Assets: static, Log: log,
	}
	web := hc.web
	web.BaseURL = h.URL
	if hc.localhostBase {
		web.BaseURL = "http://localhost:" + strings.TrimPrefix(h.URL, "http://127.0.0.1:")
	}
	if hc.behindTLSProxy {
		web.BaseURL = "https://" + ln.Addr().String()
		web.TrustedProxies = []string{"127.0.0.1"}
	}
	h.App, err = New(web, h.Deps)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.App.Listener(ln) }()
	// Wait until it serves: a shutdown that wins the race against Listener
	// would leave Listener serving forever and the cleanup waiting for it.
	waitServing(t, h.URL+"/healthz")
	t.Cleanup(func() {
		rooms.Close()
		if err := h.App.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		h.App.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		mailer.Close(ctx)
		cancel()
		d.Close()
	})
	return h
}

// smtpDown points the server's mailer at a port where nothing listens.
func smtpDown(c *harnessConfig) { c.smtpDown = true }

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// client returns a new visitor with its own cookies.
func (h *harness) client() *client.Client {
	c, err := client.New(h.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// clientWithSession returns a visitor that presents the given session
// cookie, as a browser (or an attacker) holding it would.
func (h *harness) clientWithSession(id string) *client.Client {
	c := h.client()
	u, _ := url.Parse(h.URL)
	c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "natter_session", Value: id, Path: "/"}})
	return c
}

// signedUp registers a user on a new client and returns it signed in.
func (h *harness) signedUp(name, email, pw string) *client.Client {
	h.t.Helper()
	c := h.client()
	if err := c.Register(name, email, pw); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// sessionStored reports whether the session storage holds a row for id.
func (h *harness) sessionStored(id string) bool {
	h.t.Helper()
	var n int
	if err := h.DB.SQL.QueryRow(`SELECT count(*) FROM `+db.SessionTable+` WHERE k = ?`, id).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n == 1
}

// waitLog waits until the log holds a line containing every one of parts.
func (h *harness) waitLog(timeout time.Duration, parts ...string) string {
	h.t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(h.Log.String(), "\n") {
			if containsAll(line, parts...) {
				return line
			}
		}
		if time.Now().After(end) {
			h.t.Fatalf("no log line with %q within %v; log:\n%s", parts, timeout, h.Log.String())
		}
	}
}

// mailsTo counts the messages the SMTP server received for to.
func (h *harness) mailsTo(to string) int {
	n := 0
	for _, m := range h.Mail.Messages() {
		for _, r := range m.To {
			if r == to {
				n++
			}
		}
	}
	return n
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// logBuffer is a log destination that tests read while the server writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Request helpers that fail the test on transport errors.

func get(t *testing.T, c *client.Client, path string) *client.Response {
	t.Helper()
	res, err := c.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func post(t *testing.T, c *client.Client, path string, form url.Values) *client.Response {
	t.Helper()
	res, err := c.Post(path, form)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func submit(t *testing.T, c *client.Client, page, action string, values url.Values) *client.Response {
	t.Helper()
	res, err := c.Submit(page, action, values)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wantRedirect fails unless res is a 303 to location.
func wantRedirect(t *testing.T, res *client.Response, location string) {
	t.Helper()
	if res.Status != http.StatusSeeOther || res.Location != location {
		t.Fatalf("got %d to %q, want 303 to %q; body:\n%.600s", res.Status, res.Location, location, res.Body)
	}
}

// wantPage fails unless res has the status and its body every one of texts.
func wantPage(t *testing.T, res *client.Response, status int, texts ...string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d; body:\n%.2000s", res.Status, status, res.Body)
	}
	for _, s := range texts {
		if !strings.Contains(res.Body, s) {
			t.Errorf("body lacks %q:\n%.3000s", s, res.Body)
		}
	}
}

// signedInAs reports the user name a client's session belongs to ("" for
// a visitor), by asking for the lobby.
func signedInAs(t *testing.T, c *client.Client) string {
	t.Helper()
	res := get(t, c, "/rooms")
	if res.Status == http.StatusSeeOther {
		if res.Location != "/login?next=%2Frooms" {
			t.Fatalf("visitor sent to %q", res.Location)
		}
		return ""
	}
	if res.Status != http.StatusOK {
		t.Fatalf("GET /rooms: %d", res.Status)
	}
	return textOf(res.Body, func(n *html.Node) bool { return attr(n, "data-testid") == "current-user" })
}

// withoutCSRF blanks the page's CSRF token wherever it appears, so two
// pages can be compared byte for byte.
func withoutCSRF(body string) string {
	if tok := pageCSRF(body); tok != "" {
		body = strings.ReplaceAll(body, tok, "CSRF")
	}
	return body
}

// pageCSRF is the token of the page's htmx headers, which every page has,
// with or without a form.
func pageCSRF(body string) string {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return ""
	}
	var hx string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "body" {
			hx = attr(n, "hx-headers")
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	var headers map[string]string
	_ = json.Unmarshal([]byte(hx), &headers)
	return headers["X-Csrf-Token"]
}

// fieldError is the message shown next to field name, or "".
func fieldError(body, name string) string {
	return textOf(body, func(n *html.Node) bool { return attr(n, "data-error-for") == name })
}

// inputValue is the value the page fills into the input called name in the
// form posting to action.
func inputValue(t *testing.T, body, action, name string) string {
	t.Helper()
	vals, err := client.FormFields(body, action)
	if err != nil {
		t.Fatal(err)
	}
	return vals.Get(name)
}

func textOf(body string, match func(*html.Node) bool) string {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return ""
	}
	var found *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && match(n) {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		return ""
	}
	var sb strings.Builder
	var text func(*html.Node)
	text = func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			text(c)
		}
	}
	text(found)
	return strings.TrimSpace(sb.String())
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// waitServing polls url until it answers 200, for at most 10 s.
func waitServing(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("server at %s not serving within 10 s", url)
}
