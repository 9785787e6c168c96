package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The first account is the admin: told so in the lobby, it makes sign-up
// invitation-only and invites a colleague, who signs up with the link; a
// visitor without one is told how to get in. The admin page and the
// refusal are photographed at every size and scheme.
func TestAdminInvitesAUser(t *testing.T) {
	e := startEnv(t, nil)
	dir := screenshotDir(t)
	ana := e.newUser("ana")
	ana.register()
	if got := ana.text(`[data-testid="admin-welcome"]`); !strings.HasPrefix(got, "You are the admin of this Natter.") {
		t.Fatalf("the first admin's lobby says %q", got)
	}
	ana.shoot(dir, "20-lobby-first-admin")
	ana.do("follow the link to the admin page",
		clickAndLoad(`[data-testid="admin-welcome"] a[href="/admin"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="accounts"]`)))
	ana.do("make sign-up invitation-only",
		chromedp.Click(chromedp.CSS(`input[name="mode"][value="invite"]`)),
		clickAndLoad(`form[action="/admin/signup"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`main [role="status"]`)))
	if got := ana.text(`main [role="status"]`); got != "Sign-up is now by invitation only." {
		t.Errorf("notice %q", got)
	}
	ana.do("make an invitation",
		clickAndLoad(`form[action="/admin/invites"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invite-link"]`)))
	link := eval[string](ana, `(function(){var u=new URL(document.querySelector('[data-testid="invite-link"]').value);return u.pathname+u.search;})()`)
	if !strings.HasPrefix(link, "/register?invite=") {
		t.Fatalf("invitation link %q", link)
	}
	ana.shoot(dir, "21-admin-new-invitation")

	dee := e.newUser("dee")
	dee.open("/register", "h1")
	if got := dee.text("main h1"); got != "Sign-up is by invitation" {
		t.Errorf("sign-up without a link: heading %q", got)
	}
	dee.shoot(dir, "22-register-by-invitation")

	cyd := e.newUser("cyd")
	cyd.open(link, "#f-username")
	cyd.do("sign up with the link",
		fill("#f-username", cyd.name),
		fill("#f-email", cyd.email),
		fill("#f-password", cyd.password),
		fill("#f-password_confirm", cyd.password),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("room-list")))
	if got := cyd.text(`[data-testid="current-user"]`); got != "cyd" {
		t.Errorf("after signing up with the link the header shows %q", got)
	}

	ana.open("/admin", `[data-testid="accounts"]`)
	if got := ana.text(`[data-testid="invite-state"]`); !strings.HasPrefix(got, "used by cyd on ") {
		t.Errorf("the invitation reads %q", got)
	}
	ana.shoot(dir, "23-admin")
	ana.noScriptErrors()
	cyd.noScriptErrors()
}
