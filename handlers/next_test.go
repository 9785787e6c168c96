package handlers_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestNextThroughSignUp: the destination a visitor was sent to sign in
// from survives the sign-up form (errors included); a foreign one is never
// carried or followed.
func TestNextThroughSignUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	form := func(name string) url.Values {
		return url.Values{"username": {name}, "email": {name + "@example.com"},
			"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"}}
	}
	t.Run("kept", func(t *testing.T) {
		c := h.client()
		page := get(t, c, "/register?next=%2Frooms%2Fdesign-review")
		if got := inputValue(t, page.Body, "/register", "next"); got != "/rooms/design-review" {
			t.Fatalf("the sign-up form carries next %q, want /rooms/design-review", got)
		}
		if !strings.Contains(page.Body, `href="/login?next=%2Frooms%2Fdesign-review"`) {
			t.Error("the sign-in link of the sign-up page drops next")
		}
		bad := form("carol")
		bad.Set("password_confirm", "something else")
		res := submit(t, c, "/register?next=%2Frooms%2Fdesign-review", "/register", bad)
		if got := inputValue(t, res.Body, "/register", "next"); got != "/rooms/design-review" {
			t.Fatalf("after an error the form carries next %q, want /rooms/design-review", got)
		}
		res = submit(t, c, "/register?next=%2Frooms%2Fdesign-review", "/register", form("carol"))
		wantRedirect(t, res, "/rooms/design-review")
	})
	for i, next := range []string{"//evil.example", "https://evil.example", `/\evil.example`} {
		t.Run(next, func(t *testing.T) {
			c := h.client()
			if page := get(t, c, "/register?next="+url.QueryEscape(next)); strings.Contains(page.Body, "evil.example") {
				t.Error("the sign-up page carries the foreign next")
			}
			v := form("dave" + string(rune('a'+i)))
			v.Set("next", next)
			wantRedirect(t, submit(t, c, "/register", "/register", v), "/rooms")
		})
	}
}

// TestNextThroughPasswordReset: the forgot form puts next in the mailed
// link, the link carries it to the reset form, and the reset leads to the
// sign-in page with it; a foreign next never makes it into the mail.
func TestNextThroughPasswordReset(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", pwAlice)
	c := h.client()
	submit(t, c, "/password/forgot?next=%2Frooms%2Fretro", "/password/forgot", url.Values{"email": {"alice@example.com"}})
	m := h.Mail.WaitFor(t, "alice@example.com", mailWait)
	link := m.Link(h.URL + "/password/reset/")
	token, query, _ := strings.Cut(strings.TrimPrefix(link, h.URL+"/password/reset/"), "?")
	if query != "next=%2Frooms%2Fretro" || len(token) != 43 {
		t.Fatalf("reset link %q, want the token and next=%%2Frooms%%2Fretro", link)
	}
	wantRedirect(t, get(t, c, strings.TrimPrefix(link, h.URL)), "/password/reset/set?next=%2Frooms%2Fretro")
	page := get(t, c, "/password/reset/set?next=%2Frooms%2Fretro")
	if got := inputValue(t, page.Body, "/password/reset/set", "next"); got != "/rooms/retro" {
		t.Fatalf("the reset form carries next %q, want /rooms/retro", got)
	}
	res := submit(t, c, "/password/reset/set?next=%2Frooms%2Fretro", "/password/reset/set", url.Values{
		"password": {"a brand new harbor lantern"}, "password_confirm": {"a brand new harbor lantern"}})
	wantRedirect(t, res, "/login?reset=1&next=%2Frooms%2Fretro")

	h.signedUp("bob", "bob@example.com", pwAlice+" too")
	submit(t, h.client(), "/password/forgot?next=%2F%2Fevil.example", "/password/forgot", url.Values{"email": {"bob@example.com"}})
	if body := h.Mail.WaitFor(t, "bob@example.com", mailWait).TextBody(); strings.Contains(body, "evil") {
		t.Errorf("the reset mail carries the foreign next:\n%s", body)
	}
}
