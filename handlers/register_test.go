package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
