package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/client"
	"natter/handlers"
	"natter/password"
)

// In a sign-in storm, a request that cannot get a hashing slot within the
// Hasher's longest wait is answered 503 with Retry-After and a page that
// says to try again, the typed user name kept; /healthz and sockets stay
// responsive meanwhile.
func TestSignInStormIsToldToRetry(t *testing.T) {
	// A hash takes tens of milliseconds, one at a time: eight sign-ins
	// cannot all get the slot within the 100 ms wait.
	slow := password.Params{Memory: 32 * 1024, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	h := newHarness(t, func(c *harnessConfig) { c.params = slow; c.hashSlots = 1 })
	alice := h.signedUp("alice", "alice@example.com", pwAlice)
	h.Deps.Hasher.SetMaxWait(100 * time.Millisecond)

	const n = 8
	forms := make([]url.Values, n)
	clients := make([]*client.Client, n)
	for i := range n {
		clients[i] = h.client()
		page := get(t, clients[i], "/login")
		f, err := client.FormFields(page.Body, "/login")
		if err != nil {
			t.Fatal(err)
		}
		f.Set("username", "carol"+strconv.Itoa(i))
		f.Set("password", "not a password of anyone")
		forms[i] = f
	}
	results := make([]*client.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := clients[i].Post("/login", forms[i])
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res
		})
	}

	start := time.Now()
	hz := get(t, h.client(), "/healthz")
	// Before the bound, sign-ins queued for 30 s; "responsive" here is a
	// generous bound for a loaded test machine.
	if hz.Status != http.StatusOK || time.Since(start) > 2*time.Second {
		t.Errorf("/healthz during the storm: %d after %v", hz.Status, time.Since(start))
	}
	sock, err := alice.Dial("general", nil)
	if err != nil {
		t.Fatalf("socket during the storm: %v", err)
	}
	defer sock.Close()
	sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, frame, err := sock.ReadMessage(); err != nil || !strings.Contains(string(frame), "alice") {
		t.Errorf("socket during the storm: first frame %.200q, %v", frame, err)
	}
	wg.Wait()

	busy, refused := 0, 0
	for i, res := range results {
		if res == nil {
			continue
		}
		switch res.Status {
		case http.StatusUnauthorized:
			refused++
		case http.StatusServiceUnavailable:
			busy++
			wantPage(t, res, http.StatusServiceUnavailable, handlers.MsgBusy)
			if got := res.Header.Get("Retry-After"); got != "5" {
				t.Errorf("Retry-After = %q, want 5", got)
			}
			if got := inputValue(t, res.Body, "/login", "username"); got != "carol"+strconv.Itoa(i) {
				t.Errorf("user name field = %q, want %q kept", got, "carol"+strconv.Itoa(i))
			}
		default:
			t.Errorf("sign-in %d: status %d", i, res.Status)
		}
	}
	if busy == 0 || refused == 0 {
		t.Errorf("%d told busy and %d refused, want some of each", busy, refused)
	}
	if st := h.Deps.Hasher.WaitStats(); st.Busy != int64(busy) {
		t.Errorf("WaitStats().Busy = %d, want %d", st.Busy, busy)
	}
	h.waitLog(time.Second, "password hashing busy", "path=/login")
}
