package handlers

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/client"
)

func TestResolveClient(t *testing.T) {
	trusted, err := parseProxies([]string{"127.0.0.1", "10.0.0.0/8", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name      string
		peer      netip.Addr
		forwarded []string
		want      string
	}{
		{"untrusted peer: header ignored", netip.MustParseAddr("192.0.2.7"), []string{"198.51.100.1"}, "192.0.2.7"},
		{"proxy appended the client", peer, []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-written entries on the left are not read", peer, []string{"1.1.1.1, 2.2.2.2, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops on the right are skipped", peer, []string{"1.1.1.1, 203.0.113.9, 10.0.0.5"}, "203.0.113.9"},
		{"several headers are one list", peer, []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"no header: the peer", peer, nil, "127.0.0.1"},
		{"empty header: the peer", peer, []string{""}, "127.0.0.1"},
		{"garbage right-most: the last trusted hop", peer, []string{"203.0.113.9, not-an-ip"}, "127.0.0.1"},
		{"garbage behind a trusted hop", peer, []string{"x, 10.0.0.5"}, "10.0.0.5"},
		{"only trusted hops: the left-most", peer, []string{"10.0.0.1, 10.0.0.5"}, "10.0.0.1"},
		{"port", peer, []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6 with port", peer, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv4-mapped IPv6", peer, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"zone dropped", peer, []string{"fe80::1%eth0"}, "fe80::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h [][]byte
			for _, f := range tt.forwarded {
				h = append(h, []byte(f))
			}
			if got := resolveClient(tt.peer, h, trusted).String(); got != tt.want {
				t.Errorf("resolveClient(%s, %q) = %s, want %s", tt.peer, tt.forwarded, got, tt.want)
			}
		})
	}
	if _, err := parseProxies([]string{"proxy.example"}); err == nil {
		t.Error("a host name was accepted as a trusted proxy")
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":              "203.0.113.9",
		"2001:db8:1:2:aaaa::1":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":          "2001:db8:1:3::/64",
	} {
		if got := limitKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("limitKey(%s) = %s, want %s", in, got, want)
		}
	}
}

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
