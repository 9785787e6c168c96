package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"natter/chat"
)

// FuzzMessageItemEscapes renders any text and author name as a message and
// parses the HTML like a browser: the text a person sees is exactly what
// was sent, the only element the text may create is a link, and no
// attribute can run script.
func FuzzMessageItemEscapes(f *testing.F) {
	for _, s := range []string{
		"hello", `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `"onmouseover="alert(1)`,
		"see https://example.com/a?b=1&c=<2>.", "javascript:alert(1)", "line\nbreak", "&amp; &lt;",
	} {
		f.Add(s, "alice")
	}
	f.Fuzz(func(t *testing.T, text, name string) {
		if !utf8.ValidString(text) || !utf8.ValidString(name) || strings.ContainsRune(text, '\r') || strings.ContainsRune(text, 0) || strings.ContainsRune(name, 0) {
			t.Skip() // the handlers never pass these (cleanMessage, user name rules)
		}
		var buf bytes.Buffer
		m := chat.Message{Seq: 7, Kind: chat.KindText, Author: chat.Member{ID: 3, Name: name}, Text: text, Sent: time.Unix(0, 0)}
		if err := MessageFrame(m).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		nodes, err := html.ParseFragment(&buf, &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
		if err != nil {
			t.Fatal(err)
		}
		var body *html.Node
		for _, n := range nodes {
			walkNodes(n, func(n *html.Node) {
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") {
						t.Fatalf("attribute %s=%q in %q", a.Key, a.Val, buf.String())
					}
					if a.Key == "href" && !strings.HasPrefix(a.Val, "http://") && !strings.HasPrefix(a.Val, "https://") {
						t.Fatalf("href %q in %q", a.Val, buf.String())
					}
					if a.Key == "class" && strings.Contains(a.Val, "msg-text") {
						body = n
					}
				}
			})
		}
		if body == nil {
			t.Fatalf("no message text element in %q", buf.String())
		}
		var seen strings.Builder
		walkNodes(body, func(n *html.Node) {
			if n != body && n.Data != "a" {
				t.Fatalf("element <%s> inside the message text: %q", n.Data, buf.String())
			}
		})
		textContent(body, &seen)
		if seen.String() != text {
			t.Fatalf("shown text %q, sent %q", seen.String(), text)
		}
	})
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
