package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Two people in a private room while a third sees nothing of it, then a
// direct message whose notice reaches the other person on the room page
// they have open.
func TestPrivateRoomAndDirectMessage(t *testing.T) {
	e := startEnv(t, nil)
	dir := screenshotDir(t)
	ana, bo, cy := e.newUser("ana"), e.newUser("bob"), e.newUser("cyd")
	ana.register()
	bo.register()
	cy.register()

	ana.openPrivateRoom("plans")
	ana.waitLive()
	link := ana.text(`[data-testid="invite-link"]`)
	if !strings.HasPrefix(link, e.base+"/rooms/plans/join/") {
		t.Fatalf("invitation link %q", link)
	}

	bo.open(strings.TrimPrefix(link, e.base), `[data-testid="join"]`)
	bo.do("join with the link", clickAndLoad(`[data-testid="join"]`), chromedp.WaitVisible(chromedp.ID("f-message")))
	bo.waitLive()
	ana.waitFor("bob in ana's member list", `!!document.querySelector('#members [data-member="bob"]')`)
	ana.shoot(dir, "24-private-room-owner")

	cy.open("/rooms", "#room-list")
	if eval[bool](cy, `!!document.querySelector('[data-room="plans"]')`) {
		t.Error("cy's lobby lists the private room")
	}
	cy.open("/rooms/plans", `[data-testid="room-closed"]`)

	// bo messages ana from the member list; ana, still in #plans, is told.
	bo.do("message ana",
		chromedp.Click(chromedp.CSS(`#members [data-member="ana"] [data-testid="message-member"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#room[data-room^="dm-"]`)))
	bo.waitLive()
	ana.waitFor("the direct message notice", `!!document.querySelector('#notices [data-notice="dm"]')`)
	if got := ana.text(`#notices [data-notice="dm"]`); got != "bob sent you a direct message. Open it" {
		t.Errorf("notice reads %q", got)
	}
	ana.shoot(dir, "25-direct-message-notice")
	ana.do("open the direct room", clickAndLoad(`#notices [data-notice="dm"] a`), chromedp.WaitVisible(chromedp.ID("f-message")))
	ana.waitLive()
	if eval[bool](ana, `!!document.querySelector('#members [data-member="ana"] .member-actions')`) {
		t.Error("ana's own member entry offers actions")
	}
	ana.send("hello bob")
	bo.waitMessage("hello bob")
	bo.open("/rooms", "#room-list")
	bo.shoot(dir, "26-lobby-direct-room")
	wellBehaved(ana, bo, cy)
}

// openPrivateRoom opens private room name from the lobby and waits for its
// invitation link.
func (u *user) openPrivateRoom(name string) {
	u.t.Helper()
	u.do("open a private room",
		fill("#f-name", name),
		chromedp.Click(chromedp.CSS(`input[name="private"]`)),
		clickAndLoad(`form[action="/rooms"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invite-link"]`)))
}
