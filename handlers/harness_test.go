package handlers_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/net/html"

	"natter/app"
	"natter/app/apptest"
	"natter/chat"
	"natter/client"
	"natter/db"
	"natter/handlers"
	"natter/mail"
	"natter/password"
)

// The harness of the handlers tests: the server apptest.Start runs (the
// one main runs, on a loopback port, with a real SQLite file, a real SMTP
// server and a log the test can read), with the web layer's settings that
// no flag reaches set per test. The tests are in package handlers_test
// because apptest imports app, which imports handlers (an internal test
// importing apptest would be an import cycle); the few internals they need
// are in export_test.go. The unit tests of unexported functions that start
// no server (clientaddr_test.go, ratelimit_test.go, rooms_fuzz_test.go,
// render_bench_test.go) stay in package handlers.

// harness is one running server.
type harness struct {
	*apptest.Server
	t   *testing.T
	DB  *db.DB
	App *handlers.App
	// Deps are the services the server runs on, for a second app.
	Deps handlers.Deps
}

// harnessConfig is what a test may change before the server starts.
type harnessConfig struct {
	web      handlers.Config // BaseURL is always the listen address
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
	hc := harnessConfig{params: apptest.CheapHash()}
	// Tests that are not about it should not wait out the sign-in slowdown.
	hc.web.SlowdownStep, hc.web.SlowdownMax = time.Millisecond, time.Millisecond
	for _, o := range opts {
		o(&hc)
	}
	startOpts := []apptest.Option{
		apptest.Tune(func(tn *app.Tuning) {
			tn.Hash, tn.Chat = &hc.params, hc.chat
			if hc.hashSlots > 0 {
				tn.HashSlots = hc.hashSlots
			}
			// A mail that fails is retried once, at once.
			tn.Mail = func(c *mail.Config) { c.Retries, c.Backoff = 2, 10*time.Millisecond }
		}),
		// The web layer takes the test's settings whole; only the base URL
		// comes from the listen address app.New chose.
		apptest.Web(func(w *handlers.Config) {
			localhost := w.BaseURL // http://localhost:<port>
			port := strings.TrimPrefix(localhost, "http://localhost:")
			*w = hc.web
			w.BaseURL = "http://127.0.0.1:" + port
			if hc.localhostBase {
				w.BaseURL = localhost
			}
			if hc.behindTLSProxy {
				w.BaseURL = "https://127.0.0.1:" + port
				w.TrustedProxies = []string{"127.0.0.1"}
			}
		}),
	}
	if hc.smtpDown {
		startOpts = append(startOpts, apptest.SMTPDown())
	}
	s := apptest.Start(t, startOpts...)
	return &harness{Server: s, t: t, DB: s.DB(), App: s.Web(), Deps: s.Deps()}
}

// smtpDown points the server's mailer at a port where nothing listens.
func smtpDown(c *harnessConfig) { c.smtpDown = true }

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
	return h.WaitLog(timeout, parts...)
}

// mailsTo counts the messages the SMTP server received for to.
func (h *harness) mailsTo(to string) int { return h.Mail.Count(to) }

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

// wantClosed reads sock until it ends and fails the test unless the server
// closed it with code and text within 5 s.
func wantClosed(t *testing.T, sock *client.Socket, code int, text string) {
	t.Helper()
	start := time.Now()
	sock.SetReadDeadline(start.Add(5 * time.Second))
	for {
		_, _, err := sock.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Text != text {
			t.Fatalf("socket ended with %v after %v, want close %d %q", err, time.Since(start), code, text)
		}
		return
	}
}
