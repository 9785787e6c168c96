package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"natter/client"
)

const (
	msgLookalike = "This user name looks too much like another member's (for example a capital I and a small l, or 0 and O, look alike). Choose another."
	msgHeld      = "This user name was given up by another member less than 30 days ago and is held for them. Choose another."
)

// "hoIder2" (capital i) is refused beside "holder2", at sign-up and on
// rename, with a clear message and what was typed kept.
func TestLookalikeNamesAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signedUp("holder2", "holder@example.com", pwAlice)
	res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"hoIder2"}, "email": {"mallory@example.com"},
		"password": {"staple tuning fork"}, "password_confirm": {"staple tuning fork"}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := fieldError(res.Body, "username"); got != msgLookalike {
		t.Errorf("error next to the user name = %q, want %q", got, msgLookalike)
	}
	if u, e := inputValue(t, res.Body, "/register", "username"), inputValue(t, res.Body, "/register", "email"); u != "hoIder2" || e != "mallory@example.com" {
		t.Errorf("form kept %q %q", u, e)
	}
	bob := h.signedUp("bob", "bob@example.com", "staple tuning fork")
	res = submit(t, bob, "/account", "/account", url.Values{"form": {"profile"}, "username": {"h0lder2"}, "email": {"bob@example.com"}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := fieldError(res.Body, "username"); got != msgLookalike {
		t.Errorf("rename: error next to the user name = %q, want %q", got, msgLookalike)
	}
}

// A name freed by a rename cannot be taken by someone else at once; its
// former owner may take it back.
func TestRenamedNameIsHeldForItsOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", pwAlice)
	wantRedirect(t, submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"alicia"}, "email": {"alice@example.com"}}), "/account?saved=profile")
	res := submit(t, h.client(), "/register", "/register", url.Values{"username": {"alice"}, "email": {"mallory@example.com"},
		"password": {"staple tuning fork"}, "password_confirm": {"staple tuning fork"}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := fieldError(res.Body, "username"); got != msgHeld {
		t.Errorf("error next to the user name = %q, want %q", got, msgHeld)
	}
	wantRedirect(t, submit(t, alice, "/account", "/account", url.Values{"form": {"profile"}, "username": {"alice"}, "email": {"alice@example.com"}}), "/account?saved=profile")
	if got := signedInAs(t, alice); got != "alice" {
		t.Errorf("after taking her name back alice is %q", got)
	}
}

// Every message and member entry carries a badge with the initial and a
// colour from the account id, and the account number on hover, so two
// people whose names look alike can be told apart. The markup is the same
// for every viewer.
func TestAuthorsCanBeToldApart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", pwAlice)
	bob := h.signedUp("bob", "bob@example.com", "staple tuning fork")
	aliceID, bobID := userID(t, h, "alice"), userID(t, h, "bob")
	// The views' badge colours, by account id modulo 8.
	badgeColours := [8]string{"bg-rose-700", "bg-teal-700", "bg-amber-700", "bg-indigo-700",
		"bg-lime-700", "bg-fuchsia-700", "bg-sky-700", "bg-slate-600"}
	for _, c := range []*client.Client{alice, bob} {
		sock, err := c.Dial("general", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
	}
	res := post(t, alice, "/rooms/general/messages", url.Values{"message": {"hello"}, "csrf": {pageCSRF(get(t, alice, "/rooms").Body)}})
	if res.Status != http.StatusSeeOther && res.Status != http.StatusNoContent {
		t.Fatalf("posting: %d %.300s", res.Status, res.Body)
	}
	var pages []string
	for _, c := range []*client.Client{bob, alice} {
		page := get(t, c, "/rooms/general")
		wantPage(t, page, http.StatusOK)
		pages = append(pages, page.Body)
	}
	for _, tt := range []struct {
		where string
		in    func(*html.Node) bool
		id    int64
		name  string
	}{
		{"alice's message", func(n *html.Node) bool { return attr(n, "data-author") == strconv.FormatInt(aliceID, 10) }, aliceID, "alice"},
		{"alice in the member list", func(n *html.Node) bool { return attr(n, "id") == "member-"+strconv.FormatInt(aliceID, 10) }, aliceID, "alice"},
		{"bob in the member list", func(n *html.Node) bool { return attr(n, "id") == "member-"+strconv.FormatInt(bobID, 10) }, bobID, "bob"},
	} {
		mark, title := authorMarkIn(pages[0], tt.in)
		wantClass := badgeColours[tt.id%8]
		if mark == nil || mark.text != strings.ToUpper(tt.name[:1]) || !strings.Contains(mark.class, wantClass) {
			t.Errorf("%s: badge %+v, want %q on %s", tt.where, mark, strings.ToUpper(tt.name[:1]), wantClass)
		}
		if want := tt.name + " (account #" + strconv.FormatInt(tt.id, 10) + ")"; title != want {
			t.Errorf("%s: title %q, want %q", tt.where, title, want)
		}
	}
	if badgeColours[aliceID%8] == badgeColours[bobID%8] {
		t.Errorf("alice (%d) and bob (%d) have one colour", aliceID, bobID)
	}
	// Rendered once for everyone: the message is the same for both viewers.
	msg := func(body string) string {
		i := strings.Index(body, `data-author="`+strconv.FormatInt(aliceID, 10)+`"`)
		j := strings.Index(body[i:], "</li>")
		return body[i : i+j]
	}
	if a, b := msg(pages[0]), msg(pages[1]); a != b {
		t.Errorf("alice's message differs between viewers:\n%s\n%s", a, b)
	}
}

type badge struct{ text, class string }

// authorMarkIn finds the first element matching in and returns its author
// badge and the title of the name beside it.
func authorMarkIn(body string, in func(*html.Node) bool) (*badge, string) {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return nil, ""
	}
	var scope *html.Node
	var find func(*html.Node, func(*html.Node) bool) *html.Node
	find = func(n *html.Node, match func(*html.Node) bool) *html.Node {
		if n.Type == html.ElementNode && match(n) {
			return n
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if f := find(c, match); f != nil {
				return f
			}
		}
		return nil
	}
	if scope = find(doc, in); scope == nil {
		return nil, ""
	}
	var b *badge
	if m := find(scope, func(n *html.Node) bool { return strings.Contains(attr(n, "class"), "author-mark") }); m != nil {
		b = &badge{text: attr(m, "data-initial"), class: attr(m, "class")}
	}
	title := ""
	if n := find(scope, func(n *html.Node) bool { return attr(n, "title") != "" && n.Data == "span" }); n != nil {
		title = attr(n, "title")
	}
	return b, title
}

func userID(t *testing.T, h *harness, name string) int64 {
	t.Helper()
	u, err := h.DB.UserByLogin(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
