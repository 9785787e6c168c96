package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"natter/client"
	"natter/mail/mailtest"
	"natter/views"
)

const (
	msgForgotSent   = "If an account uses this address, a link to reset its password is on its way."
	msgResetInvalid = "The password reset link is invalid, has already been used, or has expired"
	mailWait        = 5 * time.Second
	// mailQuiet is how long a test gives mail it expects not to come.
	mailQuiet = 200 * time.Millisecond
)

// forgot asks for a reset link for email on a fresh client.
func forgot(t *testing.T, h *harness, email string) *client.Response {
	t.Helper()
	return submit(t, h.client(), "/password/forgot", "/password/forgot", url.Values{"email": {email}})
}

// resetToken returns the token of the reset link in m, checking the link
// is built from the base URL.
func resetLinkToken(t *testing.T, h *harness, m mailtest.Received) (link, token string) {
	t.Helper()
	prefix := h.URL + "/password/reset/"
	link = m.Link(prefix)
	if link == "" {
		t.Fatalf("no link starting %s in:\n%s", prefix, m.TextBody())
	}
	token = strings.TrimPrefix(link, prefix)
	if len(token) != 43 {
		t.Fatalf("token %q has %d characters, want 43", token, len(token))
	}
	return link, token
}

// aliceResetLink signs alice up, asks for a reset link for her and
// returns the link from the mail.
func aliceResetLink(t *testing.T, h *harness) string {
	t.Helper()
	h.signedUp("alice", "alice@example.com", pwAlice)
	forgot(t, h, "alice@example.com")
	link, _ := resetLinkToken(t, h, h.Mail.WaitFor(t, "alice@example.com", mailWait))
	return link
}

// followLink opens a reset link as the mail's reader would, and returns the
// form it lands on.
func followLink(t *testing.T, c *client.Client, h *harness, link string) *client.Response {
	t.Helper()
	wantRedirect(t, get(t, c, strings.TrimPrefix(link, h.URL)), "/password/reset/set")
	return get(t, c, "/password/reset/set")
}

func TestResetFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := h.signedUp("alice", "alice@example.com", pwAlice)
	old2 := h.client()
	if err := old2.Login("alice@example.com", pwAlice); err != nil {
		t.Fatal(err)
	}

	wantPage(t, forgot(t, h, "alice@example.com"), http.StatusOK, msgForgotSent)
	m := h.Mail.WaitFor(t, "alice@example.com", mailWait)
	if m.Subject() != views.ResetEmailSubject {
		t.Errorf("subject %q", m.Subject())
	}
	link, token := resetLinkToken(t, h, m)
	text, htmlPart := m.TextBody(), m.HTMLBody()
	for _, want := range []string{"Hello alice,", link, "one hour", "If you did not ask for this"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
		if !strings.Contains(htmlPart, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, htmlPart)
		}
	}
	if !strings.Contains(htmlPart, `href="`+link+`"`) {
		t.Errorf("HTML part has no link to %s", link)
	}

	// The link moves the token into the session; the page never shows it.
	c := h.client()
	form := followLink(t, c, h, link)
	wantPage(t, form, http.StatusOK, "Choose a new password", "alice")
	if strings.Contains(form.Body, token) {
		t.Error("the reset page contains the token")
	}
	if got := form.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	if got := form.Header.Get("Referrer-Policy"); got != "same-origin" {
		t.Errorf("Referrer-Policy %q", got)
	}

	const newPW = "ultraviolet pancake"
	res := submit(t, c, "/password/reset/set", "/password/reset/set", url.Values{"password": {newPW}, "password_confirm": {newPW}})
	wantRedirect(t, res, "/login?reset=1")
	wantPage(t, get(t, c, "/login?reset=1"), http.StatusOK, "Your password has been changed. Sign in with the new one.")

	if err := h.client().Login("alice", newPW); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := h.client().Login("alice", pwAlice); err == nil {
		t.Error("the old password still works")
	}
	for i, s := range []*client.Client{old, old2} {
		if got := signedInAs(t, s); got != "" {
			t.Errorf("old session %d still signed in as %q", i, got)
		}
	}
	// The same link again, and the clean URL with the old session.
	wantPage(t, get(t, h.client(), strings.TrimPrefix(link, h.URL)), http.StatusBadRequest, msgResetInvalid, `href="/password/forgot"`)
	wantPage(t, get(t, c, "/password/reset/set"), http.StatusBadRequest, msgResetInvalid)
	h.waitLog(time.Second, "password reset", "user=1")
	if strings.Contains(h.Log.String(), token) {
		t.Error("the token is in the log")
	}
}

func TestResetLinkWhileSignedIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedUp("alice", "alice@example.com", pwAlice)
	wantPage(t, submit(t, c, "/password/forgot", "/password/forgot", url.Values{"email": {"alice@example.com"}}), http.StatusOK, msgForgotSent)
	link, _ := resetLinkToken(t, h, h.Mail.WaitFor(t, "alice@example.com", mailWait))
	followLink(t, c, h, link)
	const newPW = "ultraviolet pancake"
	res := submit(t, c, "/password/reset/set", "/password/reset/set", url.Values{"password": {newPW}, "password_confirm": {newPW}})
	wantRedirect(t, res, "/login?reset=1")
	if got := signedInAs(t, c); got != "" {
		t.Errorf("still signed in as %q after the reset", got)
	}
}

func TestResetExpired(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	link := aliceResetLink(t, h)

	// Followed in time, then left open past the hour.
	c := h.client()
	wantPage(t, followLink(t, c, h, link), http.StatusOK, "Choose a new password")
	h.AdvanceClock(time.Hour + time.Second)
	wantPage(t, get(t, c, "/password/reset/set"), http.StatusBadRequest, msgResetInvalid)
	res := post(t, c, "/password/reset/set", url.Values{"csrf": {c.Cookie("csrf_")}, "password": {"ultraviolet pancake"}, "password_confirm": {"ultraviolet pancake"}})
	wantPage(t, res, http.StatusBadRequest, msgResetInvalid)
	wantPage(t, get(t, h.client(), strings.TrimPrefix(link, h.URL)), http.StatusBadRequest, msgResetInvalid)
	if err := h.client().Login("alice", pwAlice); err != nil {
		t.Errorf("password changed by an expired link: %v", err)
	}
}

// TestForgotRevealsNothing: an unknown address gets the same page, and no
// mail goes out for it.
func TestForgotRevealsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", pwAlice)
	unknown := forgot(t, h, "nobody@example.com")
	known := forgot(t, h, "alice@example.com")
	wantPage(t, known, http.StatusOK, msgForgotSent)
	if unknown.Status != known.Status || withoutCSRF(unknown.Body) != withoutCSRF(known.Body) {
		t.Errorf("answers differ: %d vs %d\n%s\n---\n%s", unknown.Status, known.Status, unknown.Body, known.Body)
	}
	h.Mail.WaitFor(t, "alice@example.com", mailWait)
	h.Mail.Settle("", 1, mailQuiet)
	if n := h.mailsTo("nobody@example.com"); n != 0 {
		t.Errorf("%d mails to the unknown address", n)
	}
	if n := len(h.Mail.Messages()); n != 1 {
		t.Errorf("%d mails in all, want 1", n)
	}
}

// TestForgotMailsTheStoredAddress: the mail goes where the account says,
// never to the spelling that was typed (Django's CVE-2019-19844).
func TestForgotMailsTheStoredAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "Alice@Example.com", pwAlice)
	// A look-alike with a dotted capital I (Django's CVE-2019-19844) folds
	// to the same account here (Go lower-cases İ to i), so its mail must go
	// to the stored address too, never to the spelling typed.
	forgot(t, h, "alİce@example.com")
	wantPage(t, forgot(t, h, "ALICE@EXAMPLE.COM"), http.StatusOK, msgForgotSent)
	m := h.Mail.WaitFor(t, "Alice@Example.com", mailWait)
	if got := m.Header("To"); !strings.Contains(got, "<Alice@Example.com>") {
		t.Errorf("To header %q", got)
	}
	h.Mail.Settle("", h.Mail.WaitCount("", 2, mailWait), mailQuiet)
	msgs := h.Mail.Messages()
	if len(msgs) != 2 {
		t.Errorf("%d mails, want 2", len(msgs))
	}
	for _, m := range msgs {
		if len(m.To) != 1 || m.To[0] != "Alice@Example.com" {
			t.Errorf("mail to %q, want only the stored address", m.To)
		}
	}
}

// TestResetLinkIgnoresHost: the link comes from the base URL, whatever
// Host or forwarding headers the request carries.
func TestResetLinkIgnoresHost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", pwAlice)
	c := h.client()
	page := get(t, c, "/password/forgot")
	form := url.Values{"email": {"alice@example.com"}, "csrf": {inputValue(t, page.Body, "/password/forgot", "csrf")}}
	req, _ := http.NewRequest(http.MethodPost, c.URL("/password/forgot"), strings.NewReader(form.Encode()))
	req.Host = "evil.example"
	// Go's client picks cookies by Host when it is set; send them by hand.
	req.Header.Set("Cookie", c.CookieHeader())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Forwarded", "host=evil.example;proto=https")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, res, http.StatusOK, msgForgotSent)
	m := h.Mail.WaitFor(t, "alice@example.com", mailWait)
	resetLinkToken(t, h, m)
	if strings.Contains(string(m.Raw), "evil.example") {
		t.Errorf("the mail mentions evil.example:\n%s", m.Raw)
	}
}

// TestForgotWithSMTPDown: the page is the same and the failure is logged.
func TestForgotWithSMTPDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smtpDown)
	h.signedUp("alice", "alice@example.com", pwAlice)
	unknown := forgot(t, h, "nobody@example.com")
	start := time.Now()
	known := forgot(t, h, "alice@example.com")
	if d := time.Since(start); d > time.Second {
		t.Errorf("the request waited %v on the mail", d)
	}
	wantPage(t, known, http.StatusOK, msgForgotSent)
	if unknown.Status != known.Status || withoutCSRF(unknown.Body) != withoutCSRF(known.Body) {
		t.Error("the answer differs when mail fails")
	}
	line := h.waitLog(5*time.Second, "mail not sent: giving up", "to=alice@example.com", "connection refused")
	if !strings.Contains(line, "level=ERROR") {
		t.Errorf("failure logged as %q", line)
	}
	if strings.Contains(h.Log.String(), "/password/reset/") {
		t.Error("the failure log holds the reset link")
	}
}

func TestResetMalformedTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name, path string
		status     int
	}{
		{"empty", "/password/reset/", http.StatusNotFound},
		{"one character", "/password/reset/a", http.StatusBadRequest},
		{"42 characters", "/password/reset/" + strings.Repeat("A", 42), http.StatusBadRequest},
		{"unknown 43 characters", "/password/reset/" + strings.Repeat("A", 43), http.StatusBadRequest},
		{"44 characters", "/password/reset/" + strings.Repeat("A", 44), http.StatusBadRequest},
		{"non-base64", "/password/reset/" + strings.Repeat("*", 43), http.StatusBadRequest},
		{"standard base64 alphabet", "/password/reset/" + strings.Repeat("+", 43), http.StatusBadRequest},
		{"SQL", "/password/reset/" + url.PathEscape("' OR 1=1--"), http.StatusBadRequest},
		{"SQL 43 characters", "/password/reset/" + url.PathEscape("' OR 1=1--"+strings.Repeat("x", 33)), http.StatusBadRequest},
		{"invalid UTF-8", "/password/reset/%ff%fe%fd", http.StatusBadRequest},
		{"encoded slash", "/password/reset/..%2F..%2Fetc%2Fpasswd", http.StatusBadRequest},
		{"2 KB", "/password/reset/" + strings.Repeat("A", 2048), http.StatusBadRequest},
		// Longer than the server's 4 KB read buffer: fasthttp refuses the
		// request line itself.
		{"10 KB", "/password/reset/" + strings.Repeat("A", 10240), http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.client()
			res := get(t, c, tt.path)
			if res.Status != tt.status {
				t.Fatalf("GET: status %d, want %d\n%.500s", res.Status, tt.status, res.Body)
			}
			if tt.status == http.StatusBadRequest {
				wantPage(t, res, http.StatusBadRequest, msgResetInvalid)
			}
			if tt.status == http.StatusBadRequest {
				// And the form post, with a valid CSRF token.
				page := get(t, c, "/password/forgot")
				form := url.Values{"csrf": {inputValue(t, page.Body, "/password/forgot", "csrf")},
					"password": {"ultraviolet pancake"}, "password_confirm": {"ultraviolet pancake"}}
				wantPage(t, post(t, c, tt.path, form), http.StatusBadRequest, msgResetInvalid)
			}
		})
	}
	t.Run("clean URL without a token in the session", func(t *testing.T) {
		wantPage(t, get(t, h.client(), "/password/reset/set"), http.StatusBadRequest, msgResetInvalid)
	})
	if strings.Contains(h.Log.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", h.Log.String())
	}
}

// TestForgotPerAddressLimit: the sixth request for one address in an hour
// sends nothing but shows the same page.
func TestForgotPerAddressLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", pwAlice)
	var first *client.Response
	for i := 1; i <= 6; i++ {
		email := "alice@example.com"
		if i == 6 {
			email = "ALICE@example.com" // the limit is on the account, not the spelling
		}
		res := forgot(t, h, email)
		wantPage(t, res, http.StatusOK, msgForgotSent)
		if first == nil {
			first = res
		} else if withoutCSRF(res.Body) != withoutCSRF(first.Body) {
			t.Errorf("answer %d differs", i)
		}
		if i == 5 {
			h.Mail.WaitCount("alice@example.com", 5, mailWait)
		}
	}
	h.waitLog(time.Second, "reset request over the limit")
	h.Mail.Settle("alice@example.com", 5, mailQuiet)
	if n := h.mailsTo("alice@example.com"); n != 5 {
		t.Errorf("%d mails sent, want 5", n)
	}
}

func TestResetFormChecks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	link := aliceResetLink(t, h)
	c := h.client()
	followLink(t, c, h, link)

	t.Run("without CSRF token", func(t *testing.T) {
		wantPage(t, post(t, c, "/password/reset/set", url.Values{"password": {"ultraviolet pancake"}, "password_confirm": {"ultraviolet pancake"}}),
			http.StatusForbidden, msgForbidden)
	})
	tests := []struct {
		name, pw, confirm, field, want string
	}{
		{"confirmation differs", "ultraviolet pancake", "ultraviolet pancakes", "password_confirm", msgMismatch},
		{"too short", "xkq7#mz", "xkq7#mz", "password", "This password is too short. It must contain at least 8 characters."},
		{"common", "password1", "password1", "password", "This password is too common."},
		{"numeric", "90817263545", "90817263545", "password", "This password is entirely numeric."},
		{"empty", "", "", "password", "Enter a password."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := submit(t, c, "/password/reset/set", "/password/reset/set", url.Values{"password": {tt.pw}, "password_confirm": {tt.confirm}})
			wantPage(t, res, http.StatusUnprocessableEntity, "Choose a new password")
			if got := fieldError(res.Body, tt.field); got != tt.want {
				t.Errorf("error next to %s = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
	// The link still works after the refusals.
	res := submit(t, c, "/password/reset/set", "/password/reset/set", url.Values{"password": {"ultraviolet pancake"}, "password_confirm": {"ultraviolet pancake"}})
	wantRedirect(t, res, "/login?reset=1")
}

func TestForgotBadAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, email := range []string{"not-an-address", "alice@example.com\r\nBcc: x@evil.example"} {
		res := forgot(t, h, email)
		wantPage(t, res, http.StatusUnprocessableEntity)
		if got := fieldError(res.Body, "email"); got != msgBadEmail {
			t.Errorf("%q: error %q", email, got)
		}
	}
	h.Mail.Settle("", 0, mailQuiet/2)
	if n := len(h.Mail.Messages()); n != 0 {
		t.Errorf("%d mails sent", n)
	}
}

// TestForgotLimitKeysAreStable: the per-address count survives other
// requests on the same connection, whose bytes reuse the server's request
// buffers (a limiter key that aliases them changes under the map).
func TestForgotLimitKeysAreStable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Whether buffers are reused between two requests is up to fasthttp,
	// so the loop below catches aliasing only sometimes; this does always.
	if !h.App.Config().Immutable {
		t.Error("fiber.Config.Immutable is off: request strings alias reused buffers")
	}
	h.signedUp("alice", "alice@example.com", pwAlice)
	c := h.client()
	tok := inputValue(t, get(t, c, "/password/forgot").Body, "/password/forgot", "csrf")
	for i := 1; i <= 7; i++ {
		for _, email := range []string{"alice@example.com", "bobby@example.com"} {
			wantPage(t, post(t, c, "/password/forgot", url.Values{"csrf": {tok}, "email": {email}}), http.StatusOK, msgForgotSent)
		}
	}
	h.waitLog(time.Second, "reset request over the limit")
	h.Mail.Settle("alice@example.com", h.Mail.WaitCount("alice@example.com", 5, mailWait), mailQuiet)
	if n := h.mailsTo("alice@example.com"); n != 5 {
		t.Errorf("%d mails sent, want 5", n)
	}
}
