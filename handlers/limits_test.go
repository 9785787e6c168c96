package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"natter/client"
)

// An attacker's wrong passwords from other addresses do not lock the owner
// out: 5 failures from 5 addresses, then the owner signs in from their own.
// The attacker is stopped: from one address after 5 failures, from many at
// the account's ceiling, and then even with the right password.
func TestLoginLimitIsNoLockout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, behindProxy)
	h.signedUp("alice", "alice@example.com", pwAlice)
	fail := func(addr string) *client.Response {
		t.Helper()
		c := forwardedFor(h.client(), addr)
		return submit(t, c, "/login", "/login", url.Values{"username": {"alice"}, "password": {"not her password"}})
	}
	for i := 1; i <= 5; i++ {
		wantPage(t, fail("198.51.100."+strconv.Itoa(i)), http.StatusUnauthorized, msgBadLogin)
	}
	owner := forwardedFor(h.client(), "203.0.113.50")
	if err := owner.Login("alice", pwAlice); err != nil {
		t.Fatalf("the owner, from her own address, after 5 failures from others: %v", err)
	}

	// One address: the sixth try is refused, right password or not.
	for i := 1; i <= 4; i++ {
		wantPage(t, fail("198.51.100.1"), http.StatusUnauthorized)
	}
	wantPage(t, fail("198.51.100.1"), http.StatusTooManyRequests, "Too many attempts")
	c := forwardedFor(h.client(), "198.51.100.1")
	wantPage(t, submit(t, c, "/login", "/login", url.Values{"username": {"alice"}, "password": {pwAlice}}), http.StatusTooManyRequests)

	// Many addresses: the account's ceiling. 9 failures count so far (one
	// from each of five addresses, 4 more from one); refused tries do not.
	counted := 9
	for i := 0; counted < accountFailures; i++ {
		res := fail("192.0.2." + strconv.Itoa(i%250+1))
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d from many addresses: status %d, want 401", counted+1, res.Status)
		}
		counted++
	}
	wantPage(t, fail("198.18.0.1"), http.StatusTooManyRequests, "Too many attempts")
	// The owner's address, where she signed in before, is exempt from the
	// account-wide ceiling.
	owner = forwardedFor(h.client(), "203.0.113.50")
	if err := owner.Login("alice", pwAlice); err != nil {
		t.Errorf("the owner, from her own address, at the account's ceiling: %v", err)
	}
	wantPage(t, submit(t, forwardedFor(h.client(), "198.18.0.2"), "/login", "/login",
		url.Values{"username": {"alice"}, "password": {pwAlice}}), http.StatusTooManyRequests)
}

// A 50-person office behind one NAT address signs up, typos included; a
// script is still stopped, at failedSignUps failures and at signUpsPerHour
// sign-ups an hour.
func TestSignUpLimitsFitAnOffice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := 1; i <= 50; i++ {
		name := "colleague" + strconv.Itoa(i)
		if i%5 == 0 {
			// Every fifth person mistypes the confirmation once.
			res := submit(t, h.client(), "/register", "/register", url.Values{"username": {name}, "email": {name + "@example.com"},
				"password": {"tangerine desk lamp " + strconv.Itoa(i)}, "password_confirm": {"tangerine desk lmap " + strconv.Itoa(i)}})
			wantPage(t, res, http.StatusUnprocessableEntity, "The two passwords do not match.")
		}
		if err := h.client().Register(name, name+"@example.com", "tangerine desk lamp "+strconv.Itoa(i)); err != nil {
			t.Fatalf("colleague %d: %v", i, err)
		}
	}
	// Failures count apart: 10 so far, 20 more pass, the next is refused.
	for i := 11; i <= failedSignUps; i++ {
		res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"x"}})
		wantPage(t, res, http.StatusUnprocessableEntity)
	}
	wantPage(t, submit(t, h.client(), "/register", "/register", url.Values{"username": {"x"}}), http.StatusTooManyRequests, "Too many attempts")

	// Successes: signUpsPerHour an hour from one address, then refused.
	h = newHarness(t)
	for i := 1; i <= signUpsPerHour; i++ {
		name := "colleague" + strconv.Itoa(i)
		if err := h.client().Register(name, name+"@example.com", "tangerine desk lamp "+strconv.Itoa(i)); err != nil {
			t.Fatalf("sign-up %d: %v", i, err)
		}
	}
	res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"onemore"}, "email": {"onemore@example.com"},
		"password": {"tangerine desk lamp 0"}, "password_confirm": {"tangerine desk lamp 0"}})
	wantPage(t, res, http.StatusTooManyRequests, "Too many attempts")
}
