package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPrivateRoomEndsWithTheServer: a restart ends every room. The page
// of a private room reconnects (1012), is told the room no longer exists,
// and stops there: it does not bring the room back as a public room,
// listed in everyone's lobby, while its member goes on typing as if it
// were private, and it does not keep reconnecting.
func TestPrivateRoomEndsWithTheServer(t *testing.T) {
	e := startEnv(t, nil)
	ana, bo := e.newUser("ana"), e.newUser("bob")
	ana.register()
	bo.register()
	ana.openPrivateRoom("plans")
	ana.waitLive()
	ana.send("Only for us.")
	ana.waitMessage("Only for us.")
	// Every connection attempt of the page, from here on.
	eval[bool](ana, `(window.connects = 0, document.addEventListener('htmx:wsConnecting', function(){ window.connects++; }), true)`)

	e.restart()
	ana.waitFor("the room's end", `!document.getElementById('session-ended').classList.contains('hidden')`)
	if got, want := ana.text(`#session-ended [data-session-reason]`), "This room no longer exists."; got != want {
		t.Errorf("the page says %q, want %q", got, want)
	}
	if got := eval[string](ana, `document.getElementById('conn-state').dataset.state`); got != "ended" {
		t.Errorf("the connection state is %q, want ended", got)
	}
	// The session is fine: the page offers the rooms, not a sign-in.
	if got, want := ana.text("#conn-state"), "room ended"; got != want {
		t.Errorf("the connection state reads %q, want %q", got, want)
	}
	if got, want := ana.text("#session-ended a"), "Back to rooms"; got != want {
		t.Errorf("the way out reads %q, want %q", got, want)
	}
	if got, want := eval[string](ana, `document.querySelector('#session-ended a').getAttribute('href')`), "/rooms"; got != want {
		t.Errorf("the way out goes to %q, want %q", got, want)
	}
	// Refused for good, it tries no more. (It may have tried more than
	// once before: an attempt while the server was down fails with 1006.)
	attempts := eval[int](ana, `window.connects`)
	time.Sleep(3 * time.Second)
	if n := eval[int](ana, `window.connects`); attempts < 1 || n != attempts {
		t.Errorf("the page connected %d times after the restart, then %d more in 3 s once refused; want at least once, then never", attempts, n-attempts)
	}
	// What was on screen stays there.
	if got := ana.shown(); len(got) != 1 || got[0].Text != "Only for us." {
		t.Errorf("ana's list shows %+v, want her message", got)
	}
	shootIfAsked(ana, "27-private-room-after-restart")

	if _, _, ok := e.srv.Rooms().Room("plans"); ok {
		t.Fatal("the server made the room plans anew")
	}
	bo.open("/rooms", "#room-list")
	if eval[bool](bo, `!!document.querySelector('[data-room="plans"]')`) {
		t.Error("bob's lobby lists plans after the restart")
	}
	bo.open("/rooms/plans", `[data-testid="room-closed"]`)
	if got := bo.text(`[data-testid="room-closed"] h1`); !strings.HasSuffix(got, "plans is not open") {
		t.Errorf("bob's page of plans reads %q, want that it is not open", got)
	}
	wellBehaved(ana, bo)
}
