package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// What a team expects in a room (issue 13), with two people in real
// Chromium: mentions reaching a hidden tab, edit and delete seen live,
// reactions by both, the typing line, a code block kept intact.

// hideTab makes u's page see its tab hidden, as when the person switches
// to another tab: document.visibilityState reads "hidden" and the
// visibilitychange event fires. (A headless browser shows every tab, so
// the state is emulated in the page.)
func (u *user) hideTab() {
	u.t.Helper()
	eval[bool](u, `(function(){
		Object.defineProperty(document, 'visibilityState', {configurable: true, get: function(){ return 'hidden'; }});
		document.dispatchEvent(new Event('visibilitychange')); return true;})()`)
}

// showTab brings u's tab back: the emulated state goes, visibilitychange fires.
func (u *user) showTab() {
	u.t.Helper()
	eval[bool](u, `(function(){ delete document.visibilityState;
		document.dispatchEvent(new Event('visibilitychange')); return document.visibilityState === 'visible';})()`)
}

// title is the page's title as the tab shows it.
func (u *user) title() string {
	u.t.Helper()
	return eval[string](u, `document.title`)
}

// grantNotifications lets the server's origin show notifications in u's
// browser context, as a person answering "Allow" would.
func grantNotifications(u *user) {
	u.t.Helper()
	bc := chromedp.FromContext(u.ctx).BrowserContextID
	_, err := chromedp.CallBrowser(u.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"},
		Setting:    cdpbrowser.PermissionSettingGranted, Origin: u.e.base, BrowserContextID: bc,
	})
	if err != nil {
		u.t.Fatalf("%s: grant notifications: %v", u.name, err)
	}
}

// recordAlerts wraps the page's Notification constructor and WebAudio's
// oscillators so the test can see what the page raised: each notification
// as "title | body" in window.notes, each sound as a count in window.tones.
func recordAlerts(u *user) {
	u.t.Helper()
	eval[bool](u, `(function(){
		var Real = window.Notification; window.notes = []; window.tones = 0;
		function Recorded(title, opts) { window.notes.push(title + ' | ' + (opts && opts.body || '')); return new Real(title, opts); }
		Object.defineProperty(Recorded, 'permission', {get: function(){ return Real.permission; }});
		Recorded.requestPermission = Real.requestPermission.bind(Real);
		window.Notification = Recorded;
		var osc = AudioContext.prototype.createOscillator;
		AudioContext.prototype.createOscillator = function(){ window.tones++; return osc.apply(this, arguments); };
		return true;})()`)
}

// messageAction shows message li's actions the way the keyboard does
// (focus on the message) and presses Enter on the one named.
func (u *user) messageAction(li, action string) {
	u.t.Helper()
	sel := li + ` [data-action="` + action + `"]`
	if action == "react" && eval[bool](u, `!!document.querySelector(`+jsString(sel+` > summary`)+`)`) {
		sel += " > summary" // the React of a message may be a details
	}
	if action == "delete" {
		// The delete action may be a form; its button is what is pressed.
		if eval[bool](u, `!!document.querySelector(`+jsString(sel+` button`)+`)`) {
			sel += " button"
		}
	}
	// Focus on the message (a tab stop) shows its actions; Tab goes on
	// into them.
	u.do(action+" "+li, chromedp.Focus(chromedp.CSS(li)), chromedp.Focus(chromedp.CSS(sel)), pressEnter(false))
}

// longPress holds a finger on the middle of the element sel for 700 ms,
// with touch emulated in u's tab (a phone).
func (u *user) longPress(sel string) {
	u.t.Helper()
	box := eval[[]float64](u, `(function(){var r=document.querySelector(`+jsString(sel)+`).getBoundingClientRect();return [r.left+r.width/2, r.top+r.height/2];})()`)
	u.do("long press "+sel, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 1}); err != nil {
			return err
		}
		start := input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchStart, TouchPoints: []*input.TouchPoint{{X: box[0], Y: box[1]}}}
		if _, err := cdp.Call(ctx, t, input.DispatchTouchEvent, start); err != nil {
			return err
		}
		time.Sleep(700 * time.Millisecond)
		_, err := cdp.Call(ctx, t, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
		return err
	}))
}

// liOf is the selector of the message whose text is exactly text in u's list.
func (u *user) liOf(text string) string {
	u.t.Helper()
	id := eval[string](u, `(function(){var li=Array.from(document.querySelectorAll('#messages .msg')).find(function(li){
		var t=li.querySelector('.msg-text'); return t && t.innerText.trim() === `+jsString(text)+`;}); return li ? li.id : '';})()`)
	if id == "" {
		u.t.Fatalf("%s: no message %q in %+v", u.name, text, u.shown())
	}
	return "#" + id
}

func TestMentionReachesHiddenTab(t *testing.T) {
	e := startEnv(t, nil)
	dir := screenshotDir(t)
	ana, bob := e.newUser("ana"), e.newUser("bob")
	ana.register()
	bob.register()
	grantNotifications(bob)
	ana.enterRoom("general")
	bob.enterRoom("general")
	ana.waitFor("bob in the member list", `!!document.querySelector('#members [data-member="bob"]')`)
	base := bob.title()
	if base != "#General · Natter" {
		t.Fatalf("bob's title %q", base)
	}

	// Bob turns on notifications and sound; both are remembered.
	recordAlerts(bob)
	bob.do("open the alert settings", chromedp.Click(chromedp.CSS(`#alerts summary`)), chromedp.WaitVisible(chromedp.ID("f-notify")))
	bob.do("turn on notifications and sound", chromedp.Click(chromedp.ID("f-notify")), chromedp.Click(chromedp.ID("f-sound")))
	bob.waitFor("the settings stored", `localStorage.getItem('natter-notify-mentions') === '1' && localStorage.getItem('natter-mention-sound') === '1'`)
	bob.do("close the alert settings", chromedp.Click(chromedp.CSS(`#alerts summary`)))
	if n := eval[int](bob, `window.notes.length`); n != 0 {
		t.Errorf("turning notifications on raised %d notifications", n)
	}

	bob.hideTab()
	bob.waitFor("the preview tone to end", `window.tones === 2`) // the Sound box plays it once
	ana.send("Morning! Coffee is ready.")
	bob.waitMessage("Morning! Coffee is ready.")
	bob.waitFor("the title count", `document.title === '(1) #General · Natter'`)

	// Ana mentions bob, choosing him from the @ list with the keyboard.
	ana.do("type a mention", chromedp.Focus(chromedp.ID("f-message")), chromedp.KeyEvent("Can you review it, @b"))
	ana.waitFor("the mention list", `!document.getElementById('mention-list').classList.contains('hidden')`)
	if got := ana.text("#mention-list"); got != "@bob" {
		t.Errorf("mention list %q, want @bob", got)
	}
	if got := eval[string](ana, `document.getElementById('f-message').getAttribute('aria-expanded') + ' ' + document.getElementById('f-message').getAttribute('aria-activedescendant')`); got != "true mention-opt-0" {
		t.Errorf("box combobox state %q", got)
	}
	ana.shoot(dir, "30-mention-list")
	ana.do("choose bob", pressEnter(false))
	if got := eval[string](ana, `document.getElementById('f-message').value`); got != "Can you review it, @bob " {
		t.Fatalf("box after choosing: %q", got)
	}
	ana.do("finish and send", chromedp.KeyEvent("please?"), pressEnter(false))
	text := "Can you review it, @bob please?"
	bob.waitMessage(text)

	li := bob.liOf(text)
	bob.waitFor("the title count with the mention mark", `document.title === '(2) @ #General · Natter'`)
	if got := bob.text(li + " .mention.mention-me"); got != "@bob" {
		t.Errorf("bob's mention span %q", got)
	}
	if !eval[bool](bob, `document.querySelector(`+jsString(li)+`).classList.contains('mention-me')`) {
		t.Error("bob's message that mentions him is not marked")
	}
	if eval[bool](ana, `!!document.querySelector('#messages .msg.mention-me')`) {
		t.Error("ana's page marks a mention of bob as hers")
	}
	bob.waitFor("the notification", `window.notes.length === 1`)
	if got := eval[string](bob, `window.notes[0]`); got != "ana mentioned you in #General | "+text {
		t.Errorf("notification %q", got)
	}
	if n := eval[int](bob, `window.tones`); n != 4 {
		t.Errorf("%d tones played, want the preview's 2 and the mention's 2", n)
	}
	// The first message while away has the "New" divider before it.
	if got := eval[string](bob, `(function(){var d=document.querySelector('#messages .new-divider');
		return d ? d.textContent + ' before ' + d.nextElementSibling.querySelector('.msg-text').innerText : 'none';})()`); got != "New before Morning! Coffee is ready." {
		t.Errorf("divider: %q", got)
	}

	bob.showTab()
	if got := bob.title(); got != base {
		t.Errorf("back in the tab, the title is %q, want %q", got, base)
	}
	bob.shoot(dir, "31-mention-seen")

	// The settings survive a reload.
	bob.enterRoom("general")
	if !eval[bool](bob, `document.getElementById('f-notify').checked && document.getElementById('f-sound').checked`) {
		t.Error("the alert settings were not remembered")
	}
	wellBehaved(ana, bob)
}

func TestEditDeleteReactLive(t *testing.T) {
	e := startEnv(t, nil)
	dir := screenshotDir(t)
	ana, bob := inGeneral(e)

	ana.send("The plan is on teh wiki.")
	ana.send("oops, wrong room")
	bob.waitMessage("oops, wrong room")
	bob.send("Thanks!")
	ana.waitMessage("Thanks!")

	// Only one's own messages offer Edit; only the author (here) Delete.
	bobsView := bob.liOf("The plan is on teh wiki.")
	if eval[string](bob, `getComputedStyle(document.querySelector(`+jsString(bobsView+` [data-action="edit"]`)+`)).display`) != "none" {
		t.Error("bob is offered Edit on ana's message")
	}
	if eval[string](bob, `getComputedStyle(document.querySelector(`+jsString(bobsView+` [data-action="delete"]`)+`)).display`) != "none" {
		t.Error("bob is offered Delete on ana's message")
	}

	// Ana edits her last-but-one message: Up arrow edits the last, so she
	// uses the message's own Edit.
	plan := ana.liOf("The plan is on teh wiki.")
	ana.messageAction(plan, "edit")
	ana.waitFor("the edit form", `!!document.querySelector(`+jsString(plan+` .edit-form textarea`)+`)`)
	if got := eval[string](ana, `document.activeElement.value`); got != "The plan is on teh wiki." {
		t.Fatalf("the edit box holds %q", got)
	}
	ana.shoot(dir, "32-editing")
	ana.do("fix the typo", chromedp.KeyEvent(strings.Repeat(kb.ArrowLeft, 6)+"\b\b\bthe"), pressEnter(false))
	bob.waitMessage("The plan is on the wiki.")
	if !eval[bool](bob, `document.querySelector(`+jsString(bobsView)+`).hasAttribute('data-edited')`) {
		t.Error("bob's copy is not marked edited")
	}
	if got := bob.text(bobsView + " .msg-edited"); got != "(edited)" {
		t.Errorf("edited mark %q", got)
	}
	ana.waitMessage("The plan is on the wiki.")

	// Escape leaves an edit as it was; Up arrow opens the last message.
	ana.do("Up arrow in the empty box", chromedp.Focus(chromedp.ID("f-message")), chromedp.KeyEvent(kb.ArrowUp))
	oops := ana.liOf("oops, wrong room")
	ana.waitFor("the edit form of the last message", `!!document.querySelector(`+jsString(oops+` .edit-form textarea`)+`)`)
	ana.do("cancel with Escape", chromedp.KeyEvent("xyz"), chromedp.KeyEvent(kb.Escape))
	ana.waitFor("the form gone", `!document.querySelector('.edit-form') && document.activeElement.id === 'f-message'`)
	if got := ana.text(oops + " .msg-text"); got != "oops, wrong room" {
		t.Errorf("after Escape the message reads %q", got)
	}

	// Ana deletes it after the page's confirmation; bob sees a tombstone.
	bobsOops := bob.liOf("oops, wrong room")
	ana.messageAction(oops, "delete")
	ana.do("the confirmation", chromedp.WaitVisible(chromedp.ID("delete-confirm")))
	if got := ana.text("#delete-confirm [data-delete-quote]"); got != "oops, wrong room" {
		t.Errorf("the confirmation quotes %q", got)
	}
	ana.shoot(dir, "33-delete-confirm")
	ana.do("confirm", chromedp.Click(chromedp.CSS(`[data-delete-go]`)))
	bob.waitFor("the tombstone", `(function(){var li=document.querySelector(`+jsString(bobsOops)+`);return li && li.hasAttribute('data-deleted');})()`)
	if got := bob.text(bobsOops); got != "message deleted" {
		t.Errorf("bob's tombstone reads %q", got)
	}

	// Reactions: bob picks 👍 from the quick set, ana adds hers by the chip
	// and a 🦄 typed into the picker; bob takes his back.
	bob.messageAction(bobsView, "react")
	bob.do("the picker", chromedp.WaitVisible(chromedp.ID("react-picker")))
	bob.shoot(dir, "34-react-picker")
	bob.do("pick 👍", chromedp.Click(chromedp.CSS(`#react-picker [data-react-emoji="👍"]`)))
	chip := `#reactions-` + strings.TrimPrefix(plan, "#msg-") + ` [data-emoji="👍"]`
	for _, u := range []*user{ana, bob} {
		u.waitFor("👍 1", `(function(){var c=document.querySelector(`+jsString(chip)+`);return c && c.dataset.count === '1';})()`)
	}
	if got := eval[string](bob, `document.querySelector(`+jsString(chip)+`).getAttribute('aria-pressed')`); got != "true" {
		t.Errorf("bob's own reaction: aria-pressed %q", got)
	}
	if got := eval[string](ana, `document.querySelector(`+jsString(chip)+`).getAttribute('aria-pressed')`); got != "false" {
		t.Errorf("ana's view of bob's reaction: aria-pressed %q", got)
	}
	ana.do("add hers by the chip", chromedp.Click(chromedp.CSS(chip)))
	bob.waitFor("👍 2", `document.querySelector(`+jsString(chip)+`).dataset.count === '2'`)
	if got := eval[string](bob, `document.querySelector(`+jsString(chip)+`).title`); got != "bob, ana" && got != "ana, bob" {
		t.Errorf("who reacted: %q", got)
	}
	ana.messageAction(plan, "react")
	ana.do("type any emoji", typeIn("#f-react-any", "🦄"), chromedp.KeyEvent(kb.Enter))
	bob.waitFor("🦄", `!!document.querySelector(`+jsString(`#reactions-`+strings.TrimPrefix(plan, "#msg-")+` [data-emoji="🦄"]`)+`)`)
	bob.shoot(dir, "35-reactions")
	// Something that is not one emoji is refused, in words, under the box.
	ana.messageAction(plan, "react")
	ana.do("type a word", typeIn("#f-react-any", "yes"), chromedp.KeyEvent(kb.Enter))
	ana.waitFor("the refusal", `document.getElementById('message-error').innerText.trim() !== ''`)
	if got := ana.text("#message-error"); got != "Choose one emoji." {
		t.Errorf("refusal reads %q", got)
	}
	bob.do("take his back", chromedp.Click(chromedp.CSS(chip)))
	ana.waitFor("👍 1 again", `document.querySelector(`+jsString(chip)+`).dataset.count === '1'`)
	bob.waitFor("bob's chip released", `document.querySelector(`+jsString(chip)+`).getAttribute('aria-pressed') === 'false'`)

	// On a phone a long press on her message shows ana its actions.
	ana.view(390, 844, "light")
	ana.do("focus the box, the mouse away", chromedp.Focus(chromedp.ID("f-message")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: 1, Y: 1})
			return err
		}))
	visible := func(sel string) string {
		return eval[string](ana, `getComputedStyle(document.querySelector(`+jsString(sel)+`)).visibility`)
	}
	ana.waitFor("the actions hidden", `getComputedStyle(document.querySelector(`+jsString(plan+" .msg-actions")+`)).visibility === 'hidden'`)
	ana.longPress(plan + " .bubble")
	ana.waitFor("the actions shown", `getComputedStyle(document.querySelector(`+jsString(plan+" .msg-actions")+`)).visibility === 'visible'`)
	if got := visible(plan + ` [data-action="edit"]`); got != "visible" {
		t.Errorf("after the long press Edit is %s", got)
	}
	for _, scheme := range []string{"light", "dark"} {
		ana.view(390, 844, scheme)
		ana.saveShot(dir, "38-long-press-phone-"+scheme)
	}
	ana.view(1280, 800, "light")
	wellBehaved(ana, bob)
}

func TestTypingLineAndCodeBlock(t *testing.T) {
	e := startEnv(t, nil)
	dir := screenshotDir(t)
	ana, bob := inGeneral(e)
	ana.waitFor("bob in the member list", `!!document.querySelector('#members [data-member="bob"]')`)

	bob.do("start typing", chromedp.Focus(chromedp.ID("f-message")), chromedp.KeyEvent("Here is the fix:"))
	ana.waitFor("the typing line", `document.getElementById('typing').innerText.trim() === 'bob is typing…'`)
	if got := bob.text("#typing"); got != "" {
		t.Errorf("bob sees his own typing: %q", got)
	}
	ana.shoot(dir, "36-typing")

	code := "func main() {\n    fmt.Println(\"hi\")  // two spaces kept\n    return // " + strings.Repeat("a long line ", 12) + "\n}"
	bob.sendRaw("Here is the fix:\n```\n" + code + "\n```")
	ana.waitFor("the code block", `!!document.querySelector('#messages .msg-text pre code')`)
	ana.waitFor("the typing line to clear", `document.getElementById('typing').innerText.trim() === ''`)
	if got := eval[string](ana, `document.querySelector('#messages .msg-text pre code').textContent`); got != code {
		t.Errorf("code block text %q, want %q", got, code)
	}
	style := eval[string](ana, `(function(){var s=getComputedStyle(document.querySelector('#messages .msg-text pre'));
		return s.whiteSpace + ' ' + s.overflowX + ' ' + /mono/i.test(s.fontFamily);})()`)
	if style != "pre auto true" {
		t.Errorf("code block style %q, want white-space pre, overflow-x auto, monospace", style)
	}
	ana.shoot(dir, "37-code-block")
	// At phone width the long line scrolls inside the block, not the page.
	ana.view(390, 844, "light")
	if !eval[bool](ana, `(function(){var p=document.querySelector('#messages .msg-text pre');
		return p.scrollWidth > p.clientWidth && document.documentElement.scrollWidth <= window.innerWidth;})()`) {
		t.Error("at phone width the code block does not scroll on its own")
	}
	ana.view(1280, 800, "light")
	wellBehaved(ana, bob)
}

// A mention reaches a person who is in another room: a notice there links
// to the message, which the room page then shows, marked.
func TestMentionNoticeInAnotherRoom(t *testing.T) {
	e := startEnv(t, nil)
	dir := screenshotDir(t)
	ana, bob := e.newUser("ana"), e.newUser("bob")
	ana.register()
	bob.register()
	ana.enterRoom("general")
	bob.openClosedRoom("random")

	// Enough lines to scroll: the link must bring the message into view.
	for i := range 6 {
		ana.sendRaw("Filler " + itoa(i+1) + "\nwith a second line\nand a third")
	}
	ana.waitMessage("Filler 6\nwith a second line\nand a third")
	ana.send("@bob the release notes are ready")
	text := "@bob the release notes are ready"
	ana.waitMessage(text)
	seq := strings.TrimPrefix(ana.liOf(text), "#msg-")
	for i := range 6 {
		ana.sendRaw("After " + itoa(i+1) + "\nwith a second line\nand a third")
	}
	ana.waitMessage("After 6\nwith a second line\nand a third")

	bob.waitFor("the mention notice", `!!document.querySelector('#notices [data-notice="mention"]')`)
	if got := bob.text(`#notices [data-notice="mention"]`); got != "ana mentioned you in #general. See the message" {
		t.Errorf("notice reads %q", got)
	}
	if got := eval[string](bob, `document.querySelector('#notices [data-notice="mention"] a').getAttribute('href')`); got != "/rooms/general#msg-"+seq {
		t.Errorf("notice links to %q", got)
	}
	bob.shoot(dir, "39-mention-notice")
	bob.do("follow the notice", clickAndLoad(`#notices [data-notice="mention"] a`), chromedp.WaitVisible(chromedp.ID("f-message")))
	bob.waitLive()
	bob.waitFor("the linked message marked", `(function(){var li=document.getElementById('msg-`+seq+`');return li && li.classList.contains('linked');})()`)
	if !eval[bool](bob, `(function(){var r=document.getElementById('msg-`+seq+`').getBoundingClientRect(),s=document.getElementById('message-scroller').getBoundingClientRect();
		return r.top >= s.top && r.bottom <= s.bottom;})()`) {
		t.Error("the linked message is not in view")
	}
	bob.shoot(dir, "40-linked-message")
	wellBehaved(ana, bob)
}

// Without scripts a person still edits their message: the room page shows
// each message's actions as links, and Edit opens a page with the form.
func TestEditWithoutScripts(t *testing.T) {
	e := startEnv(t, nil)
	plain := e.newUser("plain")
	plain.register()
	plain.do("disable scripts", chromedp.Func(disableScripts))
	plain.open("/rooms/general", "#f-message")
	plain.do("post a message",
		typeIn("#f-message", "Lunch at noon?"),
		clickAndLoad(`#message-form button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-message")))
	li := plain.liOf("Lunch at noon?")
	if got := eval[string](plain, `getComputedStyle(document.querySelector(`+jsString(li+` [data-action="edit"]`)+`)).visibility`); got != "visible" {
		t.Fatalf("without scripts Edit is %s", got)
	}
	plain.do("open Edit", clickAndLoad(li+` [data-action="edit"]`), chromedp.WaitVisible(chromedp.CSS(`form.edit-form textarea`)))
	plain.do("change the text",
		chromedp.Clear(chromedp.CSS(`form.edit-form textarea`)),
		typeIn(`form.edit-form textarea`, "Lunch at one?"),
		clickAndLoad(`form.edit-form button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-message")))
	plain.waitMessage("Lunch at one?")
	if !eval[bool](plain, `document.querySelector(`+jsString(li)+`).hasAttribute('data-edited')`) {
		t.Error("the edited message is not marked edited")
	}
}

// inGeneral signs ana and bob up and takes both into General.
func inGeneral(e *env) (ana, bob *user) {
	ana, bob = e.newUser("ana"), e.newUser("bob")
	ana.register()
	bob.register()
	ana.enterRoom("general")
	bob.enterRoom("general")
	return ana, bob
}

// wellBehaved fails the test if any of users saw a dialog or a script
// error.
func wellBehaved(users ...*user) {
	for _, u := range users {
		u.noDialogs()
		u.noScriptErrors()
	}
}
