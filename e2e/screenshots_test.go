package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"natter/app/apptest"
)

// shotSizes are the widths every page is photographed at: a phone and a
// laptop.
var shotSizes = []struct {
	name          string
	width, height int64
}{{"phone", 390, 844}, {"desktop", 1280, 800}}

// shoot photographs the page u is on at every size in both color schemes,
// into dir as name-size-scheme.png.
func (u *user) shoot(dir, name string) {
	u.t.Helper()
	for _, size := range shotSizes {
		for _, scheme := range []string{"light", "dark"} {
			u.view(size.width, size.height, scheme)
			u.settle()
			ctx, cancel := contextWithTimeout(u)
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			cancel()
			if err != nil {
				u.t.Fatalf("screenshot %s: %v", name, err)
			}
			file := filepath.Join(dir, name+"-"+size.name+"-"+scheme+".png")
			if err := os.WriteFile(file, png, 0o644); err != nil {
				u.t.Fatal(err)
			}
		}
	}
	u.view(1280, 800, "light")
}

// TestScreenshots photographs every page at phone and desktop width, light
// and dark, so a person can look at them (the folder is logged). It also
// checks that no page breaks the content security policy.
func TestScreenshots(t *testing.T) {
	e := startEnv(t, nil)
	dir := screenshotDir(t)

	// Bob talks through the Go client, so the room has someone else in it.
	bob := e.srv.User("bob")
	bobSocket := apptest.Dial(t, bob, "general")

	visitor := e.newUser("visitor")
	visitor.open("/", "h1")
	visitor.shoot(dir, "01-landing")

	visitor.open("/register", "#f-username")
	visitor.do("register with mistakes",
		fill("#f-username", "x"),
		fill("#f-email", "not-an-address"),
		fill("#f-password", "password"),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="username"]`)))
	visitor.shoot(dir, "02-register-errors")

	visitor.open("/login", "#f-username")
	visitor.do("sign in wrongly",
		fill("#f-username", "bob"),
		fill("#f-password", "not the password"),
		clickAndLoad(`form[action="/login"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-error"]`)))
	visitor.shoot(dir, "03-login-error")

	visitor.open("/password/forgot", "#f-email")
	visitor.shoot(dir, "04-forgot")
	visitor.do("ask for a reset link",
		fill("#f-email", "bob@example.com"),
		clickAndLoad(`form[action="/password/forgot"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="forgot-sent"]`)))
	visitor.shoot(dir, "05-forgot-sent")
	link := e.mail.WaitFor(t, "bob@example.com", 20*time.Second).Link(e.base + "/password/reset/")
	if link == "" {
		t.Fatal("the reset mail has no link")
	}
	visitor.do("open the reset link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("f-password")))
	visitor.shoot(dir, "06-reset")
	visitor.open("/password/reset/not-a-token", "h1")
	visitor.shoot(dir, "07-reset-invalid")
	visitor.open("/no/such/page", `[data-testid="error-heading"]`)
	visitor.shoot(dir, "08-not-found")

	alice := e.newUser("alice")
	alice.register()
	alice.open("/rooms", "#room-list")
	alice.shoot(dir, "10-lobby")

	alice.enterRoom("general")
	if err := bobSocket.SendMessage("Morning all! Did anyone look at the deploy script?"); err != nil {
		t.Fatal(err)
	}
	if err := bobSocket.SendMessage("It fails on the second step:\n  exit status 1\nLogs: https://example.com/ci/runs/4242?tab=logs"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("bob's messages", `document.querySelectorAll('#messages .msg').length === 2`)
	alice.send("Looking now.")
	alice.send("Found it: the path was /var/lib/natter/AVeryLongDirectoryNameWithoutAnyBreaksThatMustWrapNicelyOnPhones/file.txt")
	if err := bobSocket.SendMessage("<b>Thanks</b> 🙌"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("all messages", `document.querySelectorAll('#messages .msg').length === 5`)
	alice.shoot(dir, "11-room")

	alice.view(360, 800, "light")
	alice.do("open the member panel", chromedp.Click(chromedp.CSS(`[data-toggle-members]`)), chromedp.WaitVisible(chromedp.ID("members")))
	for _, scheme := range []string{"light", "dark"} {
		alice.view(360, 800, scheme)
		alice.saveShot(dir, "12-room-members-phone-"+scheme)
	}
	alice.do("close the member panel",
		chromedp.Click(chromedp.CSS(`#member-panel [data-toggle-members]`)),
		chromedp.WaitNotVisible(chromedp.ID("member-panel")))
	alice.view(1280, 800, "light")

	alice.sendRaw(longText(2001))
	alice.waitFor("the refusal", `document.getElementById('message-error').innerText.trim() !== ''`)
	if got, want := alice.text("#message-error"), "Messages can have at most 2,000 characters; this one has 2,001."; got != want {
		t.Errorf("refusal under the box: %q, want %q", got, want)
	}
	if n := eval[int](alice, `document.getElementById('f-message').value.length`); n != 2001 {
		t.Errorf("after the refusal the box holds %d characters, want the 2001 typed", n)
	}
	alice.shoot(dir, "13-room-refused")

	alice.open("/rooms/quiet-corner", `[data-testid="room-closed"]`)
	alice.shoot(dir, "14-room-closed")
	alice.do("open quiet-corner", clickAndLoad(`[data-testid="open-room"]`), chromedp.WaitVisible(chromedp.ID("f-message")))
	alice.waitLive()
	alice.shoot(dir, "14-room-empty")

	alice.open("/account", "#f-current_password")
	alice.shoot(dir, "15-account")

	for _, u := range []*user{visitor, alice} {
		u.noScriptErrors()
		u.noDialogs()
	}
}

// settle waits until no finite CSS transition or animation is running, so
// a screenshot right after a color-scheme switch shows the final colors.
func (u *user) settle() {
	u.t.Helper()
	u.waitFor("transitions to end", `document.getAnimations().every(function(a){
		return a.playState !== 'running' || a.effect.getComputedTiming().iterations === Infinity;})`)
}

// saveShot photographs the viewport as it is.
func (u *user) saveShot(dir, name string) {
	u.t.Helper()
	u.settle()
	ctx, cancel := contextWithTimeout(u)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

func longText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
		if i%9 == 8 {
			b[i] = ' '
		}
	}
	return string(b)
}
