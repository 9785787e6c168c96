package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// With no base URL configured (served as http://localhost:<port>), a
// person who opened http://127.0.0.1:<port> signs up and posts forms as
// at localhost, with no warning.
func TestLoopbackNamesAlikeWithoutBaseURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *harnessConfig) { c.localhostBase = true; c.web.AnyLoopback = true })
	c := h.client() // http://127.0.0.1:<port>; its posts carry that Origin
	port := strings.TrimPrefix(h.URL, "http://127.0.0.1:")
	page := get(t, c, "/register")
	if strings.Contains(page.Body, `data-testid="wrong-address"`) {
		t.Errorf("127.0.0.1 is warned about as a wrong address:\n%.2000s", page.Body)
	}
	if err := c.Register("alice", "alice@example.com", "plum-kettle-orbit-42"); err != nil {
		t.Fatalf("sign-up at 127.0.0.1: %v", err)
	}
	wantRedirect(t, submit(t, c, "/rooms", "/rooms", url.Values{"name": {"loopback"}}), "/rooms/loopback")
	// The room's socket, with Origin http://127.0.0.1:<port>, is accepted;
	// the CSP names that origin too.
	sock, err := c.Dial("loopback", nil)
	if err != nil {
		t.Fatalf("socket from 127.0.0.1: %v", err)
	}
	sock.Close()
	csp := get(t, c, "/rooms").Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' ws://localhost:"+port+" ws://127.0.0.1:"+port+";") {
		t.Errorf("CSP %q does not let the page connect at both names", csp)
	}
	if strings.Contains(h.Log.String(), "opened at another address") {
		t.Errorf("127.0.0.1 logged as a wrong address:\n%s", h.Log.String())
	}
}

// With a base URL configured, a page opened at another address says so
// (banner), a form sent from there is refused with a 403 that says why,
// and the log says it once per address.
func TestWrongAddressIsNamed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *harnessConfig) { c.localhostBase = true })
	base := "http://localhost:" + strings.TrimPrefix(h.URL, "http://127.0.0.1:")
	want := "Natter is set up for " + base + "; you opened it at " + h.URL + "."
	c := h.client()
	for i := 0; i < 3; i++ {
		page := get(t, c, "/login")
		if got := textOf(page.Body, func(n *html.Node) bool { return attr(n, "data-testid") == "wrong-address" }); !strings.HasPrefix(got, want) {
			t.Fatalf("banner %q, want it to start with %q", got, want)
		}
	}
	res, err := c.Submit("/login", "/login", url.Values{"username": {"alice"}, "password": {"plum-kettle-orbit-42"}})
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, res, http.StatusForbidden, "Natter is set up for another address", want)
	if n := strings.Count(h.Log.String(), "opened at another address"); n != 1 {
		t.Errorf("%d log lines about the address, want 1:\n%s", n, h.Log.String())
	}
	// A form sent from a page at the wrong address, with the right Host
	// (a name that resolves to the same server): the Origin names it.
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/login", strings.NewReader("username=a"))
	req.Host = strings.TrimPrefix(base, "http://")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://192.0.2.7:8080")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, res, http.StatusForbidden, "Natter is set up for another address",
		"Natter is set up for "+base+"; you opened it at http://192.0.2.7:8080.")
}
