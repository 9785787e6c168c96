package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A room named like one of the page's element ids cannot take it over:
// ids come from server-made numbers and hashes, never from the name.
func TestRoomNamedLikeAnElementID(t *testing.T) {
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	for _, name := range []string{"messages", "members", "member-count", "room-list", "main"} {
		res, err := alice.Submit("/rooms", "/rooms", url.Values{"name": {name}})
		if err != nil || res.Status != http.StatusSeeOther || res.Location != "/rooms/"+name {
			t.Fatalf("create %q: %v %+v", name, err, res)
		}
		page, err := alice.Get("/rooms/" + name)
		if err != nil || page.Status != http.StatusOK {
			t.Fatalf("GET /rooms/%s: %v", name, err)
		}
		if n := strings.Count(page.Body, `id="`+name+`"`); n > 1 {
			t.Errorf("room %q: %d elements with id %q", name, n, name)
		}
		for _, id := range []string{"messages", "members", "member-count"} {
			if n := strings.Count(page.Body, `id="`+id+`"`); n != 1 {
				t.Errorf("room %q: %d elements with id %q, want 1", name, n, id)
			}
		}
	}
	lobby, _ := alice.Get("/rooms")
	for id, want := range map[string]int{"main": 1, "room-list": 1, "messages": 0, "members": 0, "member-count": 0} {
		if n := strings.Count(lobby.Body, `id="`+id+`"`); n != want {
			t.Errorf("lobby: %d elements with id %q, want %d", n, id, want)
		}
	}
}
