package e2e

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/internal/natstest"
	"natter/internal/pgtest"
	"natter/internal/stallproxy"
)

// Many nodes (issue 15) as a person sees them: a room page served through
// a node that does not hold the room, the room moving when its holder
// stops, and a post refused while NATS is away.

// startNodes starts nodes a and b of one cluster (a new PostgreSQL schema,
// the NATS server at natsURL) behind one public address, as a load
// balancer gives them. Each is an env of its own: a user made on a talks
// to a, one made on b to b.
func startNodes(t *testing.T, natsURL string, edit func(*app.Config)) (a, b *env) {
	t.Helper()
	dbURL := pgtest.URL(t)
	door := startFrontDoor(t)
	node := func(name string) *env {
		e := startEnvWith(t, func(c *app.Config) {
			c.DatabaseURL, c.NATSURL, c.Node, c.BaseURL = dbURL, natsURL, name, door.url
			if edit != nil {
				edit(c)
			}
		})
		door.add(name, e.srv.URL)
		e.node = name
		return e
	}
	return node("a"), node("b")
}

// frontDoor is the cluster's one public address. A load balancer would
// pick any node; this one passes each request (a socket too) to the node
// that the browser's e2e-node cookie names, so a test knows which node
// serves whom.
type frontDoor struct {
	url string

	mu    sync.Mutex
	nodes map[string]*url.URL
}

// frontCookie names the node a browser's requests go to.
const frontCookie = "e2e-node"

func startFrontDoor(t *testing.T) *frontDoor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &frontDoor{url: "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nodes: map[string]*url.URL{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			name := ""
			if c, err := r.In.Cookie(frontCookie); err == nil {
				name = c.Value
			}
			d.mu.Lock()
			target := d.nodes[name]
			d.mu.Unlock()
			if target == nil {
				target = &url.URL{Scheme: "http", Host: "127.0.0.1:1"} // refused: a 502
			}
			r.SetURL(target)
			r.Out.Host = r.In.Host // the public address, as a balancer keeps it
		},
		ErrorLog: log.New(io.Discard, "", 0), // a stopped node's 502s are expected
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return d
}

func (d *frontDoor) add(name, nodeURL string) {
	u, err := url.Parse(nodeURL)
	if err != nil {
		panic(err)
	}
	d.mu.Lock()
	d.nodes[name] = u
	d.mu.Unlock()
}

// newUserOnNode opens a tab for name whose requests the front door passes
// to e's node.
func (e *env) newUserOnNode(name string) *user {
	e.t.Helper()
	u := e.newUser(name)
	u.do("route to node "+e.node, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{Name: frontCookie, Value: e.node, URL: e.base})
		return err
	}))
	return u
}

// watchConnection records, in u's page, each connection state the page
// shows, with why on hover (window.states), each text under the message box with what the
// box then holds, as "text [box]" (window.notes), and each close of its
// socket as "code reason" (window.closes).
func watchConnection(u *user) {
	u.t.Helper()
	eval[bool](u, `(function(){
		window.states = []; window.closes = []; window.notes = [];
		var el = document.getElementById('conn-state');
		new MutationObserver(function(){
			var s = el.dataset.state + ': ' + el.innerText.trim() + (el.title ? ' (' + el.title + ')' : '');
			if (window.states[window.states.length-1] !== s) window.states.push(s);
		}).observe(el, {attributes: true, childList: true, characterData: true, subtree: true});
		var form = document.getElementById('message-form');
		new MutationObserver(function(){
			var err = document.getElementById('message-error');
			var text = err ? err.innerText.trim() : '';
			if (text === '') return;
			var s = text + ' [' + document.getElementById('f-message').value + ']';
			if (window.notes[window.notes.length-1] !== s) window.notes.push(s);
		}).observe(form, {childList: true, characterData: true, subtree: true});
		document.addEventListener('htmx:wsClose', function(e){
			var ev = (e.detail && e.detail.event) || {};
			window.closes.push(ev.code + ' ' + ev.reason);
		});
		return true;})()`)
}

// texts are the texts of the chat messages in u's list, in order.
func (u *user) texts() []string {
	var out []string
	for _, m := range u.shown() {
		out = append(out, m.Text)
	}
	return out
}

// holds reports whether node e holds room slug now: its members are
// there (every node has the permanent rooms, held or not).
func (e *env) holds(slug string) bool {
	_, members, ok := e.srv.Rooms().Room(slug)
	return ok && len(members) > 0
}

// Scenarios 1 and 2: ana's browser talks to node b while node a holds
// General, where bob is (through a). They talk both ways, live; ana's page
// through b has the history, both members, and edit and react work. Then
// a stops (as SIGTERM does): ana's page says it is reconnecting, comes
// back by itself through b (which takes the room over), shows every
// earlier message once, and her next post goes through.
func TestRoomThroughSecondNode(t *testing.T) {
	nats := natstest.Start(t)
	// The grace outlasts the handover: ana stays a member throughout.
	a, b := startNodes(t, nats.URL(), func(c *app.Config) { c.RoomGrace = 30 * time.Second })
	bob := a.newUserOnNode("bob")
	bob.register()
	bob.enterRoom("general") // a holds General now
	ana := b.newUserOnNode("ana")
	ana.register()
	if got, want := ana.text("main section p"), "Pick a room, or open one of your own and share its link. A room and its messages vanish when the last person leaves; one server restarting keeps every room, the whole service restarting empties them."; got != want {
		t.Errorf("the lobby says %q, want %q", got, want)
	}
	ana.enterRoom("general") // relayed by b to a
	if !a.holds("general") || b.holds("general") {
		t.Fatalf("a holds general: %v, b: %v; want a only", a.holds("general"), b.holds("general"))
	}
	// What a restart does is said as it is with several nodes.
	if got, want := ana.text(`[data-testid="restart-note"]`), "Rooms live only in memory: one server restarting keeps them, the whole service restarting empties them."; got != want {
		t.Errorf("the room page says %q, want %q", got, want)
	}

	for _, u := range []*user{ana, bob} {
		u.waitFor("both in the member list", `document.querySelectorAll('#members [data-member]').length === 2`)
		if got := u.text("#member-count"); got != "2 members" {
			t.Errorf("%s: member count %q, want %q", u.name, got, "2 members")
		}
		if got := u.text("#members"); got != "ana bob" && got != "bob ana" {
			t.Errorf("%s: member list %q, want ana and bob", u.name, got)
		}
	}
	bob.send("Morning from node a.")
	ana.waitMessage("Morning from node a.")
	ana.send("Hello from node b.")
	want := []string{"Morning from node a.", "Hello from node b."}
	for _, u := range []*user{ana, bob} {
		u.waitMessage("Hello from node b.")
		if got := u.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s sees %q, want %q", u.name, got, want)
		}
	}

	// The room page through b is a's: it holds the history as sent, and
	// so does the page reloaded.
	page := eval[string](ana, `fetch('/rooms/general').then(function(r){return r.text().then(function(t){return r.status + ' ' + t;});})`, chromedp.EvalAwaitPromise)
	if !strings.HasPrefix(page, "200 ") || !strings.Contains(page, "Morning from node a.") || !strings.Contains(page, "Hello from node b.") {
		t.Errorf("ana's room page through b lacks the history: %.300q", page)
	}
	ana.enterRoom("general")
	if got := ana.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ana's reloaded page through b shows %q, want %q", got, want)
	}

	// Ana edits her message and reacts to bob's, through b.
	mine := ana.liOf("Hello from node b.")
	ana.messageAction(mine, "edit")
	ana.waitFor("the edit form", `!!document.querySelector(`+jsString(mine+` .edit-form textarea`)+`)`)
	ana.do("edit", chromedp.KeyEvent(" Edited."), pressEnter(false))
	bob.waitMessage("Hello from node b. Edited.")
	if got := bob.text(bob.liOf("Hello from node b. Edited.") + " .msg-edited"); got != "(edited)" {
		t.Errorf("bob: the edited mark reads %q, want (edited)", got)
	}
	his := ana.liOf("Morning from node a.")
	ana.messageAction(his, "react")
	ana.do("the picker", chromedp.WaitVisible(chromedp.ID("react-picker")))
	ana.do("pick 👍", chromedp.Click(chromedp.CSS(`#react-picker [data-react-emoji="👍"]`)))
	chip := `#reactions-` + strings.TrimPrefix(his, "#msg-") + ` [data-emoji="👍"]`
	for _, u := range []*user{ana, bob} {
		u.waitFor("👍 1", `(function(){var c=document.querySelector(`+jsString(chip)+`);return c && c.dataset.count === '1';})()`)
	}
	if got := eval[string](bob, `document.querySelector(`+jsString(chip)+`).title`); got != "ana" {
		t.Errorf("bob: who reacted reads %q, want ana", got)
	}
	shootIfAsked(ana, "40-nodes-room-through-b")

	// a stops, as SIGTERM does: b takes General over.
	watchConnection(ana)
	shooting := os.Getenv("NATTER_SCREENSHOTS") != ""
	if shooting {
		// The page reconnects within a second: to photograph it
		// reconnecting, its first try waits 5 s.
		eval[bool](ana, `(htmx.config.wsReconnectDelay = function(n){ return n === 0 ? 5000 : 1000 * Math.pow(2, Math.min(n, 6)) * Math.random(); }, true)`)
	}
	if err := a.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if shooting {
		ana.do("see reconnecting", chromedp.WaitVisible(chromedp.CSS(`#conn-state[data-state="reconnecting"]`)))
		shootIfAsked(ana, "41-nodes-holder-stopped")
		eval[bool](ana, `(htmx.config.wsReconnectDelay = 'full-jitter', true)`)
	}
	ana.waitFor("the room back through b", `window.closes.length > 0 && document.getElementById('conn-state').dataset.state === 'live'`)
	if !b.holds("general") {
		t.Errorf("b does not hold general after a stopped")
	}
	// The page said "reconnecting" (and why, on hover) and came back,
	// never "live" on a socket that the room then refused (b may refuse a
	// try while a stops: another reason then).
	states := eval[[]string](ana, `window.states`)
	ok := len(states) >= 2 && states[0] == "reconnecting: reconnecting (Server restarting.)" && states[len(states)-1] == "live: live"
	for _, st := range states[:max(len(states)-1, 0)] {
		ok = ok && strings.HasPrefix(st, "reconnecting: reconnecting (")
	}
	if !ok {
		t.Errorf("ana's connection state went %q, want reconnecting (Server restarting.), then live (closes %q)", states, eval[[]string](ana, `window.closes`))
	}
	want = []string{"Morning from node a.", "Hello from node b. Edited."}
	if got := ana.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ana's page after the handover shows %q, want %q", got, want)
	}
	if n := eval[int](ana, `document.querySelectorAll('#messages .gap-marker').length`); n != 0 {
		t.Errorf("ana's page marks %d gaps after the handover, which lost nothing: %q", n, ana.text("#messages .gap-marker"))
	}
	if got := ana.text(chip); got != "👍 1" {
		t.Errorf("ana's reaction after the handover reads %q, want 👍 1", got)
	}
	ana.send("After node a stopped.")
	ana.waitMessage("After node a stopped.")
	shootIfAsked(ana, "42-nodes-after-handover")

	// Cut off while reconnecting: a post is not sent (nor queued for a
	// socket that may be refused); it stays in the box with a note, and
	// goes once the room is back.
	ana.setOffline(true)
	b.srv.Rooms().CloseUser(accountID(t, b, "ana"), "", 1012, "test: network drop")
	ana.do("see reconnecting", chromedp.WaitVisible(chromedp.CSS(`#conn-state[data-state="reconnecting"]`)))
	const typed = "Typed while reconnecting."
	ana.do("post while reconnecting", chromedp.Focus(chromedp.ID("f-message")), chromedp.KeyEvent(typed), pressEnter(false))
	ana.waitFor("the note", `document.getElementById('message-error').innerText.trim() !== ''`)
	if got, want := ana.text("#message-error"), "Not sent: reconnecting to the room. Your message stays in the box; send it again in a moment."; got != want {
		t.Errorf("ana's note while reconnecting: %q, want %q", got, want)
	}
	if got := eval[string](ana, `document.getElementById('f-message').value`); got != typed {
		t.Errorf("ana's box while reconnecting holds %q, want %q", got, typed)
	}
	shootIfAsked(ana, "43-nodes-post-while-reconnecting")
	ana.setOffline(false)
	ana.waitLive()
	if got := ana.text("#message-error"); got != "" {
		t.Errorf("once live, the note still reads %q", got)
	}
	ana.do("post again", chromedp.Focus(chromedp.ID("f-message")), pressEnter(false))
	ana.waitMessage(typed)
	time.Sleep(300 * time.Millisecond) // a second copy would come at once
	want = append(want, "After node a stopped.", typed)
	if got := ana.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ana's page shows %q, want %q", got, want)
	}
	wellBehaved(ana, bob)
}

// accountID is the id of account name.
func accountID(t *testing.T, e *env, name string) int64 {
	t.Helper()
	u, err := e.srv.DB().UserByLogin(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// Scenario 3: NATS stops for a moment (as the drills stop it). Ana's post
// (b holds the room) cannot be stored: her page says "Not sent" and keeps
// the text in the box. When NATS is back, b gives the room up (the broker
// lost its memory) and takes it again: the page reconnects by itself,
// marks where the history was cut, and the post sent again appears once.
//
// Bob, relayed by a and idle throughout, is told too (b forgot his
// connection and its close may be lost with NATS restarting: a closes his
// socket when b's link falls silent or skips a number), reconnects by
// himself, catches up, and ana's next post reaches him.
func TestPostRefusedWhileNATSAway(t *testing.T) {
	nats := natstest.Start(t)
	a, b := startNodes(t, nats.URL(), func(c *app.Config) { c.RoomGrace = 30 * time.Second })
	ana := b.newUserOnNode("ana")
	ana.register()
	ana.enterRoom("general") // b holds General
	bob := a.newUserOnNode("bob")
	bob.register()
	bob.enterRoom("general") // relayed by a to b
	ana.send("Before NATS went away.")
	ana.waitMessage("Before NATS went away.")
	bob.waitMessage("Before NATS went away.")
	watchConnection(ana)
	watchConnection(bob)

	nats.Shutdown()
	const draft = "Typed while NATS is away."
	ana.do("post", chromedp.Focus(chromedp.ID("f-message")), chromedp.KeyEvent(draft), pressEnter(false))
	// The refusal or the close (b gives the room up when its lease cannot
	// be renewed) comes first, as the timers fall; either way the text is
	// back in the box.
	ana.waitFor("the refusal", `window.notes.length > 0`)
	refused := "Not sent: reconnecting to the other servers; try again in a moment. [" + draft + "]"
	dropped := "The connection dropped before your message was confirmed; it is back in the box. [" + draft + "]"
	if got := eval[[]string](ana, `window.notes`); got[0] != refused && got[0] != dropped {
		t.Errorf("ana's page said (with her box) %q, want %q or %q", got, refused, dropped)
	}
	shootIfAsked(ana, "44-nodes-not-sent")
	nats.Restart()
	ana.waitFor("the room back", `window.closes.length > 0 && document.getElementById('conn-state').dataset.state === 'live'`)
	closes := eval[[]string](ana, `window.closes`)
	for i, c := range closes {
		if (i == 0 && c != "1012 The room moved to another server; reconnecting.") || !strings.HasPrefix(c, "1012 ") {
			t.Errorf("ana's socket closed with %q, want 1012, first because the room moved", closes)
			break
		}
	}
	// NATS's memory went with it: b made General anew, or a did (bob
	// reconnecting there may claim it first; the snapshot then comes from
	// another process). The page keeps what it showed and marks the cut.
	want := "The room’s history was lost while the servers reconnected; messages above are only on your screen."
	if !b.holds("general") {
		want = "The server restarted; messages above are only on your screen."
	}
	if got := ana.text("#messages .gap-marker"); got != want {
		t.Errorf("the marker reads %q, want %q (b holds General: %v)", got, want, b.holds("general"))
	}
	// The refused post may be in the new history: a publish the NATS
	// client held while reconnecting, taken by the server that came back
	// (the drills see it too). The page then takes it out of the box and
	// says so; else it is still in the box, to send again.
	notes := eval[[]string](ana, `window.notes`)
	last := notes[len(notes)-1]
	if texts := ana.texts(); texts[len(texts)-1] == draft {
		t.Logf("the refused post reached the room after all")
		if want := "Your message reached the room after all; it is no longer in the box. []"; last != want {
			t.Errorf("ana's page then said %q, want %q", last, want)
		}
	} else {
		if last != refused && last != "Not sent: the connection dropped before the room had it. Your message is back in the box; send it again. ["+draft+"]" {
			t.Errorf("ana's page then said %q, want that her post was not sent, with it in the box", last)
		}
		shootIfAsked(ana, "45-nodes-back-after-nats")
		ana.do("post again", chromedp.Focus(chromedp.ID("f-message")), pressEnter(false))
		ana.waitMessage(draft)
		if got := ana.text("#message-error"); got != "" {
			t.Errorf("once sent, ana's page still says %q", got)
		}
	}
	time.Sleep(300 * time.Millisecond) // a second copy would come at once
	list := eval[string](ana, `Array.from(document.querySelectorAll('#messages > li')).map(function(li){
		return li.classList.contains('gap-marker') ? '--' : li.classList.contains('msg') ? li.querySelector('.msg-text').innerText : 'notice';
	}).filter(function(s){return s !== 'notice';}).join('|')`)
	if want := "Before NATS went away.|--|" + draft; list != want {
		t.Errorf("ana's list reads %q, want %q", list, want)
	}
	shootIfAsked(ana, "46-nodes-recovered")
	bob.waitFor("bob back", `window.closes.length > 0 && document.getElementById('conn-state').dataset.state === 'live'`)
	for _, c := range eval[[]string](bob, `window.closes`) {
		if !strings.HasPrefix(c, "1012 ") {
			t.Errorf("bob's socket closed with %q, want 1012", eval[[]string](bob, `window.closes`))
			break
		}
	}
	bob.waitMessage(draft)
	ana.send("After NATS came back.")
	bob.waitMessage("After NATS came back.")
	wellBehaved(ana, bob)
}

// NATS stalled (a partition, not a restart) long enough for a post to be
// refused: the publish the holder gave up on reaches the broker when the
// stall ends, and the room taken up again has it. Ana's page, which put
// the refused text back into the box, takes it out again once the room
// shows it, and says so: sent again, it would be there twice.
//
// Then the room works on: ana's next post is taken (the holder dropped
// the room after the write it could not confirm and took it up again from
// the broker; it never serves a room whose lease it does not hold).
func TestRefusedPostThatReachedTheRoom(t *testing.T) {
	nats := natstest.Start(t)
	proxy := stallproxy.Start(t, "tcp", strings.TrimPrefix(nats.URL(), "nats://"))
	_, b := startNodes(t, "nats://"+proxy.Addr(), func(c *app.Config) { c.RoomGrace = 30 * time.Second })
	t.Cleanup(proxy.Resume) // before the nodes stop
	ana := b.newUserOnNode("ana")
	ana.register()
	ana.enterRoom("general") // b holds General
	ana.send("Before the stall.")
	ana.waitMessage("Before the stall.")
	watchConnection(ana)

	proxy.Stall()
	const draft = "Typed during the stall."
	ana.do("post", chromedp.Focus(chromedp.ID("f-message")), chromedp.KeyEvent(draft), pressEnter(false))
	ana.waitFor("the refusal", `window.notes.length > 0`)
	proxy.Resume()
	ana.waitFor("the room back", `window.closes.length > 0 && document.getElementById('conn-state').dataset.state === 'live'`)
	// The refusal or the close comes first, as the timers fall: the page
	// said one of these, then that the room has it.
	notes := eval[[]string](ana, `window.notes`)
	told := map[string]bool{
		"Not sent: reconnecting to the other servers; try again in a moment. [" + draft + "]":              true,
		"The connection dropped before your message was confirmed; it is back in the box. [" + draft + "]": true,
	}
	if len(notes) != 2 || !told[notes[0]] || notes[1] != "Your message reached the room after all; it is no longer in the box. []" {
		t.Errorf("ana's page said (with her box) %q, want the refusal or the close with the text in the box, then that the room has it", notes)
	}
	if got, want := ana.texts(), []string{"Before the stall.", draft}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ana sees %q, want %q", got, want)
	}
	shootIfAsked(ana, "47-nodes-reached-after-all")
	ana.send("After the stall.")
	ana.waitMessage("After the stall.")
	if got := ana.text("#message-error"); strings.HasPrefix(got, "Not sent") {
		t.Errorf("ana's post after the stall: %q", got)
	}
	wellBehaved(ana)
}

// The room's holder cut off from NATS with ana's post on its way: the
// post never reaches it, and when the holder's lease goes b closes ana's
// socket (1012). Her text comes back into the box, and once b has taken
// the room over (without her post) the page says it was not sent; sent
// again, it appears once.
func TestPostLostWithItsHolder(t *testing.T) {
	nats := natstest.Start(t)
	proxy := stallproxy.Start(t, "tcp", strings.TrimPrefix(nats.URL(), "nats://"))
	dbURL := pgtest.URL(t)
	door := startFrontDoor(t)
	node := func(name, natsURL string) *env {
		e := startEnvWith(t, func(c *app.Config) {
			c.DatabaseURL, c.NATSURL, c.Node, c.BaseURL = dbURL, natsURL, name, door.url
			c.RoomGrace = 30 * time.Second
		})
		door.add(name, e.srv.URL)
		e.node = name
		return e
	}
	node("a", "nats://"+proxy.Addr())
	t.Cleanup(proxy.Resume) // before a stops
	b := node("b", nats.URL())
	// bob, a Go client on a, makes a hold General.
	bob, err := client.New(door.url)
	if err != nil {
		t.Fatal(err)
	}
	bob.HTTP.Jar.SetCookies(bob.Base, []*http.Cookie{{Name: frontCookie, Value: "a"}})
	if err := bob.Register("bob", "bob@example.com", apptest.Password); err != nil {
		t.Fatal(err)
	}
	sock := apptest.Dial(t, bob, "general")
	sock.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := sock.ReadMessage(); err != nil {
		t.Fatalf("bob's snapshot: %v", err)
	}
	ana := b.newUserOnNode("ana")
	ana.register()
	if got, want := ana.text("main section p"), "Pick a room, or open one of your own and share its link. A room and its messages vanish when the last person leaves; one server restarting keeps every room, the whole service restarting empties them."; got != want {
		t.Errorf("the lobby says %q, want %q", got, want)
	}
	ana.enterRoom("general") // relayed by b to a
	ana.send("Before the cut.")
	ana.waitMessage("Before the cut.")
	watchConnection(ana)

	proxy.Stall()
	const lost = "Sent into the cut."
	ana.send(lost)
	ana.waitFor("the room back", `window.closes.length > 0 && document.getElementById('conn-state').dataset.state === 'live'`)
	t.Logf("ana's page: states %q, closes %q", eval[[]string](ana, `window.states`), eval[[]string](ana, `window.closes`))
	want := []string{
		"The connection dropped before your message was confirmed; it is back in the box. [" + lost + "]",
		"Not sent: the connection dropped before the room had it. Your message is back in the box; send it again. [" + lost + "]",
	}
	if got := eval[[]string](ana, `window.notes`); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ana's page said (with her box) %q, want %q", got, want)
	}
	shootIfAsked(ana, "48-nodes-post-lost")
	ana.do("post again", chromedp.Focus(chromedp.ID("f-message")), pressEnter(false))
	ana.waitMessage(lost)
	time.Sleep(300 * time.Millisecond)
	if got, want := ana.texts(), []string{"Before the cut.", lost}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ana sees %q, want %q", got, want)
	}
	wellBehaved(ana)
}
