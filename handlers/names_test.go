package handlers

import (
	"net/http"
	"net/url"
	"testing"
)

const (
	msgLookalike = "This user name looks too much like another member's (for example a capital I and a small l, or 0 and O, look alike). Choose another."
	msgHeld      = "This user name was given up by another member less than 30 days ago and is held for them. Choose another."
)

// "hoIder2" (capital i) is refused beside "holder2", at sign-up and on
// rename, with a clear message and what was typed kept.
func TestLookalikeNamesAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("holder2", "holder@example.com", pwAlice)
	res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"hoIder2"}, "email": {"mallory@example.com"},
		"password": {"staple tuning fork"}, "password_confirm": {"staple tuning fork"}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := fieldError(res.Body, "username"); got != msgLookalike {
		t.Errorf("error next to the user name = %q, want %q", got, msgLookalike)
	}
	if u, e := inputValue(t, res.Body, "/register", "username"), inputValue(t, res.Body, "/register", "email"); u != "hoIder2" || e != "mallory@example.com" {
		t.Errorf("form kept %q %q", u, e)
	}
	bob := h.signedUp("bob", "bob@example.com", "staple tuning fork")
	res = submit(t, bob, "/account", "/account", url.Values{"form": {"profile"}, "username": {"h0lder2"}, "email": {"bob@example.com"}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := fieldError(res.Body, "username"); got != msgLookalike {
		t.Errorf("rename: error next to the user name = %q, want %q", got, msgLookalike)
	}
}

// A name freed by a rename cannot be taken by someone else at once; its
// former owner may take it back.
func TestRenamedNameIsHeldForItsOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", pwAlice)
	wantRedirect(t, submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"alicia"}, "email": {"alice@example.com"}}), "/account?saved=profile")
	res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"alice"}, "email": {"mallory@example.com"},
		"password": {"staple tuning fork"}, "password_confirm": {"staple tuning fork"}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := fieldError(res.Body, "username"); got != msgHeld {
		t.Errorf("error next to the user name = %q, want %q", got, msgHeld)
	}
	wantRedirect(t, submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"alice"}, "email": {"alice@example.com"}}), "/account?saved=profile")
	if got := signedInAs(t, alice); got != "alice" {
		t.Errorf("after taking her name back alice is %q", got)
	}
}
