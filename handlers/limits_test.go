package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"natter/client"
	"natter/handlers"
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
	for i := 0; counted < handlers.AccountFailures; i++ {
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

// SECURITY.md: the 6th failed sign-in for one account is throttled
// whatever address it comes from: from then on every attempt on the
// account waits, doubling, right password or not; the owner is slowed,
// never locked out, and not slowed at all from an address she signed in
// from lately.
func TestSixthFailureIsSlowedFromAnyAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, behindProxy, func(c *harnessConfig) {
		c.web.SlowdownStep, c.web.SlowdownMax = 40*time.Millisecond, 100*time.Millisecond
	})
	h.signedUp("alice", "alice@example.com", pwAlice)
	if err := forwardedFor(h.client(), "203.0.113.50").Login("alice", pwAlice); err != nil {
		t.Fatal(err)
	}
	fail := func(addr string) {
		t.Helper()
		c := forwardedFor(h.client(), addr)
		wantPage(t, submit(t, c, "/login", "/login", url.Values{"username": {"alice"}, "password": {"not her password"}}),
			http.StatusUnauthorized, msgBadLogin)
	}
	for i := 1; i <= 5; i++ {
		fail("198.51.100." + strconv.Itoa(i))
	}
	if n := strings.Count(h.Log.String(), `msg="sign-in slowed"`); n != 0 {
		t.Fatalf("%d attempts slowed before the sixth", n)
	}
	fail("198.51.100.6")
	fail("198.51.100.7")
	fail("198.51.100.8")
	for _, want := range []string{
		`msg="sign-in slowed" for=40ms ip=198.51.100.6`,
		`msg="sign-in slowed" for=80ms ip=198.51.100.7`,
		`msg="sign-in slowed" for=100ms ip=198.51.100.8`,
	} {
		if !strings.Contains(h.Log.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	// The owner from a new address is slowed but gets in; from her own
	// address she is not slowed.
	if err := forwardedFor(h.client(), "192.0.2.9").Login("alice", pwAlice); err != nil {
		t.Errorf("the owner from a new address: %v", err)
	}
	if !strings.Contains(h.Log.String(), `msg="sign-in slowed" for=100ms ip=192.0.2.9`) {
		t.Error("the right password from a new address was not slowed like a wrong one")
	}
	if err := forwardedFor(h.client(), "203.0.113.50").Login("alice", pwAlice); err != nil {
		t.Errorf("the owner from her own address: %v", err)
	}
	if regexp.MustCompile(`msg="sign-in slowed" for=\S+ ip=203\.0\.113\.50`).MatchString(h.Log.String()) {
		t.Error("the owner was slowed at her own address")
	}
}

// A 50-person office behind one NAT address signs up, typos included; a
// script is still stopped, at handlers.FailedSignUps failures and at handlers.SignUpsPerHour
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
	for i := 11; i <= handlers.FailedSignUps; i++ {
		res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"x"}})
		wantPage(t, res, http.StatusUnprocessableEntity)
	}
	wantPage(t, submit(t, h.client(), "/register", "/register", url.Values{"username": {"x"}}), http.StatusTooManyRequests, "Too many attempts")

	// Successes: handlers.SignUpsPerHour an hour from one address, then refused.
	h = newHarness(t)
	for i := 1; i <= handlers.SignUpsPerHour; i++ {
		name := "colleague" + strconv.Itoa(i)
		if err := h.client().Register(name, name+"@example.com", "tangerine desk lamp "+strconv.Itoa(i)); err != nil {
			t.Fatalf("sign-up %d: %v", i, err)
		}
	}
	res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"onemore"}, "email": {"onemore@example.com"},
		"password": {"tangerine desk lamp 0"}, "password_confirm": {"tangerine desk lamp 0"}})
	wantPage(t, res, http.StatusTooManyRequests, "Too many attempts")
}

// TestLoginRateLimit: the sixth failure for one account gets 429 with
// Retry-After and a page saying when to try again, even with the right
// password and from a fresh client.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", "correct horse battery")
	for i := 1; i <= 5; i++ {
		res := submit(t, h.client(), "/login", "/login", url.Values{"username": {"alice"}, "password": {"guess " + strconv.Itoa(i)}})
		wantPage(t, res, http.StatusUnauthorized, msgBadLogin)
	}
	for _, login := range []string{"alice", "ALICE"} {
		res := submit(t, h.client(), "/login", "/login", url.Values{"username": {login}, "password": {"correct horse battery"}})
		wantPage(t, res, http.StatusTooManyRequests, "Too many attempts", "Please wait")
		retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
		if err != nil || retry <= 0 || retry > 15*60 {
			t.Errorf("Retry-After = %q, want seconds within the 15-minute window", res.Header.Get("Retry-After"))
		}
		if !strings.Contains(res.Body, "Please wait "+handlers.WaitText(retry)+" and try again.") {
			t.Errorf("page does not say when to retry (Retry-After %d)", retry)
		}
	}
	// Another account is not affected.
	h.signedUp("bob", "bob@example.com", "staple tuning fork")
	if err := h.client().Login("bob", "staple tuning fork"); err != nil {
		t.Errorf("bob: %v", err)
	}
	h.waitLog(time.Second, "rate limited", "path=/login")
}
