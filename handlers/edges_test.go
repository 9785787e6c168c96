package handlers_test

import (
	"bufio"
	"bytes"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"natter/client"
	"natter/db"
)

// sessionRows counts the rows of the session storage.
func (h *harness) sessionRows() int {
	h.t.Helper()
	var n int
	if err := h.DB.SQL.QueryRow(`SELECT count(*) FROM ` + db.SessionTable).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// cookieless GETs path n times, each as a new visitor with no cookie.
func cookieless(t *testing.T, h *harness, path string, n int, status int) {
	t.Helper()
	for i := 0; i < n; i++ {
		res, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != status {
			t.Fatalf("GET %s: status %d, want %d", path, res.StatusCode, status)
		}
		if sc := res.Header.Values("Set-Cookie"); len(sc) > 0 {
			t.Fatalf("GET %s set cookies %q", path, sc)
		}
	}
}

// Requests without a cookie to pages without a form store no session:
// 404s, the landing page, assets, /healthz and redirects.
func TestCookielessRequestsStoreNoSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sessionRows()
	cookieless(t, h, "/no/such/page", 200, http.StatusNotFound)
	cookieless(t, h, "/", 200, http.StatusOK)
	cookieless(t, h, "/assets/none.css", 5, http.StatusNotFound)
	cookieless(t, h, "/healthz", 5, http.StatusOK)
	cookieless(t, h, "/password/reset/bogus", 5, http.StatusBadRequest)
	if got := h.sessionRows(); got != before {
		t.Errorf("session rows %d after cookieless GETs, want %d", got, before)
	}
	// A redirect to sign in stores nothing either.
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(h.URL + "/rooms")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || h.sessionRows() != before {
		t.Errorf("GET /rooms: status %d, rows %d, want 303 and %d rows", res.StatusCode, h.sessionRows(), before)
	}
	// The sign-in page has a form: it makes one, and signing in works.
	h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	if err := h.client().Login("alice", "plum-kettle-orbit-42"); err != nil {
		t.Fatal(err)
	}
}

// Visitors' sessions are capped: beyond the cap the least recently saved
// go, signed-in sessions stay, and the newest visitor still signs in.
func TestVisitorSessionsAreCapped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *harnessConfig) { c.web.VisitorSessions = 5 })
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	first := h.client()
	get(t, first, "/login")
	for i := 0; i < 30; i++ {
		get(t, h.client(), "/login")
	}
	visitors := h.sessionRows() - 1 // alice's
	if visitors != 5 {
		t.Errorf("%d visitor sessions after 31 visitors, want the cap, 5", visitors)
	}
	if !h.sessionStored(alice.Cookie("natter_session")) {
		t.Error("the signed-in session was evicted")
	}
	// The first visitor's form has expired; a new one signs in.
	res := submit(t, first, "/register", "/register", url.Values{"username": {"bob"}, "email": {"bob@example.com"},
		"password": {"staple tuning fork"}, "password_confirm": {"staple tuning fork"}})
	wantRedirect(t, res, "/rooms") // GET /register made it a new session
	if err := h.client().Login("alice", "plum-kettle-orbit-42"); err != nil {
		t.Errorf("sign-in at the cap: %v", err)
	}
	if got := signedInAs(t, alice); got != "alice" {
		t.Errorf("alice is %q after the visitors, want still signed in", got)
	}
}

// The CSRF token counts only in the form body or the X-Csrf-Token header:
// in the query string (where logs, history and Referer keep it) it is
// refused.
func TestCSRFTokenNotFromQueryString(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	tok := inputValue(t, get(t, alice, "/rooms").Body, "/rooms", "csrf")
	if tok == "" {
		t.Fatal("no token on the lobby's form")
	}
	res := post(t, alice, "/rooms?csrf="+url.QueryEscape(tok), url.Values{"name": {"by-query"}})
	wantPage(t, res, http.StatusForbidden, msgForbidden)
	if _, _, ok := h.Deps.Rooms.Room("by-query"); ok {
		t.Error("room opened with the token in the query string")
	}
	wantRedirect(t, post(t, alice, "/rooms", url.Values{"name": {"by-body"}, "csrf": {tok}}), "/rooms/by-body")

	// A multipart body, and the htmx header, are accepted.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", tok)
	mw.WriteField("name", "by-multipart")
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, alice.URL("/rooms"), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if res, err := alice.Do(req); err != nil || res.Status != http.StatusSeeOther {
		t.Errorf("multipart post: %v %+v", err, res)
	}
	req, _ = http.NewRequest(http.MethodPost, alice.URL("/rooms"), strings.NewReader("name=by-header"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Csrf-Token", tok)
	if res, err := alice.Do(req); err != nil || res.Status != http.StatusSeeOther {
		t.Errorf("post with the header: %v %+v", err, res)
	}
}

// rawRequest writes raw bytes to the server and reads one response.
func rawRequest(t *testing.T, h *harness, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(h.URL, "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// Every response carries the security headers: asset 404s and the pages
// fasthttp itself answers (400, 413, 431) too; the 400 page shows no
// parser internals.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := strings.TrimPrefix(h.URL, "http://")
	tests := []struct {
		name, raw string
		status    int
		text      string
	}{
		{"asset 404", "GET /assets/nope.js HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 404, "Page not found"},
		{"healthz", "GET /healthz HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 200, "ok"},
		{"bad request line", "GARBAGE\r\n\r\n", 400, "The server could not read this request."},
		{"headers too large", "GET / HTTP/1.1\r\nHost: " + host + "\r\nX-Big: " + strings.Repeat("a", 8192) + "\r\n\r\n", 431, "Request too large"},
		{"body too large", "POST /login HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("a", 100000), 413, "Too much data"},
	}
	for _, tt := range tests {
		res, body := rawRequest(t, h, tt.raw)
		if res.StatusCode != tt.status || !strings.Contains(body, tt.text) {
			t.Errorf("%s: status %d, want %d with %q; body:\n%.400s", tt.name, res.StatusCode, tt.status, tt.text, body)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got, want)
			}
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", tt.name, csp)
		}
		for _, leak := range []string{"error when", "cannot find", "GARBAGE", "fasthttp", "you opened it at"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the page shows %q:\n%.400s", tt.name, leak, body)
			}
		}
	}
}

// A socket whose session passes its absolute lifetime is closed with 1008
// at the next check, though the session row still exists.
func TestSocketClosedAtAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *harnessConfig) {
		c.web.SessionCheck = 50 * time.Millisecond
		c.web.SessionAbsolute = 2 * time.Second
	})
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	sock, err := alice.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	opened := time.Now()
	wantClosed(t, sock, 1008, "Your session has ended.")
	if !h.sessionStored(alice.Cookie("natter_session")) {
		t.Fatal("the session row is gone: this tests the lifetime, not the row")
	}
	if d := time.Since(opened); d < time.Second {
		t.Errorf("socket closed after %v, before the session's lifetime", d)
	}
}

// Following links to rooms (from another site, say) opens none: a room
// that is not open gets a page whose button opens it with a POST.
func TestRoomLinkOpensNoRoom(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	for i := 0; i < 10; i++ {
		slug := "lure-" + string(rune('a'+i))
		req, _ := http.NewRequest(http.MethodGet, alice.URL("/rooms/"+slug), nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		res, err := alice.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := textOf(res.Body, func(n *html.Node) bool { return attr(n, "data-testid") == "room-closed" })
		if res.Status != http.StatusNotFound || !strings.HasPrefix(got, "#"+slug+" is not open") ||
			!strings.Contains(got, "Nobody is in this room right now.") || !strings.Contains(got, "Open #"+slug) {
			t.Fatalf("GET /rooms/%s: status %d, page %q", slug, res.Status, got)
		}
		if _, _, ok := h.Deps.Rooms.Room(slug); ok {
			t.Fatalf("GET /rooms/%s opened the room", slug)
		}
	}
	if n := len(h.Deps.Rooms.Rooms()); n != 2 {
		t.Errorf("%d rooms after ten links, want the 2 permanent ones", n)
	}
	// The button opens it, and then the link shows the room.
	page := get(t, alice, "/rooms/design-review")
	form, err := client.FormFields(page.Body, "/rooms")
	if err != nil || form.Get("name") != "design-review" || form.Get("csrf") == "" {
		t.Fatalf("the button's form: %v %v", form, err)
	}
	wantRedirect(t, post(t, alice, "/rooms", form), "/rooms/design-review")
	wantPage(t, get(t, alice, "/rooms/design-review"), http.StatusOK, `ws-connect="/rooms/design-review/ws"`)
	// The permanent rooms always show.
	wantPage(t, get(t, alice, "/rooms/general"), http.StatusOK, `ws-connect="/rooms/general/ws"`)
}
