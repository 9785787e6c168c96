package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"natter/app"
	"natter/app/apptest"
	"natter/chat"
)

// The first hour of a new team (issue 11): an invitation link through
// sign-up and password reset, a tab whose session ended, a restart, the
// last member leaving, and the room and forms for assistive technology.

// TestRoomLinkSurvivesSignUp: a colleague without an account opens a
// room's link, is sent to sign in, goes on to create an account (and back
// and forth between the two forms), and lands in the room.
func TestRoomLinkSurvivesSignUp(t *testing.T) {
	e := startEnv(t, nil)
	e.holdRoom("design-review", "dana")
	carol := e.newUser("carol")
	carol.open("/rooms/design-review", "#f-username")
	if got, want := carol.path(), "/login?next=%2Frooms%2Fdesign-review"; got != want {
		t.Fatalf("a visitor opening the room link is at %s, want %s", got, want)
	}
	// The header's Create account button keeps the room as well as the form's link.
	carol.do("go to sign-up", clickAndLoad(`header a[href^="/register"]`), chromedp.WaitVisible(chromedp.ID("f-email")))
	if got, want := carol.path(), "/register?next=%2Frooms%2Fdesign-review"; got != want {
		t.Fatalf("the header's Create account leads to %s, want %s", got, want)
	}
	carol.do("back to sign-in", clickAndLoad(`main a[href^="/login"]`), chromedp.WaitVisible(chromedp.ID("f-password")))
	if got, want := carol.path(), "/login?next=%2Frooms%2Fdesign-review"; got != want {
		t.Fatalf("sign-up's sign-in link leads to %s, want %s", got, want)
	}
	carol.do("go to sign-up again", clickAndLoad(`main a[href^="/register"]`), chromedp.WaitVisible(chromedp.ID("f-email")))
	if got, want := carol.path(), "/register?next=%2Frooms%2Fdesign-review"; got != want {
		t.Fatalf("sign-in's sign-up link leads to %s, want %s", got, want)
	}
	// A first try with a mistake: the destination survives the error too.
	carol.do("sign up with a password mismatch",
		fill("#f-username", carol.name),
		fill("#f-email", carol.email),
		fill("#f-password", carol.password),
		fill("#f-password_confirm", "something else entirely"),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="password_confirm"]`)))
	carol.do("sign up",
		fill("#f-password", carol.password),
		fill("#f-password_confirm", carol.password),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-message")))
	if got, want := carol.path(), "/rooms/design-review"; got != want {
		t.Errorf("after signing up carol is at %s, want %s", got, want)
	}
	carol.waitLive()
	carol.noScriptErrors()
}

// TestRoomLinkSurvivesPasswordReset: a colleague who forgot the password
// follows the room link, resets the password by mail and signs in: the
// room, not the lobby, comes next.
func TestRoomLinkSurvivesPasswordReset(t *testing.T) {
	e := startEnv(t, nil)
	e.srv.User("bob")
	e.holdRoom("retro", "dana")
	u := e.newUser("bob")
	u.open("/rooms/retro", "#f-username")
	u.do("forgot the password", clickAndLoad(`a[href^="/password/forgot"]`), chromedp.WaitVisible(chromedp.ID("f-email")))
	u.do("ask for a link",
		fill("#f-email", "bob@example.com"),
		clickAndLoad(`form[action="/password/forgot"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="forgot-sent"]`)))
	link := e.mail.WaitFor(t, "bob@example.com", 20*time.Second).Link(e.base + "/password/reset/")
	if !strings.HasSuffix(link, "?next=%2Frooms%2Fretro") {
		t.Fatalf("the reset link %q does not carry the room", link)
	}
	const newPassword = "a brand new harbor lantern"
	u.do("set a new password",
		chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("f-password")),
		fill("#f-password", newPassword),
		fill("#f-password_confirm", newPassword),
		clickAndLoad(`form[action="/password/reset/set"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-username")))
	if got, want := u.path(), "/login?reset=1&next=%2Frooms%2Fretro"; got != want {
		t.Fatalf("after the reset bob is at %s, want %s", got, want)
	}
	u.do("sign in",
		fill("#f-username", "bob"),
		fill("#f-password", newPassword),
		clickAndLoad(`form[action="/login"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-message")))
	if got, want := u.path(), "/rooms/retro"; got != want {
		t.Errorf("after signing in bob is at %s, want %s", got, want)
	}
	u.noScriptErrors()
}

// TestSignedOutTabSaysSoAndKeepsTheDraft: when the session behind an open
// room ends (here: signed out in another tab), the room page stops
// "reconnecting", says why, sends nothing, and "Sign in again" brings the
// person back to the room with what they had typed.
func TestSignedOutTabSaysSoAndKeepsTheDraft(t *testing.T) {
	// The room must outlive alice's signing in again (its member lingers
	// one grace after her last connection): the suite's 1 s grace is
	// shorter than the screenshots and the sign-in take on a busy machine.
	e := startEnv(t, func(c *app.Config) { c.RoomGrace = 10 * time.Second })
	alice := e.newUser("alice")
	alice.register()
	alice.openClosedRoom("standup")
	const draft = "Half a thought about the release"
	alice.do("type a draft", chromedp.Focus(chromedp.ID("f-message")), chromedp.KeyEvent(draft))

	// Signing out elsewhere: the same session posts /logout from another
	// page (a fetch with the page's CSRF token, as a second tab would).
	eval[bool](alice, `(function(){var h=JSON.parse(document.body.getAttribute('hx-headers'));
		fetch('/logout',{method:'POST',headers:h,redirect:'manual'});return true;})()`)
	alice.do("see the session end", chromedp.WaitVisible(chromedp.ID("session-ended")))
	if got, want := alice.text("#conn-state"), "signed out"; got != want {
		t.Errorf("connection state reads %q, want %q", got, want)
	}
	if got, want := alice.text("#session-ended p"), "Signed out. You are no longer connected to this room; what you typed stays in the box."; got != want {
		t.Errorf("the notice reads %q, want %q", got, want)
	}
	again := eval[string](alice, `document.querySelector('[data-testid="sign-in-again"]').getAttribute('href')`)
	if want := "/login?next=%2Frooms%2Fstandup"; again != want {
		t.Errorf("Sign in again leads to %q, want %q", again, want)
	}
	// Enter sends nothing now, and the box keeps the text.
	alice.do("press Enter", chromedp.Focus(chromedp.ID("f-message")), pressEnter(false))
	time.Sleep(300 * time.Millisecond) // a refused send shows nothing to wait for
	if got := eval[string](alice, `document.getElementById('f-message').value`); got != draft {
		t.Errorf("after Enter the box holds %q, want the draft %q", got, draft)
	}
	if got := alice.path(); got != "/rooms/standup" {
		t.Errorf("after Enter the page is %s, want the room still", got)
	}
	if got := alice.text("#conn-state"); got != "signed out" {
		t.Errorf("a moment later the connection state reads %q, want it to stay %q", got, "signed out")
	}
	shootIfAsked(alice, "20-room-signed-out")

	alice.do("sign in again", clickAndLoad(`[data-testid="sign-in-again"]`), chromedp.WaitVisible(chromedp.ID("f-username")))
	alice.do("sign in",
		fill("#f-username", alice.name),
		fill("#f-password", alice.password),
		clickAndLoad(`form[action="/login"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-message")))
	if got, want := alice.path(), "/rooms/standup"; got != want {
		t.Fatalf("after signing in again alice is at %s, want %s", got, want)
	}
	alice.waitLive()
	if got := eval[string](alice, `document.getElementById('f-message').value`); got != draft {
		t.Errorf("back in the room the box holds %q, want the draft %q", got, draft)
	}
	alice.noScriptErrors()
	alice.noDialogs()
}

// TestRestartKeepsWhatIsOnScreen: a server restart empties every room; the
// page keeps the messages it showed, marks the gap, and goes on with the
// new history, with no message twice.
func TestRestartKeepsWhatIsOnScreen(t *testing.T) {
	e := startEnv(t, nil)
	alice := e.newUser("alice")
	alice.register()
	alice.open("/rooms", "#room-list")
	if got, want := alice.text("main section p"), "Pick a room, or open one of your own and share its link. A room and its messages vanish when the last person leaves, and every room empties when the server restarts."; got != want {
		t.Errorf("the lobby says %q, want %q", got, want)
	}
	alice.openClosedRoom("retro")
	if got, want := alice.text(`[data-testid="restart-note"]`), "Rooms live only in memory: a restart empties them."; got != want {
		t.Errorf("the room page says %q, want %q", got, want)
	}
	alice.send("Before the restart.")
	alice.send("Still before.")
	alice.waitMessage("Still before.")

	e.restart()
	alice.do("reconnect", chromedp.WaitVisible(chromedp.CSS(`#conn-state[data-state="live"]`)))
	alice.waitFor("the gap marker", `document.querySelector('#messages .gap-marker') !== null`)
	if got, want := alice.text("#messages .gap-marker"), "The server restarted; messages above are only on your screen."; got != want {
		t.Errorf("the marker reads %q, want %q", got, want)
	}
	alice.send("After the restart.")
	alice.waitMessage("After the restart.")
	// A reconnect to the same process changes nothing on screen.
	account, err := e.srv.DB().UserByLogin(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	eval[bool](alice, `(window.opens = 0, document.addEventListener('htmx:wsOpen', function(){ window.opens++; }), true)`)
	e.srv.Rooms().CloseUser(account.ID, "", chat.CloseServiceRestart, "test: same process")
	alice.waitFor("the reconnect", `window.opens === 1`)
	alice.waitLive()
	if n := eval[int](alice, `document.querySelectorAll('#messages .gap-marker').length`); n != 1 {
		t.Errorf("after a reconnect to the same process the list has %d markers, want 1", n)
	}
	// A second restart: a second marker.
	e.restart()
	alice.waitFor("the second marker", `document.querySelectorAll('#messages .gap-marker').length === 2`)
	alice.waitLive()
	alice.send("After the second restart.")
	alice.waitMessage("After the second restart.")

	got := eval[string](alice, `Array.from(document.querySelectorAll('#messages > li')).map(function(li){
		return li.classList.contains('gap-marker') ? '--' : li.classList.contains('msg') ? li.querySelector('.msg-text').innerText : 'notice';
	}).filter(function(s){return s !== 'notice';}).join('|')`)
	want := "Before the restart.|Still before.|--|After the restart.|--|After the second restart."
	if got != want {
		t.Errorf("alice's list reads %q, want %q", got, want)
	}
	if n := eval[int](alice, `new Set(Array.from(document.querySelectorAll('#messages [id]')).map(function(el){return el.id;})).size - document.querySelectorAll('#messages [id]').length`); n != 0 {
		t.Errorf("the list has duplicate ids")
	}
	shootIfAsked(alice, "21-room-after-restart")
	alice.noScriptErrors()
}

// TestLastMemberIsWarnedBeforeLeaving: Leave ends the room for the last
// member, so it asks first; with others present it just leaves. Leave and
// the way back to the rooms look different.
func TestLastMemberIsWarnedBeforeLeaving(t *testing.T) {
	e := startEnv(t, nil)
	alice := e.newUser("alice")
	alice.register()
	alice.openClosedRoom("solo")
	if got, want := alice.text(`[data-testid="back-to-rooms"]`), "← All rooms"; got != want {
		t.Errorf("the way back reads %q, want %q", got, want)
	}
	if got, want := alice.text(`[data-testid="leave"]`), "Leave room"; got != want {
		t.Errorf("the leave control reads %q, want %q", got, want)
	}
	colors := eval[[]string](alice, `['[data-testid="back-to-rooms"]','[data-testid="leave"]'].map(function(s){
		var cs=getComputedStyle(document.querySelector(s));return cs.color+' '+cs.borderTopWidth;})`)
	if want := []string{"rgb(67, 56, 202) 0px", "rgb(185, 28, 28) 1px"}; strings.Join(colors, "|") != strings.Join(want, "|") {
		t.Errorf("back link and leave (color, border): %q, want %q", colors, want)
	}

	alice.do("click Leave", chromedp.Click(chromedp.CSS(`[data-testid="leave"]`)), chromedp.WaitVisible(chromedp.ID("leave-confirm")))
	if got, want := alice.text("#leave-confirm p"), "You are the last member: leaving ends #solo and deletes its messages for good."; got != want {
		t.Errorf("the confirmation reads %q, want %q", got, want)
	}
	if got := alice.path(); got != "/rooms/solo" {
		t.Errorf("after Leave alone alice is at %s, want still in the room", got)
	}
	shootIfAsked(alice, "22-room-leave-confirm")
	alice.do("stay", chromedp.Click(chromedp.CSS(`[data-testid="leave-stay"]`)), chromedp.WaitNotVisible(chromedp.ID("leave-confirm")))
	if got := alice.path(); got != "/rooms/solo" {
		t.Errorf("after Stay alice is at %s, want the room", got)
	}

	// With Bob in the room, leaving ends nothing: no question.
	apptest.Dial(t, e.srv.User("bob"), "solo")
	alice.waitFor("two members", `document.getElementById('member-count').dataset.count === '2'`)
	alice.do("leave", clickAndLoad(`[data-testid="leave"]`), chromedp.WaitVisible(chromedp.ID("room-list")))
	if got := alice.path(); got != "/rooms" {
		t.Errorf("after Leave with bob there alice is at %s, want /rooms", got)
	}

	// Without scripts, Leave opens the same wording (the :target rule).
	plain := e.newUser("plain")
	plain.register()
	plain.do("disable scripts", chromedp.Func(disableScripts))
	plain.open("/rooms/quiet", `[data-testid="room-closed"]`)
	plain.do("open the room with its button", clickAndLoad(`[data-testid="open-room"]`), chromedp.WaitVisible(chromedp.ID("f-message")))
	plain.do("click Leave", chromedp.Click(chromedp.CSS(`[data-testid="leave"]`)), chromedp.WaitVisible(chromedp.ID("leave-confirm")))
	if got, want := plain.text("#leave-confirm p"), "You are the last member: leaving ends #quiet and deletes its messages for good."; got != want {
		t.Errorf("without scripts the confirmation reads %q, want %q", got, want)
	}
	alice.noScriptErrors()
	alice.noDialogs()
}

// TestAccessibleFormsAndRoom: focus goes to the first error after a failed
// submit and to the message box in a room; every message, grouped ones
// included, names its author to assistive technology; the join/leave pill
// has at least 4.5:1 contrast in light mode.
func TestAccessibleFormsAndRoom(t *testing.T) {
	e := startEnv(t, nil)
	alice := e.newUser("alice")
	alice.open("/register", "#f-username")
	alice.do("register with mistakes",
		fill("#f-username", alice.name),
		fill("#f-email", "not-an-address"),
		fill("#f-password", "password"),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="email"]`)))
	focus := eval[string](alice, `document.activeElement.id+' '+document.activeElement.getAttribute('aria-describedby')`)
	if want := "f-email f-email-error"; focus != want {
		t.Errorf("after a failed sign-up the focus is on %q, want %q (the first field in error)", focus, want)
	}
	alice.open("/login", "#f-username")
	alice.do("sign in wrongly",
		fill("#f-username", "nobody"),
		fill("#f-password", "not the password"),
		clickAndLoad(`form[action="/login"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-error"]`)))
	if got := eval[string](alice, `document.activeElement.getAttribute('data-testid')||document.activeElement.tagName`); got != "form-error" {
		t.Errorf("after a failed sign-in the focus is on %q, want the error message", got)
	}

	alice.register()
	bob := e.srv.User("bob")
	sock := apptest.Dial(t, bob, "general")
	alice.enterRoom("general")
	if got := eval[string](alice, `document.activeElement.id`); got != "f-message" {
		t.Errorf("entering a room the focus is on %q, want the message box f-message", got)
	}
	for _, text := range []string{"First of two.", "Second of two."} {
		if err := sock.SendMessage(text); err != nil {
			t.Fatal(err)
		}
	}
	alice.waitMessage("Second of two.")
	// What a screen reader reads for each message: its rendered text,
	// visually hidden parts included.
	read := eval[[]string](alice, `Array.from(document.querySelectorAll('#messages .msg')).map(function(li){
		return li.innerText.replace(/\s+/g,' ').replace(/\d\d?:\d\d( [AP]M)?/,'TIME').trim();})`)
	if want := []string{"bob TIME First of two.", "bob: Second of two."}; strings.Join(read, "|") != strings.Join(want, "|") {
		t.Errorf("messages read as %q, want %q", read, want)
	}
	if n := eval[int](alice, `document.querySelectorAll('#messages .msg.continued').length`); n != 1 {
		t.Errorf("%d grouped messages, want the second one grouped", n)
	}
	ratio := eval[float64](alice, `(function(){
		function lum(c){var v=c.match(/\d+/g).slice(0,3).map(function(x){x/=255;return x<=0.03928?x/12.92:Math.pow((x+0.055)/1.055,2.4);});
			return 0.2126*v[0]+0.7152*v[1]+0.0722*v[2];}
		var pill=document.querySelector('#messages .notice span');var cs=getComputedStyle(pill);
		var a=lum(cs.color),b=lum(cs.backgroundColor);return (Math.max(a,b)+0.05)/(Math.min(a,b)+0.05);})()`)
	t.Logf("join/leave pill contrast, light: %.2f:1", ratio)
	if ratio < 4.5 {
		t.Errorf("join/leave pill contrast %.2f:1, want at least 4.5:1", ratio)
	}
	alice.noScriptErrors()
}

// leave clicks Leave room and lands in the lobby; the last member
// confirms first.
func (u *user) leave() {
	u.t.Helper()
	if eval[string](u, `document.getElementById('member-count').dataset.count`) != "1" {
		u.do("leave", clickAndLoad(`[data-testid="leave"]`), chromedp.WaitVisible(chromedp.ID("room-list")))
		return
	}
	u.do("leave as the last member",
		chromedp.Click(chromedp.CSS(`[data-testid="leave"]`)),
		chromedp.WaitVisible(chromedp.ID("leave-confirm")),
		clickAndLoad(`[data-testid="leave-go"]`),
		chromedp.WaitVisible(chromedp.ID("room-list")))
}

// shootIfAsked photographs the page when NATTER_SCREENSHOTS names a
// folder, so the scenarios above stay quick otherwise.
func shootIfAsked(u *user, name string) {
	u.t.Helper()
	if dir := os.Getenv("NATTER_SCREENSHOTS"); dir != "" {
		u.shoot(screenshotDir(u.t), name)
	}
}

// disableScripts turns JavaScript off in the tab, for what must work
// without it.
func disableScripts(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	return err
}
