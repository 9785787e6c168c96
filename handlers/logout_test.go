package handlers_test

import (
	"net/http"
	"testing"
)

func TestLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedUp("alice", "alice@example.com", "correct horse battery")
	sid := c.Cookie("natter_session")

	t.Run("GET does nothing", func(t *testing.T) {
		res := get(t, c, "/logout")
		if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET /logout: %d, want 404 or 405", res.Status)
		}
		if got := signedInAs(t, c); got != "alice" {
			t.Errorf("after GET /logout signed in as %q", got)
		}
	})
	t.Run("POST without token", func(t *testing.T) {
		wantPage(t, post(t, c, "/logout", nil), http.StatusForbidden, msgForbidden, "Go back, reload the page and try again.")
		if got := signedInAs(t, c); got != "alice" {
			t.Errorf("after refused logout signed in as %q", got)
		}
	})
	t.Run("POST with token", func(t *testing.T) {
		res := submit(t, c, "/rooms", "/logout", nil)
		wantRedirect(t, res, "/login")
		if h.sessionStored(sid) {
			t.Error("session row still stored")
		}
		if c.Cookie("natter_session") != "" {
			t.Error("session cookie not expired")
		}
		old := h.clientWithSession(sid)
		wantRedirect(t, get(t, old, "/rooms"), "/login?next=%2Frooms")
	})
}
