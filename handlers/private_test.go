package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/app/apptest"
	"natter/client"
)

// privateRoom has owner create the private room slug from the lobby's form
// and open its socket, so that the room lives; it returns the invitation
// link the room page shows, as a path.
func privateRoom(t *testing.T, h *harness, owner *client.Client, slug string) (invite string, sock *client.Socket) {
	t.Helper()
	res := submit(t, owner, "/rooms", "/rooms", url.Values{"name": {slug}, "private": {"1"}})
	wantRedirect(t, res, "/rooms/"+slug)
	sock = apptest.Dial(t, owner, slug)
	page := get(t, owner, "/rooms/"+slug)
	wantPage(t, page, http.StatusOK)
	link := byTestID(page.Body, "invite-link")
	prefix := h.URL + "/rooms/" + slug + "/join/"
	if !strings.HasPrefix(link, prefix) || len(link) != len(prefix)+43 {
		t.Fatalf("invite link %q: want %s plus a 43-character token", link, prefix)
	}
	return strings.TrimPrefix(link, h.URL), sock
}

// csrfOf is the CSRF token of a page the client fetches.
func csrfOf(t *testing.T, c *client.Client, path string) string {
	t.Helper()
	return client.CSRF(get(t, c, "/rooms").Body)
}

func TestPrivateRoomIsA404ToOutsiders(t *testing.T) {
	h := newHarness(t)
	alice, eve := h.User("alice"), h.User("eve")
	invite, _ := privateRoom(t, h, alice, "secret-plans")
	tok := url.Values{"csrf": {csrfOf(t, eve, "/rooms")}}

	// The page: exactly what a room that does not exist shows (but its
	// name, which the asker typed).
	missing := get(t, eve, "/rooms/no-plans")
	page := get(t, eve, "/rooms/secret-plans")
	if page.Status != http.StatusNotFound || strings.ReplaceAll(page.Body, "secret-plans", "no-plans") != missing.Body {
		t.Errorf("outsider's room page: %d, differs from a missing room's:\n%s\nwant:\n%s", page.Status, page.Body, missing.Body)
	}
	// Every other route: the 404 of an address that does not exist.
	unknown := get(t, eve, "/rooms/no-plans/nothing-here")
	if unknown.Status != http.StatusNotFound {
		t.Fatalf("unknown address: %d", unknown.Status)
	}
	for _, r := range []struct {
		name string
		res  *client.Response
	}{
		{"message", post(t, eve, "/rooms/secret-plans/messages", url.Values{"csrf": tok["csrf"], "message": {"hello?"}})},
		{"new invite", post(t, eve, "/rooms/secret-plans/invite", tok)},
		{"join page, wrong token", get(t, eve, "/rooms/secret-plans/join/"+strings.Repeat("A", 43))},
		{"join, wrong token", post(t, eve, "/rooms/secret-plans/join/"+strings.Repeat("A", 43), tok)},
		{"join page, missing room", get(t, eve, "/rooms/no-plans/join/"+strings.Repeat("A", 43))},
	} {
		if r.res.Status != http.StatusNotFound || r.res.Body != unknown.Body {
			t.Errorf("%s: %d, body differs from an unknown address's:\n%.600s", r.name, r.res.Status, r.res.Body)
		}
	}
	// The socket: refused before the upgrade, as an invalid room is.
	s, err := eve.Dial("secret-plans", nil)
	if err == nil || s.Response == nil || s.Response.StatusCode != http.StatusNotFound {
		t.Fatalf("outsider's socket: err %v, want a 404 before the upgrade", err)
	}
	// Nothing in the lobby or its list.
	for _, path := range []string{"/rooms", "/rooms/list"} {
		if body := get(t, eve, path).Body; strings.Contains(body, "secret") {
			t.Errorf("%s shows the private room to an outsider:\n%.2000s", path, body)
		}
		if body := get(t, alice, path).Body; !strings.Contains(body, `data-room="secret-plans"`) {
			t.Errorf("%s does not list the private room to its owner", path)
		}
	}
	// Taking its name: "not available", never the room.
	res := submit(t, eve, "/rooms", "/rooms", url.Values{"name": {"secret-plans"}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := fieldError(res.Body, "name"); got != "This name is not available; choose another." {
		t.Errorf("taking a private room's name: %q", got)
	}
	if strings.Contains(h.Log.String(), strings.TrimPrefix(invite, "/rooms/secret-plans/join/")) {
		t.Error("the invitation token reached the log")
	}
}

func TestInviteLinkAdmitsAndANewOneEndsIt(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	invite, _ := privateRoom(t, h, alice, "secret-plans")

	page := get(t, bob, invite)
	wantPage(t, page, http.StatusOK, "You are invited to")
	if get(t, bob, "/rooms/secret-plans").Status != http.StatusNotFound {
		t.Fatal("opening the link admitted bob before he pressed Join")
	}
	wantRedirect(t, submit(t, bob, invite, invite, nil), "/rooms/secret-plans")
	wantPage(t, get(t, bob, "/rooms/secret-plans"), http.StatusOK, "secret")
	apptest.Dial(t, bob, "secret-plans").Close()
	if !strings.Contains(get(t, bob, "/rooms/list").Body, `data-room="secret-plans"`) {
		t.Error("the lobby does not list the private room to an admitted member")
	}

	// bob may not renew the link: only the owner.
	res := post(t, bob, "/rooms/secret-plans/invite", url.Values{"csrf": {csrfOf(t, bob, "/rooms")}})
	wantPage(t, res, http.StatusForbidden, "Only the room&#39;s owner can do this.")

	wantRedirect(t, submit(t, alice, "/rooms/secret-plans", "/rooms/secret-plans/invite", nil), "/rooms/secret-plans?invite=new")
	fresh := strings.TrimPrefix(byTestID(get(t, alice, "/rooms/secret-plans").Body, "invite-link"), h.URL)
	if fresh == invite || !strings.HasPrefix(fresh, "/rooms/secret-plans/join/") {
		t.Fatalf("new link %q, old %q", fresh, invite)
	}
	if res := get(t, carol, invite); res.Status != http.StatusNotFound {
		t.Errorf("the old link still works after a new one: %d", res.Status)
	}
	wantRedirect(t, submit(t, carol, fresh, fresh, nil), "/rooms/secret-plans")
	wantPage(t, get(t, bob, "/rooms/secret-plans"), http.StatusOK) // still in
}

func TestRemovedMemberIsClosedAndCannotComeBack(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	wantRedirect(t, submit(t, alice, "/rooms", "/rooms", url.Values{"name": {"crew42"}}), "/rooms/crew42")
	as := apptest.Dial(t, alice, "crew42")
	bs, cs := apptest.Dial(t, bob, "crew42"), apptest.Dial(t, carol, "crew42")
	bobID := strconv.FormatInt(userID(t, h, "bob"), 10)
	ar := newReader(t, as)
	ar.until("carol's join", func(all string) bool { return strings.Contains(all, `data-member="carol"`) })

	// carol is a member, not the owner: 403, and nothing happens.
	res := post(t, carol, "/rooms/crew42/members/"+bobID+"/remove", url.Values{"csrf": {csrfOf(t, carol, "/rooms")}})
	wantPage(t, res, http.StatusForbidden, "Only the room&#39;s owner can do this.")
	// An outsider of a private room gets its 404 (see the test above); a
	// room that does not exist, the same.
	if res := post(t, carol, "/rooms/nowhere/members/"+bobID+"/remove", url.Values{"csrf": {csrfOf(t, carol, "/rooms")}}); res.Status != http.StatusNotFound {
		t.Errorf("remove in a missing room: %d", res.Status)
	}

	wantRedirect(t, post(t, alice, "/rooms/crew42/members/"+bobID+"/remove", url.Values{"csrf": {csrfOf(t, alice, "/rooms")}}), "/rooms/crew42")
	bs.SetReadDeadline(time.Now().Add(5 * time.Second))
	var err error
	for err == nil {
		_, _, err = bs.ReadMessage()
	}
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Code != 1008 || ce.Text != "You were removed from #crew42." {
		t.Errorf("bob's socket ended with %v, want 1008 \"You were removed from #crew42.\"", err)
	}
	ar.until("bob's leave", func(all string) bool { return strings.Contains(all, `id="member-`+bobID+`" hx-swap-oob="delete"`) })
	cs.Close()

	// He cannot come back while the room lives: page, socket, messages.
	missing := get(t, bob, "/rooms/void42")
	if res := get(t, bob, "/rooms/crew42"); res.Status != http.StatusNotFound || strings.ReplaceAll(res.Body, "crew42", "void42") != missing.Body {
		t.Errorf("removed member's room page: %d\n%.600s", res.Status, res.Body)
	}
	if s, err := bob.Dial("crew42", nil); err == nil || s.Response == nil || s.Response.StatusCode != http.StatusNotFound {
		t.Errorf("removed member's socket: %v, want a 404 before the upgrade", err)
	}
	if res := post(t, bob, "/rooms/crew42/messages", url.Values{"csrf": {csrfOf(t, bob, "/rooms")}, "message": {"back"}}); res.Status != http.StatusNotFound {
		t.Errorf("removed member's post: %d, want 404", res.Status)
	}
	if strings.Contains(get(t, bob, "/rooms/list").Body, `data-room="crew42"`) {
		t.Error("the lobby still lists the room to the removed member")
	}
}

func TestDirectMessageRoomAndNotice(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	aliceID, bobID := userID(t, h, "alice"), userID(t, h, "bob")
	slug := "dm-" + strconv.FormatInt(min(aliceID, bobID), 10) + "-" + strconv.FormatInt(max(aliceID, bobID), 10)
	// bob is in another room: the notice reaches him there.
	br := newReader(t, apptest.Dial(t, bob, "general"))
	br.until("bob's snapshot", func(all string) bool { return strings.Contains(all, `data-member="bob"`) })

	wantRedirect(t, post(t, alice, "/dm", url.Values{"csrf": {csrfOf(t, alice, "/rooms")}, "username": {"BOB"}}), "/rooms/"+slug)
	all := br.until("the notice", func(all string) bool { return strings.Contains(all, `data-notice="dm"`) })
	if !strings.Contains(all, `alice sent you a direct message. <a href="/rooms/`+slug+`"`) {
		t.Errorf("notice: %s", all)
	}
	// The same room while it lives, from either side; no second notice.
	apptest.Dial(t, alice, slug)
	wantRedirect(t, post(t, bob, "/dm", url.Values{"csrf": {csrfOf(t, bob, "/rooms")}, "username": {"alice"}}), "/rooms/"+slug)
	wantRedirect(t, post(t, alice, "/dm", url.Values{"csrf": {csrfOf(t, alice, "/rooms")}, "username": {"bob"}}), "/rooms/"+slug)
	if got := byTestID(get(t, bob, "/rooms/"+slug).Body, "direct-with"); got != "Direct messages with alice" {
		t.Errorf("bob's direct room says %q", got)
	}
	if body := get(t, bob, "/rooms/list").Body; !strings.Contains(body, `data-room="`+slug+`"`) || !strings.Contains(body, "alice") {
		t.Errorf("bob's lobby does not list his direct room with alice:\n%.2000s", body)
	}
	// carol sees nothing of it, and cannot take its name.
	if res := get(t, carol, "/rooms/"+slug); res.Status != http.StatusNotFound {
		t.Errorf("carol opens the direct room: %d", res.Status)
	}
	if strings.Contains(get(t, carol, "/rooms/list").Body, slug) {
		t.Error("carol's lobby lists alice and bob's direct room")
	}
	res := submit(t, carol, "/rooms", "/rooms", url.Values{"name": {"dm-9-10"}})
	if got := fieldError(res.Body, "name"); got != "Names starting with dm- are kept for direct messages; choose another." {
		t.Errorf("creating a dm- room: %d %q", res.Status, got)
	}
	// Refusals: nobody of that name (an address is not a name), oneself.
	for name, want := range map[string]string{"nobody": "There is no user called nobody.", "carol@example.com": "There is no user called carol@example.com.", "alice": "A direct message needs someone else: pick another member."} {
		res := post(t, alice, "/dm", url.Values{"csrf": {csrfOf(t, alice, "/rooms")}, "username": {name}})
		wantPage(t, res, http.StatusUnprocessableEntity, want)
	}
	if n := strings.Count(br.all(), `data-notice="dm"`); n != 1 {
		t.Errorf("bob got %d notices, want 1", n)
	}
}

func TestAdminRemovesFromAnotherOwnersRoom(t *testing.T) {
	h := newHarness(t)
	ana := h.User("ana") // the first account: the admin
	bob, cyd := h.User("bob"), h.User("cyd")
	wantRedirect(t, submit(t, bob, "/rooms", "/rooms", url.Values{"name": {"bobs-room"}}), "/rooms/bobs-room")
	apptest.Dial(t, bob, "bobs-room")
	cs := apptest.Dial(t, cyd, "bobs-room")
	// Joined (the join runs after the handshake), so the removal finds her.
	newReader(t, cs).until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	cydID := strconv.FormatInt(userID(t, h, "cyd"), 10)

	wantRedirect(t, post(t, ana, "/rooms/bobs-room/members/"+cydID+"/remove", url.Values{"csrf": {csrfOf(t, ana, "/rooms")}}), "/rooms/bobs-room")
	cs.SetReadDeadline(time.Now().Add(5 * time.Second))
	var err error
	for err == nil {
		_, _, err = cs.ReadMessage()
	}
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Code != 1008 || ce.Text != "You were removed from #bobs-room." {
		t.Errorf("cyd's socket ended with %v", err)
	}
	// The owner removing someone already removed changes nothing and
	// fails nothing.
	res := post(t, bob, "/rooms/bobs-room/members/"+cydID+"/remove", url.Values{"csrf": {csrfOf(t, bob, "/rooms")}})
	wantRedirect(t, res, "/rooms/bobs-room")
	// One cannot remove oneself.
	bobID := strconv.FormatInt(userID(t, h, "bob"), 10)
	wantPage(t, post(t, bob, "/rooms/bobs-room/members/"+bobID+"/remove", url.Values{"csrf": {csrfOf(t, bob, "/rooms")}}),
		http.StatusForbidden, "You cannot remove yourself; leave the room instead.")
}
