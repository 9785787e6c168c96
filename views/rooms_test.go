package views

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"natter/chat"
	"natter/db"
)

// The room page carries what natter.js and the server's frames need for
// issue 13, in the order a person meets them: the message list, the typing
// line, then the box with its mention list; the delete confirmation and
// the reaction picker once per page.
func TestRoomPageTeamParts(t *testing.T) {
	p := Page{Title: "#general", User: &db.User{ID: 7, Username: "ana"}, CSRF: "tok", FullHeight: true}
	var buf bytes.Buffer
	err := RoomPage(p, "general", "http://x/rooms/general", RoomAccess{Owner: true}, nil, []chat.Member{{ID: 7, Name: "ana"}}).Render(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var order []string // ids of the elements below, in document order
	byID := map[string]*html.Node{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if id, _ := roomAttr(n, "id"); n.Type == html.ElementNode && id != "" {
			byID[id] = n
			order = append(order, id)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)

	checks := []struct{ id, attr, want string }{
		{"room", "data-me", "7"},
		{"room", "data-can-remove", ""},
		{"typing", "aria-live", "polite"},
		{"messages", "aria-live", "polite"},
		{"f-message", "aria-controls", IDMentionList},
		{"f-message", "aria-autocomplete", "list"},
		{"f-message", "aria-expanded", "false"},
		{IDMentionList, "role", "listbox"},
		{IDReactPicker, "role", "dialog"},
		{"f-notify", "data-setting", "notify"},
		{"f-sound", "data-setting", "sound"},
	}
	for _, c := range checks {
		n := byID[c.id]
		if n == nil {
			t.Errorf("no #%s", c.id)
			continue
		}
		if v, ok := roomAttr(n, c.attr); !ok || v != c.want {
			t.Errorf("#%s %s=%q (present %v), want %q", c.id, c.attr, v, ok, c.want)
		}
	}
	if n := byID[IDDeleteConfirm]; n == nil || n.Data != "dialog" {
		t.Errorf("#%s is not a dialog", IDDeleteConfirm)
	}
	if got, want := roomIDsInOrder(order, "messages", "typing", "f-message"), "messages typing f-message"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	var quick []string
	var find func(*html.Node)
	find = func(n *html.Node) {
		if e, ok := roomAttr(n, "data-react-emoji"); ok {
			quick = append(quick, e)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(byID[IDReactPicker])
	if got := strings.Join(quick, " "); got != "👍 ❤️ 😂 🎉 😮 👀" {
		t.Errorf("quick reactions %q", got)
	}
}

func roomAttr(n *html.Node, name string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// roomIDsInOrder lists those of want that occur in order, in their order there.
func roomIDsInOrder(order []string, want ...string) string {
	var got []string
	for _, id := range order {
		for _, w := range want {
			if id == w {
				got = append(got, id)
			}
		}
	}
	return strings.Join(got, " ")
}
