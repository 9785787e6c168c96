package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const pwAlice = "correct horse battery"

// changePasswordForm is what the profile page's password form posts.
func changePasswordForm(current, pw, confirm string) url.Values {
	return url.Values{"form": {"password"}, "current_password": {current}, "password": {pw}, "password_confirm": {confirm}}
}

func TestProfileChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", pwAlice)
	h.signedUp("bob", "bob@example.com", "staple tuning fork")

	tests := []struct {
		name, username, email, field, want string
	}{
		{"user name too short", "al", "alice@example.com", "username", "A user name needs at least 3 characters."},
		{"user name too long", strings.Repeat("a", 33), "alice@example.com", "username", "A user name can have at most 32 characters."},
		{"user name bad characters", "ali ce", "alice@example.com", "username", "Use only letters, digits, dots (.), dashes (-) and underscores (_)."},
		{"user name of another in other case", "BOB", "alice@example.com", "username", msgTaken},
		{"bad email", "alice", "alice@example", "email", msgBadEmail},
		{"email header injection", "alice", "alice@example.com\r\nBcc: x@evil.example", "email", msgBadEmail},
		{"email of another in other case", "alice", "Bob@Example.COM", "email", msgEmailTaken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {tt.username}, "email": {tt.email}, "email_password": {pwAlice}})
			wantPage(t, res, http.StatusUnprocessableEntity)
			if got := fieldError(res.Body, tt.field); got != tt.want {
				t.Errorf("error next to %s = %q, want %q", tt.field, got, tt.want)
			}
			if got := inputValue(t, res.Body, "/account", "username"); got != tt.username {
				t.Errorf("user name field = %q, want %q kept", got, tt.username)
			}
		})
	}
	if got := signedInAs(t, alice); got != "alice" {
		t.Fatalf("a refused change renamed alice to %q", got)
	}

	res := submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"Alicia"}, "email": {"alicia@example.org"}, "email_password": {pwAlice}})
	wantRedirect(t, res, "/account?saved=email")
	page := get(t, alice, "/account?saved=email")
	wantPage(t, page, http.StatusOK, "Your profile has been saved.")
	if u, e := inputValue(t, page.Body, "/account", "username"), inputValue(t, page.Body, "/account", "email"); u != "Alicia" || e != "alicia@example.org" {
		t.Errorf("profile shows %q %q", u, e)
	}
	// Her own name in another letter case is still hers.
	wantRedirect(t, submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"ALICIA"}, "email": {"alicia@example.org"}}), "/account?saved=profile")
	if err := h.client().Login("alicia@example.org", pwAlice); err != nil {
		t.Errorf("sign in with the new address: %v", err)
	}
	if err := h.client().Login("alice@example.com", pwAlice); err == nil {
		t.Error("the old address still signs in")
	}
}

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	here := h.signedUp("alice", "alice@example.com", pwAlice)
	elsewhere := h.client()
	if err := elsewhere.Login("alice", pwAlice); err != nil {
		t.Fatal(err)
	}
	bob := h.signedUp("bob", "bob@example.com", "staple tuning fork")
	const newPW = "ultraviolet pancake"

	tests := []struct {
		name        string
		form        url.Values
		field, want string
	}{
		{"wrong current password", changePasswordForm("wrong horse battery", newPW, newPW), "current_password", "This is not your current password."},
		{"current password over the limit", changePasswordForm(strings.Repeat("x", 129), newPW, newPW), "current_password", "This is not your current password."},
		{"new password common", changePasswordForm(pwAlice, "password1", "password1"), "password", "This password is too common."},
		{"new password like user name", changePasswordForm(pwAlice, "alice12345", "alice12345"), "password", "This password is too similar to the user name. This password is too similar to the email address."},
		{"confirmation differs", changePasswordForm(pwAlice, newPW, newPW+"."), "password_confirm", msgMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := submit(t, here, "/account", "/account", tt.form)
			wantPage(t, res, http.StatusUnprocessableEntity)
			if got := fieldError(res.Body, tt.field); got != tt.want {
				t.Errorf("error next to %s = %q, want %q", tt.field, got, tt.want)
			}
			for _, f := range []string{"current_password", "password", "password_confirm"} {
				if v := tt.form.Get(f); strings.Contains(res.Body, "value=\""+v+"\"") {
					t.Errorf("%s sent back", f)
				}
			}
		})
	}
	if got := signedInAs(t, elsewhere); got != "alice" {
		t.Fatalf("a refused change ended the other session (%q)", got)
	}

	res := submit(t, here, "/account", "/account", changePasswordForm(pwAlice, newPW, newPW))
	wantRedirect(t, res, "/account?saved=password")
	wantPage(t, get(t, here, "/account?saved=password"), http.StatusOK, "Your password has been changed, and your other sessions signed out.")
	if got := signedInAs(t, here); got != "alice" {
		t.Errorf("this session: %q, want alice kept", got)
	}
	if got := signedInAs(t, elsewhere); got != "" {
		t.Errorf("other session still signed in as %q", got)
	}
	if got := signedInAs(t, bob); got != "bob" {
		t.Errorf("bob's session: %q", got)
	}
	if err := h.client().Login("alice", pwAlice); err == nil {
		t.Error("the old password still works")
	}
	if err := h.client().Login("alice", newPW); err != nil {
		t.Errorf("the new password: %v", err)
	}
	m := h.Mail.WaitFor(t, "alice@example.com", 5*time.Second)
	if m.Subject() != "Your Natter password was changed" || !strings.Contains(m.TextBody(), "Hello alice,") {
		t.Errorf("notice: %q\n%s", m.Subject(), m.TextBody())
	}
	h.waitLog(time.Second, "password changed", "user=1")
	if strings.Contains(h.Log.String(), newPW) || strings.Contains(h.Log.String(), pwAlice) {
		t.Error("a password is in the log")
	}
}

func TestAccountNeedsSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	page := get(t, c, "/login")
	res := post(t, c, "/account", url.Values{"csrf": {inputValue(t, page.Body, "/login", "csrf")}, "form": {"profile"}, "username": {"x"}})
	wantPage(t, res, http.StatusUnauthorized, "Sign in first.")
}

// Changing the email address needs the current password (a stolen session
// must not redirect reset mails), nothing typed is lost when it is
// missing or wrong, the old address is told, and other sessions end.
func TestEmailChangeNeedsThePassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", pwAlice)
	elsewhere := h.client()
	if err := elsewhere.Login("alice", pwAlice); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, pw, want string }{
		{"no password", "", "Enter your current password to change your email address."},
		{"wrong password", "not my password", "This is not your current password."},
		{"too long a password", strings.Repeat("x", 200), "This is not your current password."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"alice2"},
				"email": {"mallory@evil.example"}, "email_password": {tt.pw}})
			wantPage(t, res, http.StatusUnprocessableEntity)
			if got := fieldError(res.Body, "email_password"); got != tt.want {
				t.Errorf("error next to the password = %q, want %q", got, tt.want)
			}
			if u, e := inputValue(t, res.Body, "/account", "username"), inputValue(t, res.Body, "/account", "email"); u != "alice2" || e != "mallory@evil.example" {
				t.Errorf("form kept %q %q, want alice2 mallory@evil.example", u, e)
			}
		})
	}
	if u, err := h.DB.UserByLogin(context.Background(), "alice"); err != nil || u.Email != "alice@example.com" {
		t.Fatalf("after refused changes: %+v, %v", u, err)
	}
	// A rename alone needs no password, and signs nobody out.
	wantRedirect(t, submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"alice2"}, "email": {"alice@example.com"}}), "/account?saved=profile")
	if got := signedInAs(t, elsewhere); got != "alice2" {
		t.Fatalf("after a rename the other session is %q", got)
	}

	res := submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"alice2"},
		"email": {"alice@new.example"}, "email_password": {pwAlice}})
	wantRedirect(t, res, "/account?saved=email")
	wantPage(t, get(t, alice, "/account?saved=email"), http.StatusOK,
		"Your profile has been saved. A notice went to your old address, and your other sessions were signed out.")
	if got := signedInAs(t, elsewhere); got != "" {
		t.Errorf("the other session is still signed in as %q", got)
	}
	if got := signedInAs(t, alice); got != "alice2" {
		t.Errorf("this session is %q, want alice2", got)
	}
	notice := h.Mail.WaitFor(t, "alice@example.com", 5*time.Second)
	if got := notice.Subject(); got != "Your Natter email address was changed" {
		t.Errorf("notice subject %q", got)
	}
	if body := strings.Join(strings.Fields(notice.TextBody()), " "); !strings.HasPrefix(body, "Hello alice2, The email address of your Natter account was changed to alice@new.example at ") {
		t.Errorf("notice text:\n%s", body)
	}
	if n := h.mailsTo("alice@new.example"); n != 0 {
		t.Errorf("%d mails to the new address, want 0", n)
	}
}
