package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/fasthttp/websocket"

	"natter/app/apptest"
	"natter/client"
)

// Long content: the longest names the server accepts, an unbroken word,
// a long link and a code line, many reactions, many rooms and accounts.
const (
	longUser = "Maximiliana_Featherstonehaugh1"                   // 30 characters
	longRoom = "quarterly-planning-for-the-infrastructure-team-x" // 48, the most
	longWord = "Supercalifragilisticexpialidocious-and-then-some-more-without-any-break-at-all"
	longURL  = "https://example.com/ci/runs/4242/artifacts/build-output/linux-amd64/natter-server.tar.gz?tab=logs&attempt=3&highlight=line-1234"
)

// TestLongContentFitsAPhone loads every main page at phone width with
// the longest names and words the server lets in, and checks that nothing
// is wider than the screen, no text spills out of its box, and the room's
// message box and last message are in view. With NATTER_SCREENSHOTS set it
// photographs each state (layout-*).
func TestLongContentFitsAPhone(t *testing.T) {
	e := startEnv(t, nil)

	// The first account is the admin: the admin page is checked too.
	max := e.newUser(longUser)
	max.register()

	// Many accounts with long names, two of them in many rooms with long
	// names: a crowded lobby and admin page.
	others := make([]string, 0, 8)
	for i := range 8 {
		others = append(others, fmt.Sprintf("Bartholomew_Quillingsworth_%02d", i))
	}
	clients := make(map[string]*websocket.Conn)
	for i, name := range others {
		c := e.srv.User(name)
		if i < 2 {
			clients[name] = e.holdRoomWith(c, longRoom)
		}
	}
	holder := e.srv.User("holder")
	for i := range 7 {
		e.holdRoomWith(holder, fmt.Sprintf("%d-%s", i, longRoom[2:]))
	}

	visitor := e.newUser("visitor")
	visitor.view(390, 844, "light")
	visitor.open("/register", "#f-username")
	visitor.do("register with long mistakes",
		fill("#f-username", strings.Repeat("x", 40)+" and a space"),
		fill("#f-email", longWord+"@"+longWord),
		fill("#f-password", "password"),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="username"]`)))
	visitor.fitsPhone("layout-register-errors")
	visitor.open("/login", "#f-username")
	visitor.do("sign in wrongly with a long name",
		fill("#f-username", longWord),
		fill("#f-password", "not the password"),
		clickAndLoad(`form[action="/login"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-error"]`)))
	visitor.fitsPhone("layout-login-error")
	visitor.open("/password/reset/"+longWord, "h1")
	visitor.fitsPhone("layout-reset-invalid")
	visitor.open("/no/such/page/"+longWord, `[data-testid="error-heading"]`)
	visitor.fitsPhone("layout-not-found")

	max.view(390, 844, "light")
	max.open("/rooms", "#room-list")
	max.waitFor("the rooms held", `document.querySelectorAll('#room-list [data-room$="team-x"]').length === 8`)
	max.fitsPhone("layout-lobby")
	max.focusRings(14)
	max.do("ask for a room with a bad long name",
		fill("#f-name", longWord+"!"+longWord),
		clickAndLoad(`form[action="/rooms"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for="name"]`)))
	max.fitsPhone("layout-lobby-error")

	// A private room with the longest name: its invitation panel.
	priv := "p" + strings.ReplaceAll(longRoom[1:], "-", "_") // no dash to break at
	max.open("/rooms/"+priv, `[data-testid="room-closed"]`)
	max.fitsPhone("layout-room-closed")
	max.open("/rooms", "#f-name")
	max.do("open a private room",
		fill("#f-name", priv),
		chromedp.Click(chromedp.CSS(`input[name="private"]`)),
		clickAndLoad(`form[action="/rooms"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invite-link"]`)))
	max.waitLive()
	max.fitsPhone("layout-private-room")
	max.do("open the alerts", chromedp.Click(chromedp.CSS(`#alerts summary`)), chromedp.WaitVisible(chromedp.CSS(`#alerts .alerts-panel`)))
	max.inView("the alerts panel", "#alerts .alerts-panel")
	max.fitsPhone("layout-alerts")
	max.do("close the alerts", chromedp.Click(chromedp.CSS(`#alerts summary`)))
	max.waitFor("the alerts to close", `!document.getElementById('alerts').open`)
	invite := strings.TrimPrefix(max.text(`[data-testid="invite-link"]`), e.base)
	guest := e.newUser("Bartholomew_Quillingsworth_99")
	guest.register()
	guest.view(390, 844, "light")
	guest.open(invite, `[data-testid="join"]`)
	guest.fitsPhone("layout-join")

	// The long room: long words, links and code, many reactions.
	max.enterRoom(longRoom)
	max.send("The path was /var/lib/natter/" + longWord + "/file.txt and the word " + longWord)
	max.send("Logs: " + longURL)
	max.sendRaw("The fix:\n```\nfunc main() { fmt.Println(\"" + strings.Repeat("a long line ", 12) + "\") }\n```")
	max.waitFor("three messages", `document.querySelectorAll('#messages .msg').length === 3`)
	seq := eval[string](max, `document.querySelector('#messages .msg').dataset.seq`)
	emojis := []string{"👍", "❤️", "😂", "🎉", "😮", "👀", "🚀", "🙌", "🔥", "✅", "🤔", "👏", "💯", "🙏"}
	for _, name := range others[:2] {
		for _, emoji := range emojis {
			frame, _ := json.Marshal(map[string]string{"react": seq, "emoji": emoji})
			if err := clients[name].WriteMessage(websocket.TextMessage, frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	max.waitFor("every reaction", `document.querySelectorAll('#messages .msg [data-emoji][data-count="2"]').length === `+fmt.Sprint(len(emojis)))
	max.send("And a last word at the bottom.")
	max.waitFor("four messages", `document.querySelectorAll('#messages .msg').length === 4`)
	max.fitsPhone("layout-room")
	max.focusRings(12)
	max.inView("the message box", "#f-message")
	max.inView("the last message", "#messages .msg:last-child .msg-text")
	if covered := eval[bool](max, `(function(){var m=document.querySelector('#messages .msg:last-child .msg-text').getBoundingClientRect();
		var f=document.getElementById('message-form').getBoundingClientRect();return m.bottom > f.top + 1;})()`); covered {
		t.Error("at phone width the last message is behind the message box")
	}
	// Turning the phone, or a message box grown to several lines, keeps
	// the end of the list in view.
	max.view(844, 390, "light")
	max.view(390, 844, "light")
	max.settle()
	max.inView("the last message after turning the phone", "#messages .msg:last-child .msg-text")
	eval[bool](max, `(function(){var b=document.getElementById('f-message');b.value='one\ntwo\nthree\nfour\nfive';
		b.dispatchEvent(new Event('input',{bubbles:true}));return true;})()`)
	max.waitFor("the list to follow the grown box", `(function(){var m=document.querySelector('#messages .msg:last-child .msg-text').getBoundingClientRect();
		var s=document.getElementById('message-scroller').getBoundingClientRect();return m.bottom <= s.bottom + 1;})()`)
	eval[bool](max, `(function(){var b=document.getElementById('f-message');b.value='';b.dispatchEvent(new Event('input',{bubbles:true}));return true;})()`)

	// Who reacted shows on a chip's keyboard focus; the names stay on screen.
	max.do("focus a reaction by keyboard",
		chromedp.Focus(chromedp.CSS(`#messages .msg [data-emoji="🙌"]`)),
		chromedp.KeyEvent(kb.Tab))
	shootIfAsked(max, "layout-reaction-names")
	max.view(390, 844, "light")
	eval[bool](max, `document.activeElement.blur(), true`)
	max.do("open the member panel", chromedp.Click(chromedp.CSS(`[data-toggle-members]`)), chromedp.WaitVisible(chromedp.ID("members")))
	max.fitsPhone("layout-room-members")
	max.do("close the member panel",
		chromedp.Click(chromedp.CSS(`#member-panel [data-toggle-members]`)),
		chromedp.WaitNotVisible(chromedp.ID("member-panel")))

	// The @ list shows the long names whole, within its box.
	max.do("type a mention", typeIn("#f-message", "@Bart"), chromedp.WaitVisible(chromedp.ID("mention-list")))
	max.fitsPhone("layout-mention-list")
	if w := eval[[]int](max, `(function(){var l=document.getElementById('mention-list');return [l.scrollWidth,l.clientWidth];})()`); w[0] > w[1] {
		t.Errorf("the @ list holds %d px in %d: a long name is cut", w[0], w[1])
	}
	max.do("close the list", chromedp.KeyEvent(kb.Escape))

	// The message actions' own pages (the path without JavaScript).
	for _, action := range []string{"edit", "delete", "reactions"} {
		max.open("/rooms/"+longRoom+"/messages/"+seq+"/"+action, "main h1")
		max.fitsPhone("layout-action-" + action)
		if action == "edit" {
			if h := eval[[]int](max, `(function(){var b=document.querySelector('main textarea');return [b.scrollHeight,b.clientHeight];})()`); h[0] > h[1] {
				t.Errorf("the edit page's box shows %d px of the message's %d", h[1], h[0])
			}
		}
	}

	max.open("/account", "#f-current_password")
	max.do("change the password wrongly",
		fill("#f-current_password", "not it"),
		fill("#f-password", "x"),
		clickAndLoad(`form[action="/account"] input[value="password"] ~ button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for]`)))
	max.fitsPhone("layout-account-errors")

	max.open("/admin", `[data-testid="accounts"]`)
	max.do("make an invitation",
		clickAndLoad(`form[action="/admin/invites"] button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="invite-link"]`)))
	max.fitsPhone("layout-admin")
	max.inWidth("an account's Disable", `[data-testid="accounts"] summary`)
	max.inWidth("the invitation's Revoke", `[data-testid="invitations"] summary`)
	wellBehaved(max, visitor, guest)
}

// holdRoomWith keeps room slug open with c's socket for the rest of the
// test.
func (e *env) holdRoomWith(c *client.Client, slug string) *websocket.Conn {
	e.t.Helper()
	sock := apptest.Dial(e.t, c, slug)
	sock.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := sock.ReadMessage(); err != nil {
		e.t.Fatalf("hold %s: %v", slug, err)
	}
	sock.SetReadDeadline(time.Time{})
	go func() { // read on, so the server's frames never back up
		for {
			if _, _, err := sock.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return sock.Conn
}

// fitsPhone checks the page at 390 px wide (light): nothing is wider than
// the screen or outside it sideways unless a scrolling box holds it, and
// no text spills out of its box. With NATTER_SCREENSHOTS set it then
// photographs the page at every size and scheme.
func (u *user) fitsPhone(name string) {
	u.t.Helper()
	u.view(390, 844, "light")
	u.settle()
	if bad := eval[[]string](u, layoutFaults); len(bad) > 0 {
		u.t.Errorf("%s at 390 px (%s):\n  %s", name, u.path(), strings.Join(bad, "\n  "))
	}
	shootIfAsked(u, name)
	u.view(390, 844, "light")
}

// focusRings presses Tab n times from the top of the page and fails the
// test for each element that takes the focus without a visible ring (an
// outline or a box shadow) or outside the viewport's width.
func (u *user) focusRings(n int) {
	u.t.Helper()
	eval[bool](u, `document.activeElement && document.activeElement.blur(), window.scrollTo(0,0), true`)
	for range n {
		u.do("press Tab", chromedp.KeyEvent(kb.Tab))
		if bad := eval[string](u, `(function(){var el=document.activeElement;if(!el||el===document.body)return '';
			var cs=getComputedStyle(el),r=el.getBoundingClientRect();
			var ring=(cs.outlineStyle!=='none'&&parseFloat(cs.outlineWidth)>0)||cs.boxShadow!=='none';
			var what=el.tagName.toLowerCase()+(el.id?'#'+el.id:'')+' "'+(el.innerText||el.value||el.getAttribute('aria-label')||'').trim().slice(0,30)+'"';
			if(!ring)return what+' has no focus ring';
			if(r.left<0||r.right>document.documentElement.clientWidth)return what+' is focused off screen at '+Math.round(r.left)+'..'+Math.round(r.right);
			return '';})()`); bad != "" {
			u.t.Errorf("%s: %s", u.path(), bad)
		}
	}
}

// inView fails the test unless the element sel is inside the viewport.
func (u *user) inView(what, sel string) {
	u.t.Helper()
	r := eval[[]float64](u, `(function(){var r=document.querySelector(`+jsString(sel)+`).getBoundingClientRect();return [r.left,r.top,r.right,r.bottom,innerWidth,innerHeight];})()`)
	if r[0] < 0 || r[1] < 0 || r[2] > r[4] || r[3] > r[5] {
		u.t.Errorf("%s (%s) is at %v, outside the %vx%v viewport", what, sel, r[:4], r[4], r[5])
	}
}

// inWidth fails the test unless every element sel is within the
// viewport's width (a table that scrolls sideways may hide it).
func (u *user) inWidth(what, sel string) {
	u.t.Helper()
	out := eval[[]string](u, `Array.from(document.querySelectorAll(`+jsString(sel)+`)).map(function(el){
		var r=el.getBoundingClientRect();return Math.round(r.left)+'..'+Math.round(r.right);})`)
	if len(out) == 0 {
		u.t.Errorf("no %s (%s) on the page", what, sel)
	}
	w := eval[float64](u, `document.documentElement.clientWidth`)
	for _, span := range out {
		var l, r float64
		fmt.Sscanf(span, "%f..%f", &l, &r)
		if l < 0 || r > w {
			u.t.Errorf("%s (%s) spans %s, outside the %v px screen", what, sel, span, w)
			return
		}
	}
}

// layoutFaults lists what breaks the page's width: the page scrolling
// sideways, a visible element past the viewport's left or right edge (one
// inside a box that scrolls or clips, itself within the viewport, is
// fine), and an element whose content is wider than it while its
// overflow is visible (text spilling out).
const layoutFaults = `(function(){
	var W = document.documentElement.clientWidth, out = [];
	function name(el){ var s = el.tagName.toLowerCase(); if (el.id) s += '#' + el.id;
		var c = (el.getAttribute('class')||'').trim().split(/\s+/).slice(0,3).join('.'); if (c) s += '.' + c;
		var tid = el.getAttribute('data-testid'); if (tid) s += '[data-testid=' + tid + ']';
		return s + ' "' + (el.innerText||el.value||'').trim().slice(0,30) + '"'; }
	if (document.documentElement.scrollWidth > W) out.push('the page is ' + document.documentElement.scrollWidth + ' px wide');
	function clipped(el){ for (var a = el.parentElement; a && a !== document.body; a = a.parentElement) {
		if (getComputedStyle(a).overflowX !== 'visible') { var r = a.getBoundingClientRect(); return r.left >= -0.5 && r.right <= W + 0.5; } }
		return false; }
	document.querySelectorAll('body *').forEach(function(el){
		var r = el.getBoundingClientRect(), cs = getComputedStyle(el);
		if (r.width <= 1 || r.height <= 1 || cs.visibility === 'hidden') return; // nothing, or sr-only
		var shut = el.closest('details:not([open])'); if (shut && !el.closest('summary')) return; // laid out, not shown
		if ((r.right > W + 0.5 || r.left < -0.5) && !clipped(el)) out.push(name(el) + ' spans ' + Math.round(r.left) + '..' + Math.round(r.right));
		else if (cs.overflowX === 'visible' && cs.display !== 'inline' && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 && !clipped(el))
			out.push(name(el) + ' holds ' + el.scrollWidth + ' px in ' + el.clientWidth);
	});
	return out.slice(0, 12);
})()`
