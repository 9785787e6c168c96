package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"natter/handlers"
	"natter/password"
)

const (
	msgTaken      = "This user name is taken."
	msgEmailTaken = "An account with this email address already exists."
	msgBadEmail   = "Enter a valid email address, such as name@example.com."
	msgMismatch   = "The two passwords do not match."
	msgBadLogin   = "The user name, email or password is not right."
	msgForbidden  = "This form has expired"
)

// TestRegisterValidation checks every rule: its message next to its field,
// what was typed kept, the passwords never sent back. Each case gets its own
// server: failed sign-ups count against the per-IP registration limit.
func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	const goodPW = "correct horse battery"
	tests := []struct {
		name                  string
		username, email, pw   string
		confirm               string // defaults to pw
		field, want           string
		keepUsername, keepEml bool
	}{
		{name: "user name empty", username: "", email: "a@example.com", pw: goodPW,
			field: "username", want: "Enter a user name."},
		{name: "user name too short", username: "al", email: "al@example.com", pw: goodPW,
			field: "username", want: "A user name needs at least 3 characters."},
		{name: "user name too long", username: strings.Repeat("a", 33), email: "a@example.com", pw: goodPW,
			field: "username", want: "A user name can have at most 32 characters."},
		{name: "user name bad characters", username: "al ice!", email: "a@example.com", pw: goodPW,
			field: "username", want: "Use only letters, digits, dots (.), dashes (-) and underscores (_)."},
		{name: "user name with markup", username: "<b>x</b>", email: "a@example.com", pw: goodPW,
			field: "username", want: "Use only letters, digits, dots (.), dashes (-) and underscores (_)."},
		{name: "email empty", username: "alice", email: "", pw: goodPW,
			field: "email", want: "Enter an email address."},
		{name: "email without domain", username: "alice", email: "alice@", pw: goodPW,
			field: "email", want: msgBadEmail},
		{name: "email without dot in domain", username: "alice", email: "alice@localhost", pw: goodPW,
			field: "email", want: msgBadEmail},
		{name: "email with display name", username: "alice", email: "Alice <alice@example.com>", pw: goodPW,
			field: "email", want: msgBadEmail},
		{name: "email header injection", username: "alice", email: "alice@example.com\r\nBcc: x@evil.example", pw: goodPW,
			field: "email", want: msgBadEmail},
		{name: "password empty", username: "alice", email: "alice@example.com", pw: "",
			field: "password", want: "Enter a password."},
		{name: "password 7 characters", username: "alice", email: "alice@example.com", pw: "xkq7#mz",
			field: "password", want: "This password is too short. It must contain at least 8 characters."},
		{name: "password common", username: "alice", email: "alice@example.com", pw: "password1",
			field: "password", want: "This password is too common."},
		{name: "password common in capitals", username: "alice", email: "alice@example.com", pw: "PASSWORD1",
			field: "password", want: "This password is too common."},
		{name: "password numeric", username: "alice", email: "alice@example.com", pw: "90817263545",
			field: "password", want: "This password is entirely numeric."},
		{name: "password like user name", username: "marguerite", email: "owner@example.com", pw: "marguerite77",
			field: "password", want: "This password is too similar to the user name."},
		{name: "password like email", username: "alice", email: "bartholomew@example.com", pw: "bartholomew!",
			field: "password", want: "This password is too similar to the email address."},
		{name: "password 129 bytes", username: "alice", email: "alice@example.com", pw: strings.Repeat("x", 129),
			field: "password", want: "This password is too long. It must contain at most 128 bytes (accented letters and emoji take 2 to 4 each)."},
		{name: "confirmation differs", username: "alice", email: "alice@example.com", pw: goodPW, confirm: goodPW + "!",
			field: "password_confirm", want: msgMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			c := h.client()
			confirm := tt.confirm
			if confirm == "" {
				confirm = tt.pw
			}
			res := submit(t, c, "/register", "/register", url.Values{
				"username": {tt.username}, "email": {tt.email},
				"password": {tt.pw}, "password_confirm": {confirm},
			})
			wantPage(t, res, http.StatusUnprocessableEntity)
			if got := fieldError(res.Body, tt.field); got != tt.want {
				t.Errorf("error next to %s = %q, want %q", tt.field, got, tt.want)
			}
			for _, f := range []string{"username", "email", "password", "password_confirm"} {
				if f != tt.field && fieldError(res.Body, f) != "" {
					t.Errorf("unexpected error next to %s: %q", f, fieldError(res.Body, f))
				}
			}
			if got := inputValue(t, res.Body, "/register", "username"); got != strings.TrimSpace(tt.username) {
				t.Errorf("user name field = %q, want %q kept", got, tt.username)
			}
			// HTML turns CR LF into LF in attribute values.
			if got := inputValue(t, res.Body, "/register", "email"); got != strings.ReplaceAll(tt.email, "\r\n", "\n") {
				t.Errorf("email field = %q, want %q kept", got, tt.email)
			}
			for _, f := range []string{"password", "password_confirm"} {
				if got := inputValue(t, res.Body, "/register", f); got != "" {
					t.Errorf("%s field sent back: %q", f, got)
				}
			}
			if tt.pw != "" && strings.Contains(res.Body, tt.pw) {
				t.Error("the password is in the page")
			}
			var n int
			h.DB.SQL.QueryRow(`SELECT count(*) FROM users`).Scan(&n)
			if n != 0 {
				t.Errorf("%d users created", n)
			}
		})
	}
}

func TestRegisterAcceptsLongUnicodePassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// 64 characters with spaces and emoji, 100 bytes: within the limit.
	pw := "sunny 🌞 meadow " + strings.Repeat("é", 20) + " trail " + strings.Repeat("ß", 20)
	pw += strings.Repeat("z", 64-len([]rune(pw)))
	if n := len([]rune(pw)); n != 64 || len(pw) > password.MaxLength {
		t.Fatalf("test password has %d characters, %d bytes", n, len(pw))
	}
	h.signedUp("hiker", "hiker@example.com", pw)
	if err := h.client().Login("hiker", pw); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterDuplicatesInOtherCase(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("Alice", "Alice@Example.com", "correct horse battery")
	tests := []struct {
		name, username, email, field, want string
	}{
		{"user name", "aLiCe", "other@example.com", "username", msgTaken},
		{"email", "bob", "ALICE@example.COM", "email", msgEmailTaken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := submit(t, h.client(), "/register", "/register", url.Values{
				"username": {tt.username}, "email": {tt.email},
				"password": {"staple tuning fork"}, "password_confirm": {"staple tuning fork"},
			})
			wantPage(t, res, http.StatusUnprocessableEntity)
			if got := fieldError(res.Body, tt.field); got != tt.want {
				t.Errorf("error next to %s = %q, want %q", tt.field, got, tt.want)
			}
			if got := inputValue(t, res.Body, "/register", "email"); got != tt.email {
				t.Errorf("email field = %q, want %q kept", got, tt.email)
			}
		})
	}
}

func TestRegisterSignsIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedUp("alice", "alice@example.com", "correct horse battery")
	if got := signedInAs(t, c); got != "alice" {
		t.Errorf("signed in as %q, want alice", got)
	}
	// A signed-in user asking for the forms goes to the lobby.
	for _, p := range []string{"/", "/register", "/login"} {
		wantRedirect(t, get(t, c, p), "/rooms")
	}
}

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

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	pages := map[string]*struct{ status int }{
		"/":                     {http.StatusOK},
		"/login":                {http.StatusOK},
		"/register":             {http.StatusOK},
		"/password/forgot":      {http.StatusOK},
		"/no/such/page":         {http.StatusNotFound},
		"/password/reset/bogus": {http.StatusBadRequest},
	}
	for path, p := range pages {
		res := get(t, c, path)
		if res.Status != p.status {
			t.Errorf("%s: status %d, want %d", path, res.Status, p.status)
		}
		hd := res.Header
		csp := hd.Get("Content-Security-Policy")
		for _, d := range []string{"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'", "script-src 'self'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe code: %q", path, csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
			"Content-Type":           "text/html; charset=utf-8",
			"X-Frame-Options":        "DENY",
		} {
			if got := hd.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		if hd.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS header present", path)
		}
	}
	// Pages with personal data stay out of caches.
	for _, path := range []string{"/login", "/register", "/password/forgot"} {
		if got := get(t, c, path).Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control = %q, want no-store", path, got)
		}
	}
}

// setCookies parses a response's Set-Cookie headers by name.
func setCookies(hd http.Header) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, ck := range (&http.Response{Header: hd}).Cookies() {
		out[ck.Name] = ck
	}
	return out
}

func TestCookieFlagsOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := get(t, h.client(), "/login")
	cookies := setCookies(res.Header)
	for _, name := range []string{"natter_session", "csrf_"} {
		ck := cookies[name]
		if ck == nil {
			t.Errorf("no %s cookie in %q", name, res.Header.Values("Set-Cookie"))
			continue
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.Secure {
			t.Errorf("%s: %q, want HttpOnly, SameSite=Lax, Path=/, no Domain, not Secure over http", name, ck.Raw)
		}
	}
}

// TestCookieFlagsOverHTTPS builds the app for an https base URL and asks it
// for the sign-in page through Fiber's in-memory Test.
func TestCookieFlagsOverHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // for its database, mailer and other parts
	app, err := handlers.New(handlers.Config{BaseURL: "https://chat.example"}, h.Deps)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	req, _ := http.NewRequest(http.MethodGet, "https://chat.example/login", nil)
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	cookies := setCookies(res.Header)
	for _, name := range []string{"__Host-natter_session", "__Host-csrf_"} {
		ck := cookies[name]
		if ck == nil {
			t.Errorf("no %s cookie in %q", name, res.Header.Values("Set-Cookie"))
			continue
		}
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("%s: %q, want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", name, ck.Raw)
		}
	}
	if _, ok := cookies["natter_session"]; ok {
		t.Error("the un-prefixed session cookie is set over https")
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "wss://chat.example") {
		t.Errorf("CSP %q does not allow the wss origin", csp)
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
