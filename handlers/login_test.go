package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"natter/password"
)

func TestLoginByNameAndEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("Alice", "Alice@Example.com", "correct horse battery")
	for _, login := range []string{"Alice", "alice", "alice@example.com", "ALICE@EXAMPLE.COM", "  alice  "} {
		t.Run(login, func(t *testing.T) {
			c := h.client()
			res := submit(t, c, "/login", "/login", url.Values{"username": {login}, "password": {"correct horse battery"}})
			wantRedirect(t, res, "/rooms")
			if got := signedInAs(t, c); got != "Alice" {
				t.Errorf("signed in as %q", got)
			}
		})
	}
}

// TestLoginFailuresLookAlike: a wrong password and an unknown account get
// the same status and the same page. The same request goes to two servers,
// one where the account exists and one where it does not.
func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	known, unknown := newHarness(t), newHarness(t)
	known.signedUp("alice", "alice@example.com", "correct horse battery")
	unknown.signedUp("bob", "bob@example.com", "correct horse battery")
	form := url.Values{"username": {"alice"}, "password": {"wrong horse battery"}}
	a := submit(t, known.client(), "/login", "/login", form)
	b := submit(t, unknown.client(), "/login", "/login", form)
	wantPage(t, a, http.StatusUnauthorized, msgBadLogin)
	if a.Status != b.Status {
		t.Errorf("status: wrong password %d, unknown user %d", a.Status, b.Status)
	}
	if withoutCSRF(a.Body) != withoutCSRF(b.Body) {
		t.Errorf("bodies differ:\nwrong password:\n%s\nunknown user:\n%s", withoutCSRF(a.Body), withoutCSRF(b.Body))
	}
	if strings.Contains(a.Body, "wrong horse battery") {
		t.Error("the password is in the page")
	}
	if got := inputValue(t, a.Body, "/login", "username"); got != "alice" {
		t.Errorf("typed login not kept: %q", got)
	}
}

// TestLoginRotatesSessionID: the session id changes at sign-in and the
// visitor's id is gone from storage (no fixation).
func TestLoginRotatesSessionID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", "correct horse battery")
	c := h.client()
	get(t, c, "/login")
	before := c.Cookie("natter_session")
	if before == "" || !h.sessionStored(before) {
		t.Fatalf("the sign-in page left no stored visitor session (cookie %q)", before)
	}
	if err := c.Login("alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	after := c.Cookie("natter_session")
	if after == before || after == "" {
		t.Fatalf("session id not rotated: %q -> %q", before, after)
	}
	if h.sessionStored(before) {
		t.Error("the pre-login session is still stored")
	}
	if !h.sessionStored(after) {
		t.Error("the new session is not stored")
	}
	if got := signedInAs(t, h.clientWithSession(before)); got != "" {
		t.Errorf("pre-login id signs in as %q", got)
	}
	// 32 random bytes, base64url.
	if len(after) != 43 {
		t.Errorf("session id %q has %d characters, want 43", after, len(after))
	}
}

func TestLoginNext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", "correct horse battery")
	tests := []struct{ next, want string }{
		{"//evil.example", "/rooms"},
		{"https://evil.example", "/rooms"},
		{`/\evil.example`, "/rooms"},
		{"/\tevil.example", "/rooms"},
		{"evil.example", "/rooms"},
		{"javascript:alert(1)", "/rooms"},
		{"", "/rooms"},
		{"/rooms/general", "/rooms/general"},
		{"/account?saved=profile", "/account?saved=profile"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			res := submit(t, h.client(), "/login", "/login", url.Values{
				"username": {"alice"}, "password": {"correct horse battery"}, "next": {tt.next},
			})
			wantRedirect(t, res, tt.want)
		})
	}
	t.Run("kept through the form", func(t *testing.T) {
		c := h.client()
		wantRedirect(t, get(t, c, "/rooms/general"), "/login?next=%2Frooms%2Fgeneral")
		res := submit(t, c, "/login?next=%2Frooms%2Fgeneral", "/login", url.Values{
			"username": {"alice"}, "password": {"correct horse battery"},
		})
		wantRedirect(t, res, "/rooms/general")
	})
	t.Run("evil next not put in the form", func(t *testing.T) {
		res := get(t, h.client(), "/login?next=%2F%2Fevil.example")
		if strings.Contains(res.Body, "evil.example") {
			t.Error("the sign-in page carries the foreign next")
		}
	})
}

func TestAnonymousIsSentToLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	for path, want := range map[string]string{
		"/rooms":         "/login?next=%2Frooms",
		"/account":       "/login?next=%2Faccount",
		"/rooms/general": "/login?next=%2Frooms%2Fgeneral",
	} {
		wantRedirect(t, get(t, c, path), want)
	}
}

// TestLongPasswordRefusedWithoutHashing: at sign-in, a password over
// MaxLength is refused without running the (here deliberately slow) hash.
func TestLongPasswordRefusedWithoutHashing(t *testing.T) {
	t.Parallel()
	slow := password.Params{Memory: 8 * 1024, Iterations: 3, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	h := newHarness(t, func(c *harnessConfig) { c.params = slow })
	attempt := func(pw string) time.Duration {
		c := h.client()
		page := get(t, c, "/login")
		form := url.Values{"username": {"nobody"}, "password": {pw}, "csrf": {inputValue(t, page.Body, "/login", "csrf")}}
		start := time.Now()
		res := post(t, c, "/login", form)
		wantPage(t, res, http.StatusUnauthorized, msgBadLogin)
		return time.Since(start)
	}
	hashed := attempt(strings.Repeat("x", password.MaxLength))
	refused := attempt(strings.Repeat("x", password.MaxLength+1))
	t.Logf("128 bytes: %v, 129 bytes: %v", hashed, refused)
	if refused*3 > hashed {
		t.Errorf("129-byte password took %v, the hashed 128-byte one %v: was it hashed?", refused, hashed)
	}
}
