package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Scenario 5: Erin forgot her password; the mailed link lets her choose a
// new one, and she signs in with it.
func TestPasswordResetByMail(t *testing.T) {
	e := startEnv(t, nil)
	erin := e.newUser("erin")
	erin.register()
	erin.do("sign out", clickAndLoad(`form[action="/logout"] button[type=submit]`), chromedp.WaitVisible(chromedp.ID("f-username")))

	erin.do("follow the forgot link",
		clickAndLoad(`a[href="/password/forgot"]`),
		chromedp.WaitVisible(chromedp.ID("f-email")))
	erin.do("ask for a reset link",
		fill("#f-email", erin.email),
		clickAndLoad(`form[action="/password/forgot"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="forgot-sent"]`)))
	want := "If an account uses this address, a link to reset its password is on its way. It works for one hour. No mail after a few minutes? Check the spam folder, or ask again."
	if got := erin.text(`[data-testid="forgot-sent"]`); got != want {
		t.Errorf("after asking: %q, want %q", got, want)
	}

	msg := e.mail.WaitFor(t, erin.email, 20*time.Second)
	link := msg.Link(e.base + "/password/reset/")
	if link == "" {
		t.Fatalf("no reset link in the mail:\n%s", msg.TextBody())
	}
	erin.do("open the mailed link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("f-password")))
	if got := erin.path(); got != "/password/reset/set" {
		t.Errorf("the reset form is at %s, want /password/reset/set (the token leaves the address bar)", got)
	}
	if got := erin.text("main form p"); got != "For the account erin." {
		t.Errorf("reset form says %q, want %q", got, "For the account erin.")
	}
	newPassword := "a brand new winter lighthouse"
	erin.do("set the new password",
		fill("#f-password", newPassword),
		fill("#f-password_confirm", newPassword),
		clickAndLoad(`main form button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-username")))
	if got := erin.path(); got != "/login?reset=1" {
		t.Errorf("after the reset the page is %s, want /login?reset=1", got)
	}
	if got := erin.text(`main [role="status"]`); got != "Your password has been changed. Sign in with the new one." {
		t.Errorf("sign-in page notice %q", got)
	}

	// The old password no longer works; the new one does.
	erin.signIn(erin.password)
	erin.do("see the refusal", chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-error"]`)))
	erin.signIn(newPassword)
	erin.do("reach the lobby", chromedp.WaitVisible(chromedp.ID("room-list")))
	if got := erin.text(`[data-testid="current-user"]`); got != "erin" {
		t.Errorf("signed in as %q, want erin", got)
	}
	// The link was single use.
	erin.do("reuse the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`[data-testid="reset-invalid"]`)))
	erin.noScriptErrors()
}

// Scenario 6: mistakes in the registration and sign-in forms are shown
// next to their fields, and what was typed (but never a password) stays.
func TestFormErrorsKeepTypedValues(t *testing.T) {
	e := startEnv(t, nil)
	gina := e.newUser("gina")
	gina.open("/register", "#f-username")
	gina.do("register with mistakes",
		fill("#f-username", "g!na"),
		fill("#f-email", "gina-at-example"),
		fill("#f-password", "sunshine-lantern-42"),
		fill("#f-password_confirm", "sunshine-lantern-43"),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="username"]`)))
	wantErrors := map[string]string{
		"username": "Use only letters, digits, dots (.), dashes (-) and underscores (_).",
		"email":    "Enter a valid email address, such as name@example.com.",
		// The password itself is fine, so its confirmation is checked too.
		"password_confirm": "The two passwords do not match.",
	}
	gina.checkFieldErrors(wantErrors)
	gina.checkValues(map[string]string{"username": "g!na", "email": "gina-at-example", "password": "", "password_confirm": ""})

	// Fix name and address; the passwords still differ.
	gina.do("correct the name and address",
		fill("#f-username", "gina"),
		fill("#f-email", "gina@example.com"),
		fill("#f-password", "sunshine-lantern-42"),
		fill("#f-password_confirm", "sunshine-lantern-43"),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="password_confirm"]`)))
	gina.checkFieldErrors(map[string]string{"password_confirm": "The two passwords do not match."})
	gina.checkValues(map[string]string{"username": "gina", "email": "gina@example.com", "password": ""})
	gina.register()

	// A second account with the same name (any case) is refused at the field.
	other := e.newUser("other")
	other.open("/register", "#f-username")
	other.do("register a taken name",
		fill("#f-username", "GINA"),
		fill("#f-email", "someone@example.com"),
		fill("#f-password", other.password),
		fill("#f-password_confirm", other.password),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="username"]`)))
	other.checkFieldErrors(map[string]string{"username": "This user name is taken."})
	other.checkValues(map[string]string{"username": "GINA", "email": "someone@example.com"})

	// A wrong password: one message for the form, the name kept.
	other.open("/login", "#f-username")
	other.do("sign in wrongly",
		fill("#f-username", "gina"),
		fill("#f-password", "not her password"),
		clickAndLoad(`form[action="/login"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-error"]`)))
	if got := other.text(`[data-testid="form-error"]`); got != "The user name, email or password is not right." {
		t.Errorf("sign-in error %q", got)
	}
	other.checkValues(map[string]string{"username": "gina", "password": ""})
	if focus := eval[bool](other, `document.querySelector('[data-testid="form-error"]').compareDocumentPosition(document.getElementById('f-username')) === Node.DOCUMENT_POSITION_FOLLOWING`); !focus {
		t.Error("the sign-in error is not above the fields")
	}
	gina.noScriptErrors()
	other.noScriptErrors()
}

// checkFieldErrors checks that exactly the fields in want show an error,
// with want's text, right under the field and tied to it for screen
// readers (aria-describedby, aria-invalid).
func (u *user) checkFieldErrors(want map[string]string) {
	u.t.Helper()
	got := eval[map[string]string](u, `(function(){var out={};
		document.querySelectorAll('main form [data-error-for]').forEach(function(p){
			var name=p.dataset.errorFor, input=document.querySelector('main form [name="'+name+'"]');
			var ok = input && input.getAttribute('aria-invalid')==='true' &&
				input.getAttribute('aria-describedby')===p.id && p.previousElementSibling===input;
			out[name]=(ok?'':'NOT NEXT TO ITS FIELD: ')+p.innerText.trim();
		});return out;})()`)
	if len(got) != len(want) {
		u.t.Errorf("%s: field errors %q, want %q", u.name, got, want)
	}
	for name, text := range want {
		if got[name] != text {
			u.t.Errorf("%s: error for %s is %q, want %q", u.name, name, got[name], text)
		}
	}
}

// checkValues checks what the form fields hold.
func (u *user) checkValues(want map[string]string) {
	u.t.Helper()
	for name, v := range want {
		got := eval[string](u, `document.querySelector('main form [name="`+name+`"]').value`)
		if got != v {
			u.t.Errorf("%s: field %s holds %q, want %q", u.name, name, got, v)
		}
	}
}
