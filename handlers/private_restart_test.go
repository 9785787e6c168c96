package handlers_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"natter/app/apptest"
	"natter/client"
)

var (
	wsConnect  = regexp.MustCompile(`ws-connect="([^"]*)"`)
	formAction = regexp.MustCompile(`<form id="message-form"[^>]* action="([^"]*)"`)
)

// roomAddresses returns the addresses the page of room slug gives c for
// its socket (ws-connect) and its message form (the form's action), as a
// browser on that page uses them.
func roomAddresses(t *testing.T, c *client.Client, slug string) (socket, form string) {
	t.Helper()
	page := get(t, c, "/rooms/"+slug)
	wantPage(t, page, http.StatusOK)
	ws, action := wsConnect.FindStringSubmatch(page.Body), formAction.FindStringSubmatch(page.Body)
	if ws == nil || action == nil {
		t.Fatalf("the page of %s has no socket address or no message form:\n%.3000s", slug, page.Body)
	}
	return html.UnescapeString(ws[1]), html.UnescapeString(action[1])
}

// joinedAs reads sock until its snapshot lists member name: the socket
// has joined.
func joinedAs(t *testing.T, sock *client.Socket, name string) {
	t.Helper()
	newReader(t, sock).until(name+"'s snapshot", func(all string) bool { return strings.Contains(all, `data-member="`+name+`"`) })
}

// lists reports whether the lobby's list shows room slug to c.
func lists(t *testing.T, c *client.Client, slug string) bool {
	t.Helper()
	return strings.Contains(get(t, c, "/rooms/list").Body, `data-room="`+slug+`"`)
}

// A restart ends every room. The members of a private room reconnect (the
// browser does so on 1012) and are told it no longer exists: the room is
// not made anew as a public room, listed to everyone, while they go on
// typing as if it were private. Its invitation link and its message form
// make nothing either. A public room comes back on its member's
// reconnect, as before.
func TestPrivateRoomVanishesWithTheServer(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	invite, sock := privateRoom(t, h, alice, "den")
	ws, form := roomAddresses(t, alice, "den")
	if ws != "/rooms/den/ws?private=1" || form != "/rooms/den/messages?private=1" {
		t.Errorf("the private room's page connects to %q and posts to %q, want both with ?private=1", ws, form)
	}
	csrf := csrfOf(t, alice, "/rooms")
	wantRedirect(t, submit(t, carol, "/rooms", "/rooms", url.Values{"name": {"lounge"}}), "/rooms/lounge")
	carolWS, _ := roomAddresses(t, carol, "lounge")
	if carolWS != "/rooms/lounge/ws" {
		t.Errorf("the public room's page connects to %q, want /rooms/lounge/ws", carolWS)
	}
	carolSock := apptest.DialPath(t, carol, carolWS)
	joinedAs(t, sock, "alice")
	joinedAs(t, carolSock, "carol")

	h.Restart()
	wantClosed(t, sock, 1012, "Server restarting.")
	wantClosed(t, carolSock, 1012, "Server restarting.")

	// alice's page reconnects: refused for good, as a vanished room is.
	wantClosed(t, apptest.DialPath(t, alice, ws), 1008, "This room no longer exists.")
	if _, _, ok := h.Rooms().Room("den"); ok {
		t.Fatal("the reconnect made the room den anew")
	}
	for name, c := range map[string]*client.Client{"bob": bob, "alice": alice} {
		if lists(t, c, "den") {
			t.Errorf("the lobby lists den to %s after the restart", name)
		}
		wantPage(t, get(t, c, "/rooms/den"), http.StatusNotFound, "den is not open")
	}
	// Her page's form (no JavaScript) posts nothing and makes nothing.
	res := post(t, alice, form, url.Values{"csrf": {csrf}, "message": {"still private?"}})
	wantPage(t, res, http.StatusNotFound, "Page not found")
	// The invitation link: the 404 of a room that does not exist.
	wantPage(t, get(t, bob, invite), http.StatusNotFound, "Page not found")
	wantPage(t, post(t, bob, invite, url.Values{"csrf": {csrfOf(t, bob, "/rooms")}}), http.StatusNotFound, "Page not found")
	if _, _, ok := h.Rooms().Room("den"); ok || lists(t, bob, "den") {
		t.Fatal("the form or the invitation link made the room den anew")
	}

	// The public room comes back on its member's reconnect.
	joinedAs(t, apptest.DialPath(t, carol, carolWS), "carol")
	if !lists(t, bob, "lounge") {
		t.Error("the lobby does not list lounge after carol reconnected")
	}
}

// A direct room vanishes with the server too, even for a page loaded
// before the hint existed (no ?private=1): a direct room's slug is never
// made by a socket or a form, only by /dm, which then makes the room
// anew for the two of them.
func TestDirectRoomVanishesWithTheServer(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	res := post(t, alice, "/dm", url.Values{"csrf": {csrfOf(t, alice, "/rooms")}, "username": {"bob"}})
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/rooms/dm-") {
		t.Fatalf("POST /dm: %d to %q", res.Status, res.Location)
	}
	slug := strings.TrimPrefix(res.Location, "/rooms/")
	ws, form := roomAddresses(t, alice, slug)
	if ws != "/rooms/"+slug+"/ws?private=1" || form != "/rooms/"+slug+"/messages?private=1" {
		t.Errorf("the direct room's page connects to %q and posts to %q, want both with ?private=1", ws, form)
	}
	sock := apptest.DialPath(t, alice, ws)
	joinedAs(t, sock, "alice")

	h.Restart()
	wantClosed(t, sock, 1012, "Server restarting.")
	wantClosed(t, apptest.DialPath(t, bob, ws), 1008, "This room no longer exists.")
	// An older page's socket and form, without the hint; a third user's.
	wantClosed(t, apptest.Dial(t, alice, slug), 1008, "This room no longer exists.")
	wantClosed(t, apptest.Dial(t, carol, slug), 1008, "This room no longer exists.")
	for _, c := range []*client.Client{alice, carol} {
		res := post(t, c, "/rooms/"+slug+"/messages", url.Values{"csrf": {csrfOf(t, c, "/rooms")}, "message": {"hello?"}})
		wantPage(t, res, http.StatusNotFound, "Page not found")
	}
	if _, _, ok := h.Rooms().Room(slug); ok || lists(t, carol, slug) || lists(t, alice, slug) {
		t.Fatal("the direct room was made anew by a socket or a form")
	}

	// /dm makes a new direct room of the two, private.
	wantRedirect(t, post(t, bob, "/dm", url.Values{"csrf": {csrfOf(t, bob, "/rooms")}, "username": {"alice"}}), "/rooms/"+slug)
	joinedAs(t, apptest.DialPath(t, bob, ws), "bob")
	wantPage(t, get(t, carol, "/rooms/"+slug), http.StatusNotFound)
	if lists(t, carol, slug) || !lists(t, alice, slug) {
		t.Error("the new direct room is listed to carol, or not to alice")
	}
}

// A public room opened under the name of a private room that ended is
// not the private room: a page that showed the private one (its hint)
// neither joins it nor posts to it.
func TestPrivatePageDoesNotJoinAPublicRoomOfItsName(t *testing.T) {
	h := newHarness(t)
	alice, eve := h.User("alice"), h.User("eve")
	_, sock := privateRoom(t, h, alice, "den")
	ws, form := roomAddresses(t, alice, "den")
	csrf := csrfOf(t, alice, "/rooms")
	joinedAs(t, sock, "alice")

	h.Restart()
	wantClosed(t, sock, 1012, "Server restarting.")
	wantRedirect(t, submit(t, eve, "/rooms", "/rooms", url.Values{"name": {"den"}}), "/rooms/den")
	joinedAs(t, apptest.Dial(t, eve, "den"), "eve")

	wantClosed(t, apptest.DialPath(t, alice, ws), 1008, "This room no longer exists.")
	res := post(t, alice, form, url.Values{"csrf": {csrf}, "message": {"meant for the private room"}})
	wantPage(t, res, http.StatusNotFound, "Page not found")
	if history, members, _ := h.Rooms().Room("den"); len(history) != 1 || len(members) != 1 || members[0].Name != "eve" {
		t.Errorf("eve's public den holds %d entries and members %v, want eve's join alone", len(history), members)
	}
}
