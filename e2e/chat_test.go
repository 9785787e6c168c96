package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"natter/app"
	"natter/chat"
)

// Scenario 1: two people meet in General and talk.
func TestTwoUsersChatInGeneral(t *testing.T) {
	e := startEnv(t, nil)
	alice, bob := e.newUser("alice"), e.newUser("bob")

	alice.register()
	alice.do("open General from the lobby",
		clickAndLoad(`#room-list a[href="/rooms/general"]`),
		chromedp.WaitVisible(chromedp.ID("f-message")))
	alice.waitLive()
	if got := alice.text("h1"); got != "#General" {
		t.Errorf("alice: room heading %q, want %q", got, "#General")
	}

	bob.register()
	bob.enterRoom("general")

	// Each sees the other in the member list, and a join notice.
	alice.waitFor("bob in the member list", `document.querySelector('#members [data-member="bob"]') !== null`)
	bob.waitFor("alice in the member list", `document.querySelector('#members [data-member="alice"]') !== null`)
	for _, u := range []*user{alice, bob} {
		if got := u.text("#member-count"); got != "2 members" {
			t.Errorf("%s: member count %q, want %q", u.name, got, "2 members")
		}
		if got := u.text("#members"); got != "alice bob" && got != "bob alice" {
			t.Errorf("%s: member list %q, want alice and bob", u.name, got)
		}
	}
	alice.waitFor("bob's join notice", `Array.from(document.querySelectorAll('#messages .notice')).some(function(n){return n.innerText.trim()==='bob joined';})`)
	if got := bob.notices(); !contains(got, "alice joined") || !contains(got, "bob joined") {
		t.Errorf("bob: notices %q, want alice joined and bob joined", got)
	}

	// Alice speaks; Bob sees it once, under her name.
	hello := "Hi Bob! Welcome to Natter."
	alice.send(hello)
	bob.waitMessage(hello)
	got := bob.shown()
	if len(got) != 1 || got[0].Author != "alice" || got[0].Text != hello || got[0].Mine {
		t.Fatalf("bob sees %+v, want one message %q from alice, not his own", got, hello)
	}

	// Bob answers over two lines (Shift+Enter); Alice sees the line break.
	answer := "Hello Alice!\nGlad to be here."
	bob.send(answer)
	alice.waitMessage(answer)
	got = alice.shown()
	if len(got) != 2 || got[0].Text != hello || got[1].Author != "bob" || got[1].Text != answer {
		t.Fatalf("alice sees %+v, want her %q then bob's %q", got, hello, answer)
	}

	// Her own message is styled as hers; Bob's is not.
	if !got[0].Mine || got[1].Mine {
		t.Errorf("alice: mine flags %v %v, want true false", got[0].Mine, got[1].Mine)
	}
	bg := func(u *user, i int) string {
		return eval[string](u, `getComputedStyle(document.querySelectorAll('#messages .msg .bubble')[`+itoa(i)+`]).backgroundColor`)
	}
	if own, other := bg(alice, 0), bg(alice, 1); own == other {
		t.Errorf("alice: own and other bubbles share the background %s", own)
	}
	if own, fromAlice := bg(bob, 1), bg(bob, 0); own == fromAlice {
		t.Errorf("bob: own and other bubbles share the background %s", own)
	}
	alice.noScriptErrors()
	bob.noScriptErrors()
}

// Scenario 2: a room of one's own, shared by link, private to its members,
// and gone after the last one leaves.
func TestOwnRoomSharedByLink(t *testing.T) {
	e := startEnv(t, nil)
	carol, dave, frank := e.newUser("carol"), e.newUser("dave"), e.newUser("frank")
	for _, u := range []*user{carol, dave, frank} {
		u.register()
	}
	frank.enterRoom("programming")

	// Carol opens a room by name from the lobby.
	carol.open("/rooms", "#f-name")
	carol.do("open a room by name",
		fill("#f-name", "Design Review"),
		clickAndLoad(`form[action="/rooms"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("f-message")))
	carol.waitLive()
	if got := carol.path(); got != "/rooms/design-review" {
		t.Fatalf("carol: after opening the room the page is %s, want /rooms/design-review", got)
	}
	if got := carol.text("h1"); got != "#design-review" {
		t.Errorf("carol: room heading %q, want %q", got, "#design-review")
	}
	// The empty room says so and shows the link to share.
	roomURL := e.base + "/rooms/design-review"
	if got := carol.text(`[data-testid="share-link"]`); got != roomURL {
		t.Errorf("carol: the empty room shows the link %q, want %q", got, roomURL)
	}

	// She copies the link with the header's button.
	grantClipboard(carol)
	carol.do("copy the link", chromedp.Click(chromedp.CSS(`[data-testid="copy-link"]`)))
	carol.waitFor("the copied confirmation", `document.querySelector('[data-testid="copy-link"]').innerText === 'Link copied'`)
	copied := eval[string](carol, `navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)
	if copied != roomURL {
		t.Fatalf("carol: the clipboard holds %q, want %q", copied, roomURL)
	}

	// Dave opens the link; they talk.
	dave.do("open the shared link", chromedp.Navigate(copied), chromedp.WaitVisible(chromedp.ID("f-message")))
	dave.waitLive()
	carol.waitFor("dave in the member list", `document.querySelector('#members [data-member="dave"]') !== null`)
	carol.send("Thanks for coming, Dave.")
	dave.waitMessage("Thanks for coming, Dave.")
	dave.send("Happy to review!")
	carol.waitMessage("Happy to review!")
	if got := carol.shown(); len(got) != 2 || got[1].Author != "dave" {
		t.Errorf("carol sees %+v, want her message and dave's", got)
	}
	if eval[bool](carol, `getComputedStyle(document.querySelector('.empty-state')).display !== 'none'`) {
		t.Error("carol: the empty-room note still shows after messages arrived")
	}

	// Frank, in Programming, sees none of it.
	if got := frank.shown(); len(got) != 0 {
		t.Errorf("frank in programming sees %+v, want no messages", got)
	}

	// The lobby lists the room with its two members.
	frank.open("/rooms", "#room-list")
	frank.waitFor("design-review in the lobby", `document.querySelector('#room-list [data-room="design-review"]') !== null`)
	if got := frank.text(`#room-list [data-room="design-review"] [data-members]`); got != "2 members" {
		t.Errorf("frank: lobby card says %q, want %q", got, "2 members")
	}

	// Both leave; after the grace period the room is gone from the lobby
	// (which refreshes itself); its address says it is not open, and the
	// button there opens an empty new room.
	for _, u := range []*user{carol, dave} {
		u.leave()
	}
	frank.waitFor("design-review to leave the lobby", `document.querySelector('#room-list [data-room="design-review"]') === null`)
	carol.openClosedRoom("design-review")
	if got := carol.shown(); len(got) != 0 {
		t.Errorf("carol: the reopened room shows %+v, want no messages", got)
	}
	if got := carol.text(`[data-testid="share-link"]`); got != roomURL {
		t.Errorf("carol: reopened room shows the link %q, want %q", got, roomURL)
	}
	for _, u := range []*user{carol, dave, frank} {
		u.noScriptErrors()
	}
}

// grantClipboard lets u's pages use the clipboard without a prompt.
func grantClipboard(u *user) {
	u.t.Helper()
	bc := chromedp.FromContext(u.ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(u.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted, Origin: u.e.base, BrowserContextID: bc,
		})
		if err != nil {
			u.t.Fatalf("%s: grant %s: %v", u.name, name, err)
		}
	}
}

// Scenario 3: markup in a message is text for everyone; nothing runs.
func TestMessageMarkupIsText(t *testing.T) {
	e := startEnv(t, nil)
	alice, bob := e.newUser("alice"), e.newUser("bob")
	alice.register()
	bob.register()
	alice.enterRoom("general")
	bob.enterRoom("general")
	const attack = `<img src=x onerror=alert(1)>`
	alice.send(attack)
	for _, u := range []*user{alice, bob} {
		u.waitMessage(attack)
		if n := eval[int](u, `document.querySelectorAll('#messages img, #messages script').length`); n != 0 {
			t.Errorf("%s: %d img/script elements in the message list, want 0", u.name, n)
		}
		got := u.shown()
		if len(got) != 1 || got[0].Text != attack || got[0].Author != "alice" {
			t.Errorf("%s sees %+v, want alice's text %q", u.name, got, attack)
		}
	}
	// A link in a message is clickable, opens apart, and passes no rank.
	alice.send("docs at https://example.com/a?b=1&c=2.")
	bob.waitMessage("docs at https://example.com/a?b=1&c=2.")
	link := eval[map[string]string](bob, `(function(){var a=document.querySelector('#messages .msg-text a');
		return a?{href:a.getAttribute('href'),rel:a.getAttribute('rel'),text:a.innerText}:{};})()`)
	want := map[string]string{"href": "https://example.com/a?b=1&c=2", "rel": "noopener nofollow", "text": "https://example.com/a?b=1&c=2"}
	for k, v := range want {
		if link[k] != v {
			t.Errorf("bob: link %s = %q, want %q", k, link[k], v)
		}
	}
	// Give a dialog every chance to have opened: a round trip through
	// both pages after the attack.
	bob.send("ok")
	alice.waitMessage("ok")
	wellBehaved(alice, bob)
}

// Scenario 4: the server drops Bob's socket; his page says so, reconnects,
// and catches up on what he missed, once.
func TestReconnectAfterNetworkDrop(t *testing.T) {
	// A grace period longer than the outage: Bob stays a member throughout.
	e := startEnv(t, func(c *app.Config) { c.RoomGrace = 30 * time.Second })
	alice, bob := e.newUser("alice"), e.newUser("bob")
	alice.register()
	bob.register()
	alice.enterRoom("general")
	bob.enterRoom("general")
	bob.waitFor("alice in the member list", `document.querySelector('#members [data-member="alice"]') !== null`)
	alice.send("Before the drop.")
	bob.waitMessage("Before the drop.")

	bobAccount, err := e.srv.DB().UserByLogin(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	// Bob's network goes away: the browser cannot reconnect, and the
	// server closes his socket the way a restart does.
	bob.setOffline(true)
	e.srv.Rooms().CloseUser(bobAccount.ID, "", chat.CloseServiceRestart, "test: network drop")
	bob.do("see reconnecting", chromedp.WaitVisible(chromedp.CSS(`#conn-state[data-state="reconnecting"]`)))
	if got := bob.text("#conn-state"); got != "reconnecting" {
		t.Errorf("bob: connection state reads %q, want %q", got, "reconnecting")
	}

	missed := "Sent while Bob was away."
	alice.send(missed)
	alice.waitMessage(missed)
	if got := bob.text("#conn-state"); got != "reconnecting" {
		t.Fatalf("bob: while offline the connection state reads %q, want %q", got, "reconnecting")
	}
	if n := len(bob.shown()); n != 1 {
		t.Fatalf("bob: while offline his list has %d messages, want 1", n)
	}

	bob.setOffline(false)
	bob.waitLive()
	if got := bob.text("#conn-state"); got != "live" {
		t.Errorf("bob: connection state reads %q, want %q", got, "live")
	}
	bob.waitMessage(missed)
	got := bob.shown()
	texts := make([]string, len(got))
	for i, m := range got {
		texts[i] = m.Text
	}
	if strings.Join(texts, "|") != "Before the drop.|"+missed {
		t.Errorf("bob's list after reconnecting: %q, want each message exactly once", texts)
	}
	// Inside the grace period a reconnect is no leave and no join.
	if n := eval[int](alice, `Array.from(document.querySelectorAll('#messages .notice')).filter(function(n){return /^bob (left|joined)$/.test(n.innerText.trim());}).length`); n != 1 {
		t.Errorf("alice sees %d notices about bob, want only his first join", n)
	}
	bob.noScriptErrors()
}

// setOffline cuts u's tab off the network (or restores it).
func (u *user) setOffline(offline bool) {
	u.t.Helper()
	u.do("set offline", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}},
		})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: offline, DownloadThroughput: -1, UploadThroughput: -1,
		})
		return err
	}))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
