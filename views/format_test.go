package views

import (
	"bytes"
	"html"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	nethtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"natter/chat"
)

func TestFormatMessage(t *testing.T) {
	ana := chat.Member{ID: 5, Name: "ana"}
	const (
		code    = `<code class="` + classCodeSpan + `">`
		block   = `<pre class="` + classCodeBlock + `"><code>`
		mention = `<span class="` + classMention + `" data-mention="5">@ana</span>`
		link    = `<a href="https://example.com/a_b" dir="ltr" rel="noopener nofollow" target="_blank" class="underline decoration-1 underline-offset-2">https://example.com/a_b</a>`
	)
	for _, tt := range []struct{ in, want string }{
		{"hello", "hello"},
		{"two\nlines", "two<br>lines"},
		{"one\n\ntwo", "<p>one</p><p>two</p>"},
		{"**bold** _it_ *it* `a<b`", "<strong>bold</strong> <em>it</em> <em>it</em> " + code + "a&lt;b</code>"},
		{"```go\nif a < b {\n\treturn\n}\n```\nafter", block + "if a &lt; b {\n\treturn\n}</code></pre><p>after</p>"},
		{"see https://example.com/a_b.", "see " + link + "."},
		{"**https://example.com/a_b**", "<strong>" + link + "</strong>"},
		{"(https://example.com/a_b)", "(" + link + ")"},
		{"`https://example.com/a_b`", code + "https://example.com/a_b</code>"},
		{"<b>raw</b> &amp; \\*", "&lt;b&gt;raw&lt;/b&gt; &amp;amp; *"},
		{"# title\n- item\n> quote\n[x](https://e.example) ![i](https://e.example/i.png)", "# title<br>- item<br>&gt; quote<br>[x](<a href=\"https://e.example\" dir=\"ltr\" rel=\"noopener nofollow\" target=\"_blank\" class=\"underline decoration-1 underline-offset-2\">https://e.example</a>) ![i](<a href=\"https://e.example/i.png\" dir=\"ltr\" rel=\"noopener nofollow\" target=\"_blank\" class=\"underline decoration-1 underline-offset-2\">https://e.example/i.png</a>)"},
		{"hi @ANA, @ana. @anna ana@ana.example", "hi " + mention + ", " + mention + ". @anna ana@ana.example"},
		{"@ana_x `@ana`", "@ana_x " + code + "@ana</code>"},
	} {
		if got := string(FormatMessage(tt.in, []chat.Member{ana})); got != tt.want {
			t.Errorf("FormatMessage(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
	if got, want := strings.Join(MentionNames("@Ana @bob @ana `@cy` https://x.example/@dee e@fay.example @gus."), ","), "ana,bob,gus"; got != want {
		t.Errorf("MentionNames = %q, want %q", got, want)
	}
	var many strings.Builder
	for i := range MaxMentions + 5 {
		many.WriteString(" @user" + strconv.Itoa(i))
	}
	if n := len(MentionNames(many.String())); n != MaxMentions {
		t.Errorf("%d names looked up, want at most %d", n, MaxMentions)
	}
}

func TestTypingText(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"ana"}, "ana is typing…"},
		{[]string{"ana", "bo"}, "ana and bo are typing…"},
		{[]string{"ana", "bo", "cy"}, "several people are typing…"},
	} {
		if got := typingText(tt.names); got != tt.want {
			t.Errorf("typingText(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}

// FuzzFormatMessage: whatever is typed, the formatter makes only its own
// elements, with only its own attributes; mentions are of the users given;
// and a text with no Markdown in it comes out as itself, escaped.
func FuzzFormatMessage(f *testing.F) {
	for _, s := range []string{"hi", "**b** _i_ `c`", "```\n<x>\n```", "@ana @bo", "https://a.example/\u202e", "<script>", "a\nb\n\nc", "&#60;", "\\`x\\`"} {
		f.Add(s)
	}
	members := []chat.Member{{ID: 5, Name: "ana"}, {ID: 6, Name: "b.o-b_"}}
	allowed := map[string]map[string]bool{
		"p": {}, "br": {}, "strong": {}, "em": {},
		"code": {"class": true}, "pre": {"class": true},
		"span": {"class": true, "data-mention": true},
		"a":    {"href": true, "dir": true, "rel": true, "target": true, "class": true, "title": true},
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || strings.ContainsAny(text, "\r\x00") {
			t.Skip()
		}
		out := FormatMessage(text, members)
		nodes, err := nethtml.ParseFragment(bytes.NewReader(out), &nethtml.Node{Type: nethtml.ElementNode, Data: "div", DataAtom: atom.Div})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			walkNodes(n, func(n *nethtml.Node) {
				attrs, ok := allowed[n.Data]
				if !ok {
					t.Fatalf("<%s> in %q from %q", n.Data, out, text)
				}
				for _, a := range n.Attr {
					if !attrs[a.Key] {
						t.Fatalf("<%s %s=%q> in %q from %q", n.Data, a.Key, a.Val, out, text)
					}
				}
				switch n.Data {
				case "a":
					checkLink(t, n, string(out))
				case "span":
					if id := attr(n, "data-mention"); (id != "5" || textOf(n) != "@ana") && (id != "6" || textOf(n) != "@b.o-b_") {
						t.Fatalf("mention %q of %q in %q", id, textOf(n), out)
					}
				}
			})
		}
		if !strings.ContainsAny(text, "*_`\\~@:/\n\t") && text == strings.TrimSpace(text) && text != "" {
			if want := html.EscapeString(text); string(out) != want {
				t.Fatalf("plain %q came out %q, want %q", text, out, want)
			}
		}
	})
}
