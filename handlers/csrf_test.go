package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCSRFTokenRotates: the token of the visitor's form does not survive
// sign-in, and the signed-in token does not survive sign-out.
func TestCSRFTokenRotates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", pwAlice)
	c := h.client()
	visitorToken := inputValue(t, get(t, c, "/login").Body, "/login", "csrf")
	if err := c.Login("alice", pwAlice); err != nil {
		t.Fatal(err)
	}
	page := get(t, c, "/account")
	userToken := inputValue(t, page.Body, "/account", "csrf")
	if userToken == "" || userToken == visitorToken {
		t.Fatalf("token after sign-in %q, before %q", userToken, visitorToken)
	}
	stale := url.Values{"csrf": {visitorToken}, "form": {"profile"}, "username": {"mallory"}, "email": {"alice@example.com"}}
	wantPage(t, post(t, c, "/account", stale), http.StatusForbidden, msgForbidden)

	wantRedirect(t, post(t, c, "/logout", url.Values{"csrf": {userToken}}), "/login")
	// A visitor again: the signed-in token is no good for the next sign-in.
	res := post(t, c, "/login", url.Values{"csrf": {userToken}, "username": {"alice"}, "password": {pwAlice}})
	wantPage(t, res, http.StatusForbidden, msgForbidden)
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", "correct horse battery")
	bob := h.signedUp("bob", "bob@example.com", "staple tuning fork")
	bobToken := bob.Cookie("csrf_")
	if bobToken == "" {
		get(t, bob, "/account")
		bobToken = bob.Cookie("csrf_")
	}
	profile := url.Values{"form": {"profile"}, "username": {"mallory"}, "email": {"alice@example.com"}}
	with := func(tok string) url.Values {
		v := url.Values{}
		for k, vs := range profile {
			v[k] = vs
		}
		if tok != "" {
			v.Set("csrf", tok)
		}
		return v
	}
	tests := []struct {
		name string
		form url.Values
	}{
		{"missing", with("")},
		{"wrong", with("not-the-token")},
		{"another user's", with(bobToken)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantPage(t, post(t, alice, "/account", tt.form), http.StatusForbidden, msgForbidden)
			if got := signedInAs(t, alice); got != "alice" {
				t.Errorf("profile changed to %q", got)
			}
		})
	}
	t.Run("htmx header", func(t *testing.T) {
		page := get(t, alice, "/rooms")
		tok := inputValue(t, page.Body, "/logout", "csrf")
		req, _ := http.NewRequest(http.MethodPost, alice.URL("/account"), strings.NewReader(profile.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Csrf-Token", tok)
		res, err := alice.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, res, "/account?saved=profile")
	})
}

// TestCrossSiteRequests: a browser's word that a POST came from another
// site is enough to refuse it, token or not.
func TestCrossSiteRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", "correct horse battery")
	tests := []struct {
		name, header, value string
	}{
		{"evil origin", "Origin", "https://evil.example"},
		{"origin with other port", "Origin", "http://127.0.0.1:1"},
		{"null origin", "Origin", "null"},
		{"cross-site fetch", "Sec-Fetch-Site", "cross-site"},
		{"same-site fetch", "Sec-Fetch-Site", "same-site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.client()
			page := get(t, c, "/login")
			form, _ := url.ParseQuery("username=alice&password=correct+horse+battery")
			form.Set("csrf", inputValue(t, page.Body, "/login", "csrf"))
			req, _ := http.NewRequest(http.MethodPost, c.URL("/login"), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(tt.header, tt.value)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			wantPage(t, res, http.StatusForbidden, msgForbidden)
			if got := signedInAs(t, c); got != "" {
				t.Errorf("signed in as %q", got)
			}
		})
	}
}
