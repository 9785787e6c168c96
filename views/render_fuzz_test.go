package views

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"natter/chat"
)

// FuzzMessageItemEscapes renders any text (Markdown) and author name as a
// message and parses the HTML like a browser: the only elements the text
// may create are the formatter's (paragraphs, line breaks, bold, italic,
// code, code blocks, links, mentions), no attribute can run script or
// style, a link goes only to http(s) and shows its hidden characters, and
// a text without Markdown's special characters is shown exactly as sent.
func FuzzMessageItemEscapes(f *testing.F) {
	for _, s := range []string{
		"hello", `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `"onmouseover="alert(1)`,
		"see https://example.com/a?b=1&c=<2>.", "javascript:alert(1)", "line\nbreak", "&amp; &lt;",
		"http://evil.example/\u202egnp.exe", "\u202e see http://a.example/x\u200b\u2066y\ufeff.", "https://b.example/\u00a0\u3000\U000e0041z",
		"**bold** _it_ *it* `<b>code</b>`", "```\n<script>\n  x\n```", "[x](javascript:alert(1))", "![i](http://x/i.png)",
		"<http://a.example/>", "@ana hi @ANA.", "**https://a.example/x**", "`@ana` @ana_", "# h\n- l\n> q", "a\n\nb",
		"&#60;script&#62;", "\\<b\\>", "~~~\n\u202e\n~~~",
	} {
		f.Add(s, "alice")
	}
	f.Fuzz(func(t *testing.T, text, name string) {
		if !utf8.ValidString(text) || !utf8.ValidString(name) || strings.ContainsRune(text, '\r') || strings.ContainsRune(text, 0) || strings.ContainsRune(name, 0) {
			t.Skip() // the handlers never pass these (cleanMessage, user name rules)
		}
		var buf bytes.Buffer
		m := chat.Message{Seq: 7, Kind: chat.KindText, Room: "general", Author: chat.Member{ID: 3, Name: name}, Text: text, Sent: time.Unix(0, 0),
			Mentions: []chat.Member{{ID: 5, Name: "ana"}}, Reactions: []chat.Reaction{{Emoji: name, By: []chat.Member{{ID: 3, Name: name}}}}}
		if err := MessageFrame(m).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		nodes, err := html.ParseFragment(&buf, &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
		if err != nil {
			t.Fatal(err)
		}
		var body *html.Node
		for _, n := range nodes {
			walkNodes(n, func(n *html.Node) {
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "src" {
						t.Fatalf("attribute %s=%q in %q", a.Key, a.Val, page)
					}
					if (a.Key == "href" || a.Key == "hx-get" || a.Key == "hx-post" || a.Key == "action") &&
						!strings.HasPrefix(a.Val, "http://") && !strings.HasPrefix(a.Val, "https://") && !strings.HasPrefix(a.Val, "/rooms/general/messages/7/") {
						t.Fatalf("%s %q in %q", a.Key, a.Val, page)
					}
					if a.Key == "class" && strings.Contains(a.Val, "msg-text") {
						body = n
					}
				}
			})
		}
		if body == nil {
			t.Fatalf("no message text element in %q", page)
		}
		var seen strings.Builder
		walkNodes(body, func(n *html.Node) {
			switch n.Data {
			case "div":
				if n != body {
					t.Fatalf("<div> inside the message text: %q", page)
				}
			case "a":
				checkLink(t, n, page)
			case "span":
				if attr(n, "data-mention") != "5" || textOf(n) != "@ana" {
					t.Fatalf("span other than a mention of ana in %q", page)
				}
			case "p", "br", "strong", "em", "code", "pre":
			default:
				t.Fatalf("element <%s> inside the message text: %q", n.Data, page)
			}
		})
		if strings.ContainsAny(text, "*_`\\~@⟦") || !plainLines(text) {
			return // Markdown: shown otherwise than typed
		}
		readText(body, &seen)
		// Hidden characters of links are shown as ⟦U+XXXX⟧: read back, the
		// text is exactly what was sent.
		shown := shownCodePoint.ReplaceAllStringFunc(seen.String(), func(m string) string {
			n, _ := strconv.ParseUint(m[len("⟦U+"):len(m)-len("⟧")], 16, 32)
			return string(rune(n))
		})
		if shown != text {
			t.Fatalf("shown text %q, sent %q", seen.String(), text)
		}
	})
}

// plainLines reports whether text is one paragraph whose lines have no
// white space at either end (which Markdown drops).
func plainLines(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == "" || l != strings.TrimSpace(l) || strings.ContainsAny(l, "\t\v\f") {
			return false
		}
	}
	return true
}

// readText is the text of n as it reads: a line break as a newline.
func readText(n *html.Node, b *strings.Builder) {
	if n.Type == html.ElementNode && n.Data == "br" {
		b.WriteByte('\n')
	}
	if n.Type == html.TextNode {
		b.WriteString(n.Data)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		readText(c, b)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	textContent(n, &b)
	return b.String()
}

func walkNodes(n *html.Node, fn func(*html.Node)) {
	if n.Type == html.ElementNode {
		fn(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walkNodes(c, fn)
	}
}

func textContent(n *html.Node, b *strings.Builder) {
	if n.Type == html.TextNode {
		b.WriteString(n.Data)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		textContent(c, b)
	}
}

var shownCodePoint = regexp.MustCompile(`⟦U\+[0-9A-F]{4,6}⟧`)

// checkLink fails unless a link is isolated from the bidi state around it
// and holds no hidden character in its target or text; one that had some
// shows them by code point and is marked.
func checkLink(t *testing.T, a *html.Node, page string) {
	t.Helper()
	attrs := map[string]string{}
	for _, at := range a.Attr {
		attrs[at.Key] = at.Val
	}
	if attrs["dir"] != "ltr" {
		t.Fatalf("link without dir=ltr in %q", page)
	}
	var text strings.Builder
	textContent(a, &text)
	if i := strings.IndexFunc(attrs["href"], isHidden); i >= 0 {
		t.Fatalf("hidden character in href %q of %q", attrs["href"], page)
	}
	if i := strings.IndexFunc(text.String(), isHidden); i >= 0 {
		t.Fatalf("hidden character in link text %q of %q", text.String(), page)
	}
	marked := strings.Contains(attrs["class"], "link-hidden-chars") && attrs["title"] == "This link contains hidden characters"
	if shows := shownCodePoint.MatchString(text.String()); shows != marked {
		t.Fatalf("link text %q (shows hidden characters: %v) marked %v in %q", text.String(), shows, marked, page)
	}
}

// A link with a right-to-left override cannot pass for another: the
// override is percent-encoded in the target, shown by code point in the
// text, and the link is marked.
func TestLinkWithHiddenCharacters(t *testing.T) {
	var buf bytes.Buffer
	m := chat.Message{Seq: 1, Kind: chat.KindText, Room: "general", Author: chat.Member{ID: 3, Name: "mallory"}, Text: "get http://evil.example/\u202egnp.exe now", Sent: time.Unix(0, 0)}
	if err := MessageItem(m).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	want := `<a href="http://evil.example/%E2%80%AEgnp.exe" dir="ltr" rel="noopener nofollow" target="_blank" class="underline decoration-1 underline-offset-2 link-hidden-chars text-red-600 dark:text-red-400" title="This link contains hidden characters">http://evil.example/⟦U+202E⟧gnp.exe</a>`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("rendered\n%s\nwant the link\n%s", buf.String(), want)
	}
	plain := chat.Message{Seq: 2, Kind: chat.KindText, Room: "general", Author: chat.Member{ID: 3, Name: "alice"}, Text: "see https://example.com/a", Sent: time.Unix(0, 0)}
	buf.Reset()
	if err := MessageItem(plain).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if want := `<a href="https://example.com/a" dir="ltr" rel="noopener nofollow" target="_blank" class="underline decoration-1 underline-offset-2">https://example.com/a</a>`; !strings.Contains(buf.String(), want) {
		t.Errorf("rendered\n%s\nwant the plain link\n%s", buf.String(), want)
	}
}
