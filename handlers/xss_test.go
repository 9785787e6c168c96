package handlers_test

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"natter/app/apptest"
	"natter/chat"
)

// xssCorpus reads testdata/xss.txt: one payload a line, \n a newline.
func xssCorpus(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/xss.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, strings.ReplaceAll(l, `\n`, "\n"))
		}
	}
	return out
}

// wantInert fails if html (a page or frames) holds markup a payload made:
// an element that runs or loads something, an event or style attribute, a
// link or htmx address that is not http(s) or our own.
func wantInert(t *testing.T, where, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script":
				if attr(n, "src") == "" || !strings.HasPrefix(attr(n, "src"), "/") || n.FirstChild != nil {
					t.Errorf("%s: a script element: %s", where, page)
				}
			case "img", "svg", "iframe", "style", "object", "embed", "math", "base", "meta":
				if (n.Data != "meta" || attr(n, "http-equiv") != "") && !isIcon(n) {
					t.Errorf("%s: a <%s> element", where, n.Data)
				}
			}
			for _, a := range n.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				switch {
				case strings.HasPrefix(a.Key, "on"), a.Key == "style", a.Key == "src" && n.Data != "script":
					t.Errorf("%s: attribute %s=%q on <%s>", where, a.Key, a.Val, n.Data)
				case (a.Key == "href" || a.Key == "action" || strings.HasPrefix(a.Key, "hx-get") || strings.HasPrefix(a.Key, "hx-post")) &&
					!strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "#") && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://"):
					t.Errorf("%s: %s=%q on <%s>", where, a.Key, a.Val, n.Data)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

// isIcon reports whether n is one of the templates' own icons: an <svg>
// marked data-icon, hidden from screen readers, with no attribute beyond
// those the templates write (an event attribute is caught by the walk).
func isIcon(n *html.Node) bool {
	if n.Data != "svg" || attr(n, "aria-hidden") != "true" {
		return false
	}
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "data-icon", "aria-hidden", "viewbox", "fill", "class":
		default:
			return false
		}
	}
	return slices.ContainsFunc(n.Attr, func(a html.Attribute) bool { return a.Key == "data-icon" })
}

// Every payload of the corpus, posted, edited in, reacted with and
// mentioned with, reaches the frames and pages of issue 13 as text.
func TestXSSCorpusStaysText(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *harnessConfig) {
		c.chat = func(cc *chat.Config) { cc.MessageBurst, cc.EditBurst, cc.ReactBurst = 1000, 1000, 1000 }
	})
	h.User("root")
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	as, bs := apptest.Dial(t, alice, "general"), apptest.Dial(t, bob, "general")
	ar, br := newReader(t, as), newReader(t, bs)
	cr := newReader(t, apptest.Dial(t, carol, "programming"))
	ar.until("bob", func(a string) bool { return strings.Contains(a, "bob joined") })
	cr.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })

	corpus := xssCorpus(t)
	first := 3 // after the two join notices
	for _, p := range corpus {
		if err := as.SendMessage(p + " @carol"); err != nil {
			t.Fatal(err)
		}
	}
	// The mentions outside code, each told to carol in her room.
	mentions := strings.Count(marker(t, as, br, "posted"), `data-mention=`)
	for i := range corpus {
		seq := strconv.Itoa(first + i)
		sendFrame(t, as, map[string]string{"edit": seq, "message": corpus[(i+1)%len(corpus)]})
		sendFrame(t, bs, map[string]string{"react": seq, "emoji": corpus[i]})
	}
	all := marker(t, as, br, "edited")
	if strings.Count(all, `data-edited hx-swap-oob="true"`) != len(corpus) {
		t.Errorf("bob got %d edits of %d", strings.Count(all, `data-edited hx-swap-oob="true"`), len(corpus))
	}
	wantInert(t, "bob's frames", all)
	wantInert(t, "carol's notices", cr.until("notices", func(a string) bool {
		return strings.Count(a, `data-notice="mention"`) == mentions
	}))
	wantInert(t, "the room page", get(t, carol, "/rooms/general").Body)
	for i := range corpus {
		seq := strconv.Itoa(first + i)
		for _, path := range []string{"/edit", "/delete", "/reactions"} {
			wantInert(t, path+" page of "+seq, get(t, alice, "/rooms/general/messages/"+seq+path).Body)
		}
		frag := htmxGet(t, alice, "/rooms/general/messages/"+seq+"/edit")
		wantInert(t, "edit form of "+seq, frag.Body)
		if v := inputValue(t, frag.Body, "/rooms/general/messages/"+seq+"/edit", "message"); v != corpus[(i+1)%len(corpus)] {
			t.Errorf("the edit form of %s holds %q, want %q", seq, v, corpus[(i+1)%len(corpus)])
		}
	}
	// The deletions' tombstones, and a snapshot of them.
	for i := range corpus {
		sendFrame(t, as, map[string]string{"delete": strconv.Itoa(first + i)})
	}
	wantInert(t, "tombstones", marker(t, as, br, "deleted"))
}
