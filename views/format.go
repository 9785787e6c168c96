package views

import (
	"bytes"
	"context"
	"html"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"natter/chat"
)

// Message formatting: a message's text is Markdown, rendered on the server
// by goldmark, once per message, the same bytes for every viewer. Only
// what a chat needs is parsed: paragraphs and line breaks, `code`, fenced
// code blocks, **bold**, _italic_ and *italic*, bare http(s) links and
// @mentions. goldmark is given no parser for raw HTML, headings, lists,
// quotes, images or [text](url) links, so all of those stay text, and its
// writer escapes every text it writes.

// MaxMentions caps the distinct @names of one message that are looked up
// and rendered as mentions.
const MaxMentions = 20

// markdown parses message texts; a goldmark Parser is safe for concurrent
// use once built.
var markdown = parser.NewParser(
	parser.WithBlockParsers(
		util.Prioritized(parser.NewFencedCodeBlockParser(), 700),
		util.Prioritized(parser.NewParagraphParser(), 1000),
	),
	parser.WithInlineParsers(
		util.Prioritized(parser.NewCodeSpanParser(), 100),
		util.Prioritized(mentionParser{}, 200),
		util.Prioritized(parser.NewEmphasisParser(), 500),
		util.Prioritized(linkParser{}, 999),
	),
)

// htmlOut renders a parsed message: goldmark's HTML renderer (raw HTML
// off, which is its default) with our renderers for the nodes whose markup
// is ours.
var htmlOut = renderer.NewRenderer(renderer.WithNodeRenderers(
	util.Prioritized(gmhtml.NewRenderer(), 1000),
	util.Prioritized(messageHTML{}, 100),
))

// mentionsKey carries a message's resolved mentions through the parser.
var mentionsKey = parser.NewContextKey()

// mentionScope is what the mention parser gets from its context: the
// users a message mentions, by lower-case name, or (collect set) a list
// to which it adds every @name it sees.
type mentionScope struct {
	byName  map[string]chat.Member
	collect bool
	names   []string
}

// formatMessage renders text, as Markdown, into the message's text
// element: one paragraph as its bare inline content (most messages), more
// as paragraphs.
func formatMessage(text string, mentions []chat.Member) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := w.Write(FormatMessage(text, mentions))
		return err
	})
}

// bufs are the buffers FormatMessage renders into.
var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// FormatMessage returns the HTML of a message text (see formatMessage),
// with @names resolved against mentions.
func FormatMessage(text string, mentions []chat.Member) []byte {
	scope := &mentionScope{byName: make(map[string]chat.Member, len(mentions))}
	for _, m := range mentions {
		scope.byName[strings.ToLower(m.Name)] = m
	}
	src := []byte(text)
	doc := parse(src, scope)
	if p := doc.FirstChild(); p != nil && p == doc.LastChild() && p.Kind() == ast.KindParagraph {
		// A single paragraph renders as its content: no <p> to style.
		doc = ast.NewDocument()
		for c := p.FirstChild(); c != nil; {
			next := c.NextSibling()
			doc.AppendChild(doc, c)
			c = next
		}
	}
	buf := bufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); bufs.Put(buf) }()
	if err := htmlOut.Render(buf, src, doc); err != nil {
		// Rendering into a buffer fails only on a bug: show the text.
		return []byte(html.EscapeString(text))
	}
	return bytes.Clone(buf.Bytes())
}

// MentionNames returns the distinct @names in text (lower case, in order,
// at most MaxMentions), as the formatter would see them: not inside code,
// not inside a link. The handler looks them up before posting.
func MentionNames(text string) []string {
	scope := &mentionScope{collect: true}
	parse([]byte(text), scope)
	return scope.names
}

func parse(src []byte, scope *mentionScope) ast.Node {
	pc := parser.NewContext()
	pc.Set(mentionsKey, scope)
	return markdown.Parse(text.NewReader(src), parser.WithContext(pc))
}

// Our own nodes: a bare link and a mention.
var (
	kindLink    = ast.NewNodeKind("NatterLink")
	kindMention = ast.NewNodeKind("NatterMention")
)

// linkNode is a bare http(s) URL found in the text.
type linkNode struct {
	ast.BaseInline
	url string
}

func (n *linkNode) Kind() ast.NodeKind { return kindLink }
func (n *linkNode) Dump(src []byte, level int) {
	ast.DumpHelper(n, src, level, map[string]string{"URL": n.url}, nil)
}

// mentionNode is an @name of a user the message mentions.
type mentionNode struct {
	ast.BaseInline
	user chat.Member
}

func (n *mentionNode) Kind() ast.NodeKind { return kindMention }
func (n *mentionNode) Dump(src []byte, level int) {
	ast.DumpHelper(n, src, level, map[string]string{"User": n.user.Name}, nil)
}

// linkAt matches an http(s) link at the start of a line's rest. Trailing
// punctuation is left out, so "see https://example.com." links without
// the full stop, and "**https://example.com**" is a bold link.
var linkAt = regexp.MustCompile(`^https?://[^\s<>"']+[^\s<>"'.,;:!?)\]}*_~]`)

// linkParser finds bare http(s) links. goldmark tries an inline parser at
// punctuation, spaces and after another inline element; so it triggers on
// those and looks just past the character it was given, which it keeps
// as text.
type linkParser struct{}

func (linkParser) Trigger() []byte {
	t := []byte{' '}
	for c := byte('!'); c <= '~'; c++ {
		// Not the backslash (an escape), the backtick (code), nor what
		// starts a mention.
		if util.IsPunct(c) && c != '\\' && c != '`' && c != '@' {
			t = append(t, c)
		}
	}
	return t
}

func (linkParser) Parse(parent ast.Node, block text.Reader, _ parser.Context) ast.Node {
	line, seg := block.PeekLine()
	skip := 0
	if len(line) > 0 && line[0] != 'h' {
		skip = 1 // the trigger: a space or punctuation, one byte
	}
	loc := linkAt.FindIndex(line[skip:])
	if loc == nil {
		return nil
	}
	if skip > 0 {
		ast.MergeOrAppendTextSegment(parent, seg.WithStop(seg.Start+skip))
	}
	url := string(line[skip : skip+loc[1]])
	block.Advance(skip + loc[1])
	return &linkNode{url: url}
}

// nameByte reports whether c may be part of a user name (see the sign-up
// rules: letters, digits, dot, dash, underscore).
func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// mentionParser turns @name into a mention of the user of that name (any
// letter case) when the message mentions them; an @ inside a word (an
// e-mail address) is not one.
type mentionParser struct{}

func (mentionParser) Trigger() []byte { return []byte{'@'} }

func (mentionParser) Parse(_ ast.Node, block text.Reader, pc parser.Context) ast.Node {
	scope, _ := pc.Get(mentionsKey).(*mentionScope)
	if scope == nil {
		return nil
	}
	if prev := block.PrecendingCharacter(); prev < 0x80 && nameByte(byte(prev)) {
		return nil
	}
	line, _ := block.PeekLine()
	n := 1
	for n < len(line) && n <= 32 && nameByte(line[n]) {
		n++
	}
	// A sentence's full stop (or a dash) after a name is not part of it.
	for n > 1 && (line[n-1] == '.' || line[n-1] == '-') {
		n--
	}
	name := strings.ToLower(string(line[1:n]))
	if len(name) < 3 || len(name) > 32 {
		return nil
	}
	if scope.collect {
		if len(scope.names) < MaxMentions && !containsString(scope.names, name) {
			scope.names = append(scope.names, name)
		}
		return nil
	}
	user, ok := scope.byName[name]
	if !ok {
		return nil
	}
	block.Advance(n)
	return &mentionNode{user: user}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Class lists of the formatted elements.
const (
	classCodeBlock = "code my-1 block max-w-full overflow-x-auto whitespace-pre rounded-lg bg-slate-100 p-2 font-mono text-[0.85rem] leading-snug text-slate-800 dark:bg-slate-900 dark:text-slate-100"
	classCodeSpan  = "rounded bg-slate-100 px-1 font-mono text-[0.85em] dark:bg-slate-900"
	classMention   = "mention rounded bg-indigo-50 px-0.5 font-medium text-indigo-800 dark:bg-indigo-950 dark:text-indigo-200"
	classLink      = "underline decoration-1 underline-offset-2"
	classLinkMark  = "link-hidden-chars text-red-600 dark:text-red-400"
)

// messageHTML renders the nodes whose markup is ours; goldmark's renderer
// does emphasis. No renderer writes a newline between elements: the
// message text keeps its white space (pre-wrap), so a newline would show.
type messageHTML struct{}

func (messageHTML) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindDocument, func(util.BufWriter, []byte, ast.Node, bool) (ast.WalkStatus, error) {
		return ast.WalkContinue, nil
	})
	reg.Register(ast.KindParagraph, renderParagraph)
	reg.Register(ast.KindText, renderText)
	reg.Register(ast.KindCodeSpan, renderCodeSpan)
	reg.Register(ast.KindFencedCodeBlock, renderCodeBlock)
	reg.Register(kindLink, renderLink)
	reg.Register(kindMention, renderMention)
}

func renderParagraph(w util.BufWriter, _ []byte, _ ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString("<p>")
	} else {
		_, _ = w.WriteString("</p>")
	}
	return ast.WalkContinue, nil
}

// renderText writes a run of text escaped (writeText); each line break in
// a paragraph is a line break, as typed.
func renderText(w util.BufWriter, src []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.Text)
	writeText(w, n.Segment.Value(src))
	if n.HardLineBreak() || n.SoftLineBreak() {
		_, _ = w.WriteString("<br>")
	}
	return ast.WalkContinue, nil
}

// writeText writes text with its backslash escapes resolved (\* shows
// *) and every character special to HTML escaped as templ does. Unlike
// goldmark's writer it leaves entity references alone: "&amp;" typed
// shows "&amp;", as it always did.
func writeText(w util.BufWriter, v []byte) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) && util.IsPunct(v[i+1]) {
			i++
			c = v[i]
		}
		switch c {
		case '<':
			_, _ = w.WriteString("&lt;")
		case '>':
			_, _ = w.WriteString("&gt;")
		case '&':
			_, _ = w.WriteString("&amp;")
		case '"':
			_, _ = w.WriteString("&#34;")
		case '\'':
			_, _ = w.WriteString("&#39;")
		default:
			_ = w.WriteByte(c)
		}
	}
}

func renderCodeSpan(w util.BufWriter, src []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString(`<code class="` + classCodeSpan + `">`)
	for c := node.FirstChild(); c != nil; c = c.NextSibling() {
		if t, ok := c.(*ast.Text); ok {
			v := t.Segment.Value(src)
			gmhtml.DefaultWriter.RawWrite(w, bytes.ReplaceAll(v, []byte{'\n'}, []byte{' '}))
		}
	}
	_, _ = w.WriteString("</code>")
	return ast.WalkSkipChildren, nil
}

// renderCodeBlock writes a fenced block's lines as they are, escaped, in
// a box that scrolls sideways.
func renderCodeBlock(w util.BufWriter, src []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString(`<pre class="` + classCodeBlock + `"><code>`)
	lines := node.Lines()
	var code []byte
	for i := range lines.Len() {
		seg := lines.At(i)
		code = append(code, seg.Value(src)...)
	}
	gmhtml.DefaultWriter.RawWrite(w, bytes.TrimSuffix(code, []byte{'\n'}))
	_, _ = w.WriteString("</code></pre>")
	return ast.WalkSkipChildren, nil
}

// renderLink writes a bare link as links always were: isolated from the
// bidi state around it, opened apart, not followed by search engines, and
// its hidden characters shown and marked (linkPart).
func renderLink(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	part := linkPart(node.(*linkNode).url)
	class := classLink
	if part.hidden {
		class += " " + classLinkMark
	}
	_, _ = w.WriteString(`<a href="` + html.EscapeString(part.href) + `" dir="ltr" rel="noopener nofollow" target="_blank" class="` + class + `"`)
	if part.hidden {
		_, _ = w.WriteString(` title="` + hiddenLinkTitle + `"`)
	}
	_, _ = w.WriteString(">" + html.EscapeString(part.text) + "</a>")
	return ast.WalkContinue, nil
}

// renderMention writes a mention by the user's own name and account id;
// the page marks the viewer's own (data-mention equals the page's me).
func renderMention(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	u := node.(*mentionNode).user
	_, _ = w.WriteString(`<span class="` + classMention + `" data-mention="` + strconv.FormatInt(u.ID, 10) + `">@` + html.EscapeString(u.Name) + `</span>`)
	return ast.WalkContinue, nil
}
