package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/client"
)

// forwardedFor makes c send X-Forwarded-For: xff on every request, as a
// proxy in front of Natter would (or a client trying its luck).
func forwardedFor(c *client.Client, xff string) *client.Client {
	c.HTTP.Transport = headerTransport{name: "X-Forwarded-For", value: xff}
	return c
}

type headerTransport struct{ name, value string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return http.DefaultTransport.RoundTrip(r)
}

func behindProxy(c *harnessConfig) { c.web.TrustedProxies = []string{"127.0.0.1"} }

// Behind a trusted proxy a client cannot pick its own rate-limit bucket by
// writing X-Forwarded-For: the proxy's right-most entry counts, and the
// logs show it.
func TestForwardedForCannotChooseTheBucket(t *testing.T) {
	t.Parallel()
	h := newHarness(t, behindProxy)
	var last *client.Response
	for i := 1; i <= 21; i++ {
		// The proxy appends the address it saw; the rest is the client's.
		c := forwardedFor(h.client(), "198.51.100."+strconv.Itoa(i)+", 203.0.113.9")
		last = submit(t, c, "/login", "/login", url.Values{"username": {"nobody" + strconv.Itoa(i)}, "password": {"wrong password"}})
		if i <= 20 && last.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i, last.Status)
		}
	}
	wantPage(t, last, http.StatusTooManyRequests, "Too many attempts")
	h.waitLog(0, "sign-in failed", "ip=203.0.113.9")

	// Another client behind the same proxy has its own bucket, and a
	// request without the header is the proxy's own.
	c := forwardedFor(h.client(), "203.0.113.10")
	wantPage(t, submit(t, c, "/login", "/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}}), http.StatusUnauthorized)
	wantPage(t, submit(t, h.client(), "/login", "/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}}), http.StatusUnauthorized)
	h.waitLog(0, "sign-in failed", "ip=127.0.0.1")
}

// Addresses of one IPv6 /64 share a bucket.
func TestIPv6LimitsKeyOnThe64(t *testing.T) {
	t.Parallel()
	h := newHarness(t, behindProxy)
	var last *client.Response
	for i := 1; i <= 21; i++ {
		c := forwardedFor(h.client(), "2001:db8:1:2::"+strconv.FormatInt(int64(i), 16))
		last = submit(t, c, "/login", "/login", url.Values{"username": {"nobody" + strconv.Itoa(i)}, "password": {"wrong password"}})
	}
	wantPage(t, last, http.StatusTooManyRequests, "Too many attempts")
	c := forwardedFor(h.client(), "2001:db8:1:3::1")
	wantPage(t, submit(t, c, "/login", "/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}}), http.StatusUnauthorized)
}

// A socket's log lines name the client behind the proxy too.
func TestSocketLogsTheForwardedClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, behindProxy)
	alice := h.signedUp("alice", "alice@example.com", pwAlice)
	hdr := http.Header{}
	hdr.Set("Origin", h.URL)
	hdr.Set("Cookie", alice.CookieHeader())
	hdr.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	conn, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("ws"+strings.TrimPrefix(h.URL, "http")+"/rooms/general/ws", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h.waitLog(5*time.Second, "socket connected", "ip=203.0.113.9")
}
