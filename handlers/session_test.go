package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"natter/handlers"
)

// TestSessionEndsWithCredentialVersion: a session made before the password
// changed stops working even if nothing deleted its row.
func TestSessionEndsWithCredentialVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedUp("alice", "alice@example.com", pwAlice)
	sid := c.Cookie("natter_session")
	u, err := h.DB.UserByLogin(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.DB.ChangePassword(t.Context(), u.ID, u.PasswordHash); err != nil {
		t.Fatal(err)
	}
	if !h.sessionStored(sid) {
		t.Fatal("test setup: the row should still be there")
	}
	if got := signedInAs(t, c); got != "" {
		t.Errorf("stale session signs in as %q", got)
	}
	if h.sessionStored(sid) {
		t.Error("the stale session was not destroyed")
	}
	h.waitLog(time.Second, "session ended", "user=1")
}

// TestSessionLifetimes: an idle session and one past its absolute lifetime
// both end.
func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  handlers.Config
		keep bool // use the session every half second
	}{
		// Lifetimes of 3 s leave a slow (race-instrumented, loaded) machine
		// time to fetch the sign-up form and post it before the session
		// holding its CSRF token expires.
		{"idle", handlers.Config{SessionIdle: 3 * time.Second}, false},
		{"absolute while active", handlers.Config{SessionAbsolute: 3 * time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *harnessConfig) { c.web = tt.cfg })
			c := h.signedUp("alice", "alice@example.com", pwAlice)
			sid := c.Cookie("natter_session")
			end := time.Now().Add(4500 * time.Millisecond)
			for time.Now().Before(end) {
				time.Sleep(500 * time.Millisecond)
				if tt.keep {
					get(t, h.clientWithSession(sid), "/account")
				}
			}
			if got := signedInAs(t, h.clientWithSession(sid)); got != "" {
				t.Errorf("after 4.5 s still signed in as %q", got)
			}
		})
	}
}

// TestAttackerChosenSessionID: a planted cookie is never adopted
// (CVE-2024-38513).
func TestAttackerChosenSessionID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", "correct horse battery")
	victim := h.clientWithSession("attacker123")
	res := get(t, victim, "/login")
	wantPage(t, res, http.StatusOK)
	if id := victim.Cookie("natter_session"); id == "attacker123" || id == "" {
		t.Fatalf("server kept the planted id: %q", id)
	}
	if err := victim.Login("alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if h.sessionStored("attacker123") {
		t.Error("attacker123 is stored")
	}
	if got := signedInAs(t, h.clientWithSession("attacker123")); got != "" {
		t.Errorf("attacker123 signs in as %q", got)
	}
	// A session id in the query string is ignored.
	if res := get(t, h.client(), "/rooms?natter_session="+url.QueryEscape(victim.Cookie("natter_session"))); res.Status != http.StatusSeeOther {
		t.Errorf("session id in the URL was honoured: %d", res.Status)
	}
}
