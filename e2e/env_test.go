package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"natter/app"
	"natter/app/apptest"
	"natter/mail/mailtest"
)

// stepTimeout bounds one browser step (a navigation, a wait, a click). It is
// generous because the suite runs under -race on small CI machines.
const stepTimeout = 30 * time.Second

// env is one real Natter server (apptest's) and the shared browser.
type env struct {
	t    *testing.T
	srv  *apptest.Server
	mail *mailtest.Server
	base string
	// node is the node's name when it is one of several (nodes_test.go).
	node string
	// browser is the shared Chromium; users open contexts in it.
	browser context.Context
}

// startEnv starts Natter on a free loopback port, with a temp database and
// a loopback SMTP server, and stops it when the test ends. edit may change
// the configuration.
func startEnv(t *testing.T, edit func(*app.Config)) *env {
	t.Helper()
	return startEnvWith(t, edit)
}

// startEnvWith is startEnv with more options for apptest.Start (a node of
// several: nodes_test.go).
func startEnvWith(t *testing.T, edit func(*app.Config), more ...apptest.Option) *env {
	t.Helper()
	bctx := needBrowser(t)
	opts := []apptest.Option{apptest.Config(func(c *app.Config) {
		c.LogLevel = "warn"
		c.RoomGrace = time.Second
		if edit != nil {
			edit(c)
		}
	})}
	if testing.Verbose() {
		opts = append(opts, apptest.LogTo(testLog{t}))
	}
	srv := apptest.Start(t, append(opts, more...)...)
	return &env{t: t, srv: srv, mail: srv.Mail, base: srv.BaseURL(), browser: bctx}
}

// restart stops the server the way a deploy does (sockets closed with
// 1012) and starts a new process on the same address and database.
func (e *env) restart() {
	e.t.Helper()
	e.srv.Restart()
	e.base = e.srv.BaseURL()
}

// testLog sends the server's log lines to the test log (shown with -v or
// on failure).
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// user is one person with one browser tab in a browser context of their
// own: separate cookies, so two users never share a session.
type user struct {
	t                     *testing.T
	e                     *env
	name, email, password string
	ctx                   context.Context

	mu         sync.Mutex
	dialogs    []string // JavaScript dialogs that opened (and were dismissed)
	exceptions []string // uncaught script errors
}

// newUser opens a tab for name in a fresh browser context, 1280x800 and in
// the light color scheme.
func (e *env) newUser(name string) *user {
	e.t.Helper()
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext())
	e.t.Cleanup(cancel)
	u := &user{t: e.t, e: e, name: name, email: name + "@example.com", password: "quiet lantern by the river 42", ctx: ctx}
	// The first Run opens the tab; like the browser's, it takes no timeout.
	if err := chromedp.Do(ctx); err != nil {
		e.t.Fatalf("%s: open tab: %v", name, err)
	}
	if err := chromedp.Listen(ctx, u.onEvent); err != nil {
		e.t.Fatalf("%s: listen: %v", name, err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		e.t.Fatalf("%s: enable the console log: %v", name, err)
	}
	u.view(1280, 800, "light")
	return u
}

// onEvent records dialogs and script errors. A dialog is dismissed at once
// (off the event loop) so it cannot block the page; the test then fails on
// it through noDialogs.
func (u *user) onEvent(ev any) {
	switch ev := ev.(type) {
	case *page.EventJavascriptDialogOpening:
		u.mu.Lock()
		u.dialogs = append(u.dialogs, string(ev.Type)+": "+ev.Message)
		u.mu.Unlock()
		go chromedp.Call(u.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
	case *runtime.EventExceptionThrown:
		u.mu.Lock()
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		u.exceptions = append(u.exceptions, msg)
		u.mu.Unlock()
	case *cdplog.EventEntryAdded:
		// Content security policy violations (an inline style or script
		// the page should not have) are logged with source "security".
		if ev.Entry.Source == cdplog.EntrySourceSecurity || strings.HasPrefix(ev.Entry.Text, "Refused to") {
			u.mu.Lock()
			u.exceptions = append(u.exceptions, "console: "+ev.Entry.Text)
			u.mu.Unlock()
		}
	}
}

// noDialogs fails the test if any JavaScript dialog opened in u's tab.
func (u *user) noDialogs() {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.dialogs) > 0 {
		u.t.Errorf("%s: a dialog opened: %q", u.name, u.dialogs)
	}
}

// noScriptErrors fails the test if a page script threw.
func (u *user) noScriptErrors() {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.exceptions) > 0 {
		u.t.Errorf("%s: script errors: %q", u.name, u.exceptions)
	}
}

// view sets the viewport and the preferred color scheme.
func (u *user) view(width, height int64, scheme string) {
	u.t.Helper()
	u.do("set viewport "+scheme,
		chromedp.EmulateViewport(width, height),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}),
	)
}

// contextWithTimeout is u's tab with the step timeout.
func contextWithTimeout(u *user) (context.Context, context.CancelFunc) {
	return context.WithTimeout(u.ctx, stepTimeout)
}

// sendRaw puts text into the message box at once (typing 2,000 characters
// key by key is slow) and presses Enter.
func (u *user) sendRaw(text string) {
	u.t.Helper()
	eval[bool](u, `(document.getElementById('f-message').value = `+jsString(text)+`) !== null`)
	u.do("send a long text",
		chromedp.Focus(chromedp.ID("f-message")),
		pressEnter(false))
}

// do runs browser steps, failing the test with the step's name on error.
func (u *user) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.t.Fatalf("%s: %s: %v\n%s", u.name, step, err, u.where())
	}
}

// where describes the page u is on, for a failure message.
func (u *user) where() string {
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 600)`))
	if err != nil {
		return "(page unknown: " + err.Error() + ")"
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return fmt.Sprintf("script errors: %q\npage: %s", u.exceptions, s)
}

// eval evaluates a JavaScript expression in u's page.
func eval[T any](u *user, expr string, opts ...chromedp.EvaluateOption) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		u.t.Fatalf("%s: eval %s: %v", u.name, expr, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy in u's page.
func (u *user) waitFor(what, expr string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout)))
	if err != nil {
		u.t.Fatalf("%s: waiting for %s: %v\n%s", u.name, what, err, u.where())
	}
}

// open navigates to path on the server and waits for sel to be visible.
func (u *user) open(path, sel string) {
	u.t.Helper()
	u.do("open "+path, chromedp.Navigate(u.e.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// text is the visible text of the first element matching sel, with runs of
// white space collapsed.
func (u *user) text(sel string) string {
	u.t.Helper()
	return eval[string](u, `(function(){var el=document.querySelector(`+jsString(sel)+`);`+
		`return el?el.innerText.replace(/\s+/g,' ').trim():'<missing `+strings.ReplaceAll(sel, "'", "")+`>';})()`)
}

// path is the path of the page u is on.
func (u *user) path() string {
	u.t.Helper()
	return eval[string](u, `location.pathname+location.search`)
}

// fill types into a form field after clearing it.
func fill(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Clear(chromedp.CSS(sel)), typeIn(sel, value))
}

// typeIn focuses the visible element sel and types value into it, key by
// key. It is chromedp.SendKeys without its look at the node's attributes,
// which chromedp v0.23.0 reads unlocked while its DOM event handler
// changes them (the race detector reports it when a page script sets an
// attribute on the field as it is typed into).
func typeIn(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(value))
}

// clickAndLoad clicks sel and waits for the next page's load event.
func clickAndLoad(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))(ctx, t)
		return err
	})
}

// register signs u up through the form and waits for the lobby.
func (u *user) register() {
	u.t.Helper()
	u.open("/register", "#f-username")
	u.do("register",
		fill("#f-username", u.name),
		fill("#f-email", u.email),
		fill("#f-password", u.password),
		fill("#f-password_confirm", u.password),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.ID("room-list")),
	)
	if got := u.path(); got != "/rooms" {
		u.t.Fatalf("%s: after registering the page is %s, want /rooms", u.name, got)
	}
	if got := u.text(`[data-testid="current-user"]`); got != u.name {
		u.t.Fatalf("%s: header shows user %q, want %q", u.name, got, u.name)
	}
}

// signIn signs u in through the form with password pw.
func (u *user) signIn(pw string) {
	u.t.Helper()
	u.open("/login", "#f-username")
	u.do("sign in",
		fill("#f-username", u.name),
		fill("#f-password", pw),
		clickAndLoad(`form[action="/login"] button[type=submit]`),
	)
}

// enterRoom opens a room page and waits until its socket is live.
func (u *user) enterRoom(slug string) {
	u.t.Helper()
	u.open("/rooms/"+slug, "#f-message")
	u.waitLive()
}

// holdRoom keeps room slug open for the rest of the test with a
// colleague's socket (a Go client named host): a shared link leads to a
// room that lives while someone is in it.
func (e *env) holdRoom(slug, host string) {
	e.t.Helper()
	sock := apptest.Dial(e.t, e.srv.User(host), slug)
	// The first frame (the snapshot) comes once the socket has joined.
	sock.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := sock.ReadMessage(); err != nil {
		e.t.Fatalf("holdRoom %s: %v", slug, err)
	}
}

// openClosedRoom follows the link of a room that is not open: the page
// says so, and its button opens the room (a GET never does).
func (u *user) openClosedRoom(slug string) {
	u.t.Helper()
	u.open("/rooms/"+slug, `[data-testid="room-closed"]`)
	if got, want := u.text(`[data-testid="room-closed"] h1`), "#"+slug+" is not open"; got != want {
		u.t.Fatalf("%s: the closed room's heading is %q, want %q", u.name, got, want)
	}
	u.do("open the room with its button", clickAndLoad(`[data-testid="open-room"]`), chromedp.WaitVisible(chromedp.ID("f-message")))
	u.waitLive()
}

// waitLive waits for the room's connection state to read "live".
func (u *user) waitLive() {
	u.t.Helper()
	u.do("wait for live", chromedp.WaitVisible(chromedp.CSS(`#conn-state[data-state="live"]`)))
}

// send types text into the message box and presses Enter. A "\n" in text
// is typed as Shift+Enter, a new line inside the message.
func (u *user) send(text string) {
	u.t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Focus(chromedp.ID("f-message"))}
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			steps = append(steps, pressEnter(true))
		}
		steps = append(steps, chromedp.KeyEvent(line))
	}
	steps = append(steps, pressEnter(false))
	u.do("send "+text, steps...)
	// The box empties once the socket took the message.
	u.waitFor("the message box to empty", `document.getElementById('f-message').value === ''`)
}

// messages are the chat messages (not notices) in u's list.
type shownMessage struct {
	Author string `json:"author"`
	Text   string `json:"text"`
	Mine   bool   `json:"mine"`
	Seq    string `json:"seq"`
}

// shown lists the chat messages in u's message list, in order. A grouped
// message shows no author line; it gets its group's author here.
func (u *user) shown() []shownMessage {
	u.t.Helper()
	return eval[[]shownMessage](u, `(function(){var out=[],last='';
		document.querySelectorAll('#messages .msg').forEach(function(li){
			var a=li.querySelector('.msg-author'); if(a) last=a.innerText.trim();
			out.push({author:last,text:li.querySelector('.msg-text').innerText,mine:li.classList.contains('mine'),seq:li.dataset.seq});
		});return out;})()`)
}

// notices lists the join/leave notices in u's message list.
func (u *user) notices() []string {
	u.t.Helper()
	return eval[[]string](u, `Array.from(document.querySelectorAll('#messages .notice')).map(function(n){return n.innerText.replace(/\s+/g,' ').trim();})`)
}

// waitMessage waits until a chat message with exactly text is in u's list.
func (u *user) waitMessage(text string) {
	u.t.Helper()
	u.waitFor("message "+text, `Array.from(document.querySelectorAll('#messages .msg .msg-text')).some(function(el){return el.innerText === `+jsString(text)+`;})`)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x2028 || r == 0x2029 || r == '<':
			b.WriteString(`\u` + hex4(r))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hex4(r rune) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[r>>12&15], digits[r>>8&15], digits[r>>4&15], digits[r&15]})
}

// screenshotDir is where screenshots go: $NATTER_SCREENSHOTS, or a new temp
// folder (kept after the test, so a person can look at the files).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NATTER_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "natter-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// pressEnter presses Enter (with Shift if shift) the way a keyboard does:
// one keyDown that carries the text, so a page that cancels the keydown
// also cancels the new line. (chromedp.KeyEvent sends the text as a
// separate char event, which a cancelled keydown does not stop.)
func pressEnter(shift bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var mods int64
		if shift {
			mods = int64(chromedp.ModifierShift)
		}
		down := input.DispatchKeyEventParams{
			Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", Text: "\r", UnmodifiedText: "\r",
			WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Modifiers: mods,
		}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	})
}
