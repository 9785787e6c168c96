package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/app/apptest"
	"natter/chat"
	"natter/client"
)

// Tests of issue 13's message actions: edit, delete, react, typing and
// mentions, over the socket and as forms.

// sendFrame sends fields as htmx's ws extension would.
func sendFrame(t *testing.T, s *client.Socket, fields map[string]string) {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

var seqOf = regexp.MustCompile(`<li id="msg-(\d+)" data-seq="\d+" data-author="\d+"`)

// postAndSeq posts text on s, waits until r has it and returns its seq.
// The text must render as itself (no Markdown, nothing to escape), or end
// in such a word, given as shownEnd.
func postAndSeq(t *testing.T, s *client.Socket, r *reader, text string, shownEnd ...string) string {
	t.Helper()
	if err := s.SendMessage(text); err != nil {
		t.Fatal(err)
	}
	end := text
	if len(shownEnd) > 0 {
		end = shownEnd[0]
	}
	all := r.until("message "+text, func(a string) bool { return strings.Contains(a, end+"</div>") })
	i := strings.Index(all, end+"</div>")
	m := seqOf.FindAllStringSubmatch(all[:i], -1)
	if len(m) == 0 {
		t.Fatalf("no seq before %q in %s", text, all)
	}
	return m[len(m)-1][1]
}

// htmxPost posts form to path as htmx does from the room page: with the
// page's CSRF header.
func htmxPost(t *testing.T, c *client.Client, page, path string, form url.Values) *client.Response {
	t.Helper()
	p := get(t, c, page)
	req, _ := http.NewRequest(http.MethodPost, c.URL(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.Base.Scheme+"://"+c.Base.Host)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-Csrf-Token", client.CSRF(p.Body))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// htmxGet fetches path as htmx does.
func htmxGet(t *testing.T, c *client.Client, path string) *client.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.URL(path), nil)
	req.Header.Set("HX-Request", "true")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// errorFragment is the refusal a socket sends its sender.
func errorFragment(text string) string {
	return `<p id="message-error" hx-swap-oob="true" role="alert" class="px-1 pt-1 text-sm text-red-600 dark:text-red-400">` + text + `</p>`
}

// marker posts text from s and waits until r has it: everything r was
// sent before is then in r.
func marker(t *testing.T, s *client.Socket, r *reader, text string) string {
	t.Helper()
	if err := s.SendMessage(text); err != nil {
		t.Fatal(err)
	}
	return r.until(text, func(a string) bool { return strings.Contains(a, text+"</div>") })
}

// pair is alice and bob, both in general (after root, the admin), each
// with a socket and its reader, alice's reader past bob's join.
type pair struct {
	alice, bob *client.Client
	as, bs     *client.Socket
	ar, br     *reader
}

func newPair(t *testing.T, h *harness) pair {
	t.Helper()
	h.User("root") // the first account is the admin
	p := pair{alice: h.User("alice"), bob: h.User("bob")}
	p.as, p.bs = apptest.Dial(t, p.alice, "general"), apptest.Dial(t, p.bob, "general")
	p.ar, p.br = newReader(t, p.as), newReader(t, p.bs)
	p.ar.until("bob", func(a string) bool { return strings.Contains(a, "bob joined") })
	return p
}

func TestEditOverSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := newPair(t, h)
	as, bs, ar, br := p.as, p.bs, p.ar, p.br
	seq := postAndSeq(t, as, ar, "first draft")
	br.until("the message", func(a string) bool { return strings.Contains(a, "first draft") })

	sendFrame(t, as, map[string]string{"edit": seq, "message": "final **text**"})
	aliceID := fmt.Sprint(userID(t, h, "alice"))
	want := `<li id="msg-` + seq + `" data-seq="` + seq + `" data-author="` + aliceID + `" data-edited hx-swap-oob="true" class="msg group/msg`
	for name, r := range map[string]*reader{"alice": ar, "bob": br} {
		all := r.until("the edit", func(a string) bool { return strings.Contains(a, "final <strong>text</strong></div>") })
		if !strings.Contains(all, want) || !strings.Contains(all, `<span class="msg-edited`) {
			t.Errorf("%s's edit frame lacks %q:\n%s", name, want, all)
		}
	}
	// The history holds the new text only.
	page := get(t, h.User("carol"), "/rooms/general")
	wantPage(t, page, http.StatusOK, "final <strong>text</strong>", "(edited)")
	if strings.Contains(page.Body, "first draft") {
		t.Error("the room page still shows the old text")
	}

	// Bob may not edit it; a seq nobody posted is not there.
	sendFrame(t, bs, map[string]string{"edit": seq, "message": "bob was here"})
	br.until("the refusal", func(a string) bool { return strings.Contains(a, errorFragment("You can edit only your own messages.")) })
	sendFrame(t, as, map[string]string{"edit": "999", "message": "nothing"})
	ar.until("the refusal", func(a string) bool {
		return strings.Contains(a, errorFragment("That message is no longer in the room."))
	})
	sendFrame(t, as, map[string]string{"edit": seq, "message": strings.Repeat("x", 2001)})
	ar.until("the refusal", func(a string) bool {
		return strings.Contains(a, errorFragment("Messages can have at most 2,000 characters; this one has 2,001."))
	})
	all := marker(t, bs, br, "still open")
	if strings.Contains(all, "bob was here") || strings.Contains(all, "nothing") {
		t.Errorf("a refused edit reached bob:\n%s", all)
	}
}

func TestEditOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := newPair(t, h)
	alice, bob, as, ar, br := p.alice, p.bob, p.as, p.ar, p.br
	seq := postAndSeq(t, as, ar, "typo heer")
	path := "/rooms/general/messages/" + seq + "/edit"

	// The author gets the form, holding the source; others do not.
	page := get(t, alice, path)
	wantPage(t, page, http.StatusOK, `data-testid="edit-message"`, `data-edit-cancel`, `href="/rooms/general#msg-`+seq+`"`)
	if v := inputValue(t, page.Body, path, "message"); v != "typo heer" {
		t.Errorf("the form holds %q", v)
	}
	frag := htmxGet(t, alice, path)
	if frag.Status != http.StatusOK || !strings.HasPrefix(frag.Body, `<form id="edit-`+seq+`" class="edit-form`) ||
		!strings.Contains(frag.Body, `hx-post="`+path+`" hx-swap="none"`) || !strings.Contains(frag.Body, `<button type="button" data-edit-cancel`) ||
		strings.Contains(frag.Body, "<html") {
		t.Errorf("htmx edit form: %d\n%s", frag.Status, frag.Body)
	}
	wantPage(t, get(t, bob, path), http.StatusForbidden, "You can edit only your own messages.")
	wantPage(t, get(t, alice, "/rooms/general/messages/999/edit"), http.StatusNotFound, "That message is no longer in the room.")
	wantPage(t, get(t, alice, "/rooms/general/messages/x/edit"), http.StatusNotFound)
	wantPage(t, post(t, bob, path, url.Values{"message": {"mine now"}, "csrf": {client.CSRF(get(t, bob, "/rooms/general").Body)}}),
		http.StatusForbidden, "You can edit only your own messages.")

	// A refused text comes back in the form, as typed, with why.
	res := submit(t, alice, path, path, url.Values{"message": {"   "}})
	wantPage(t, res, http.StatusUnprocessableEntity, "A message needs some text; to remove it, delete it.")
	long := strings.Repeat("é", 2001)
	res = submit(t, alice, path, path, url.Values{"message": {long}})
	wantPage(t, res, http.StatusUnprocessableEntity, "Messages can have at most 2,000 characters; this one has 2,001.")
	if v := inputValue(t, res.Body, path, "message"); v != long {
		t.Errorf("the refused form holds %d characters, want what was typed", len([]rune(v)))
	}

	wantRedirect(t, submit(t, alice, path, path, url.Values{"message": {"typo here"}}), "/rooms/general#msg-"+seq)
	br.until("the edit", func(a string) bool { return strings.Contains(a, "typo here</div>") })
	if res := htmxPost(t, alice, "/rooms/general", path, url.Values{"message": {"typo here, fixed"}}); res.Status != http.StatusNoContent || res.Body != "" {
		t.Fatalf("htmx edit: %d %q", res.Status, res.Body)
	}
	br.until("the second edit", func(a string) bool { return strings.Contains(a, "typo here, fixed</div>") })
	// To htmx, a refusal is the room's error fragment.
	res = htmxPost(t, bob, "/rooms/general", path, url.Values{"message": {"no"}})
	if res.Status != http.StatusForbidden || res.Body != errorFragment("You can edit only your own messages.") {
		t.Errorf("htmx refusal: %d %q", res.Status, res.Body)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	root := h.User("root") // the admin
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	as, bs := apptest.Dial(t, alice, "general"), apptest.Dial(t, bob, "general")
	ar, br := newReader(t, as), newReader(t, bs)
	ar.until("bob", func(a string) bool { return strings.Contains(a, "bob joined") })
	aliceID := fmt.Sprint(userID(t, h, "alice"))
	seq := postAndSeq(t, as, ar, "the secret plan")
	after := postAndSeq(t, as, ar, "and more")

	// Bob neither wrote it nor owns the room.
	sendFrame(t, bs, map[string]string{"delete": seq})
	br.until("the refusal", func(a string) bool {
		return strings.Contains(a, errorFragment("You can delete only your own messages."))
	})
	path := "/rooms/general/messages/" + seq + "/delete"
	wantPage(t, submit(t, bob, path, path, nil), http.StatusForbidden, "You can delete only your own messages.")
	sendFrame(t, bs, map[string]string{"delete": "999"})
	br.until("the refusal", func(a string) bool {
		return strings.Contains(a, errorFragment("That message is no longer in the room."))
	})

	sendFrame(t, as, map[string]string{"delete": seq})
	tomb := `<li id="msg-` + seq + `" data-seq="` + seq + `" data-deleted hx-swap-oob="true" class="msg-deleted`
	for name, r := range map[string]*reader{"alice": ar, "bob": br} {
		all := r.until("the tombstone", func(a string) bool { return strings.Contains(a, tomb) })
		if !strings.Contains(all[strings.Index(all, tomb):], `">message deleted</li>`) {
			t.Errorf("%s's tombstone:\n%s", name, all)
		}
		// The next message, grouped under it, shows its author again.
		if !strings.Contains(all, `<li id="msg-`+after+`" data-seq="`+after+`" data-author="`+aliceID+`" hx-swap-oob="true" class="msg group/msg flex flex-col items-start px-1 mt-3"`) {
			t.Errorf("%s got no update of the next message", name)
		}
	}
	// Gone from the next snapshot and from the page at once.
	cs := apptest.Dial(t, carol, "general")
	snap := newReader(t, cs).until("snapshot", func(a string) bool { return strings.Contains(a, `id="members" hx-swap-oob="innerHTML"`) })
	if strings.Contains(snap, "secret plan") || !strings.Contains(snap, `<li id="msg-`+seq+`" data-seq="`+seq+`" data-deleted class="msg-deleted`) {
		t.Errorf("snapshot after the deletion:\n%s", snap)
	}
	page := get(t, carol, "/rooms/general")
	wantPage(t, page, http.StatusOK, "message deleted", "and more")
	if strings.Contains(page.Body, "secret plan") {
		t.Error("the room page still shows the deleted text")
	}
	// A deleted message is gone for every action.
	sendFrame(t, as, map[string]string{"edit": seq, "message": "back"})
	ar.until("the refusal", func(a string) bool {
		return strings.Contains(a, errorFragment("That message is no longer in the room."))
	})

	// An admin deletes anyone's message (a plain form, after the page
	// that confirms); so does a room's owner in their room.
	bseq := postAndSeq(t, bs, br, "bob writes")
	path = "/rooms/general/messages/" + bseq + "/delete"
	wantPage(t, get(t, root, path), http.StatusOK, `data-testid="delete-message"`, "bob writes")
	wantRedirect(t, submit(t, root, path, path, nil), "/rooms/general#msg-"+bseq)
	br.until("the admin's deletion", func(a string) bool {
		return strings.Contains(a, `<li id="msg-`+bseq+`" data-seq="`+bseq+`" data-deleted hx-swap-oob="true"`)
	})

	if res := submit(t, carol, "/rooms", "/rooms", url.Values{"name": {"carols"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("create room: %d", res.Status)
	}
	cs2, bs2 := apptest.Dial(t, carol, "carols"), apptest.Dial(t, bob, "carols")
	cr2, br2 := newReader(t, cs2), newReader(t, bs2)
	br2.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	oseq := postAndSeq(t, bs2, br2, "in the room of carol")
	if res := htmxPost(t, carol, "/rooms/carols", "/rooms/carols/messages/"+oseq+"/delete", nil); res.Status != http.StatusNoContent {
		t.Fatalf("owner's delete: %d %s", res.Status, res.Body)
	}
	cr2.until("the owner's deletion", func(a string) bool {
		return strings.Contains(a, `<li id="msg-`+oseq+`" data-seq="`+oseq+`" data-deleted`)
	})
}

func TestReactions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := newPair(t, h)
	alice, bob, as, bs, ar, br := p.alice, p.bob, p.as, p.bs, p.ar, p.br
	seq := postAndSeq(t, as, ar, "ship it?")
	aliceID, bobID := fmt.Sprint(userID(t, h, "alice")), fmt.Sprint(userID(t, h, "bob"))
	reactions := func(body string) string {
		return `<div id="reactions-` + seq + `" hx-swap-oob="true" class="reactions flex flex-wrap gap-1 px-1 pt-0.5 empty:hidden">` + body + `</div>`
	}
	chip := func(count, ids, names string) string {
		return `<button type="button" hx-post="/rooms/general/messages/` + seq + `/reactions" hx-vals="{&#34;emoji&#34;:&#34;👍&#34;}" data-emoji="👍" data-count="` + count +
			`" data-reactors="` + ids + `" title="` + names + `" aria-label="👍 ` + count + `: ` + names + `" class="reaction`
	}

	sendFrame(t, bs, map[string]string{"react": seq, "emoji": "👍"})
	all := ar.until("bob's reaction", func(a string) bool { return strings.Contains(a, chip("1", bobID, "bob")) })
	if !strings.Contains(all, reactions("")[:strings.Index(reactions(""), "</div>")]+chip("1", bobID, "bob")) {
		t.Errorf("reactions frame:\n%s", all)
	}
	path := "/rooms/general/messages/" + seq + "/reactions"
	if res := htmxPost(t, alice, "/rooms/general", path, url.Values{"emoji": {"👍", ""}}); res.Status != http.StatusNoContent {
		t.Fatalf("htmx reaction: %d %s", res.Status, res.Body)
	}
	br.until("alice's reaction", func(a string) bool { return strings.Contains(a, chip("2", bobID+","+aliceID, "bob, alice")) })
	sendFrame(t, bs, map[string]string{"react": seq, "emoji": "👍"}) // toggles bob's off
	br.until("bob's reaction gone", func(a string) bool { return strings.Contains(a, chip("1", aliceID, "alice")) })
	if res := htmxPost(t, alice, "/rooms/general", path, url.Values{"emoji": {"", "👍"}}); res.Status != http.StatusNoContent {
		t.Fatalf("htmx reaction: %d", res.Status)
	}
	br.until("no reactions", func(a string) bool { return strings.Contains(a, reactions("")) })

	// One emoji, nothing else.
	for _, bad := range []string{"ok", "👍👍", "", "<b>", "👍\u0301"} {
		sendFrame(t, bs, map[string]string{"react": seq, "emoji": bad})
		br.until("the refusal of "+bad, func(a string) bool { return strings.Count(a, errorFragment("Choose one emoji.")) >= 1 })
		br.frames = nil
	}
	res := submit(t, bob, path, path, url.Values{"emoji": {"ok"}})
	wantPage(t, res, http.StatusUnprocessableEntity, "Choose one emoji.")
	if v := inputValue(t, res.Body, path, "emoji"); v != "ok" {
		t.Errorf("the refused form holds %q", v)
	}
	// Without JavaScript: the page's quick reactions and any emoji.
	wantRedirect(t, submit(t, bob, path, path, url.Values{"emoji": {"🇫🇷"}}), "/rooms/general#msg-"+seq)
	ar.until("a flag", func(a string) bool { return strings.Contains(a, `data-emoji="🇫🇷" data-count="1"`) })
	// The message's own field, without JavaScript, leads to that page with
	// the emoji filled in.
	if v := inputValue(t, get(t, bob, path+"?emoji=%F0%9F%8E%89").Body, path, "emoji"); v != "🎉" {
		t.Errorf("the reaction page holds %q, want the emoji typed", v)
	}
	sendFrame(t, bs, map[string]string{"react": "999", "emoji": "👍"})
	br.until("the refusal", func(a string) bool {
		return strings.Contains(a, errorFragment("That message is no longer in the room."))
	})
	wantPage(t, post(t, bob, "/rooms/general/messages/999/reactions", url.Values{"emoji": {"👍"}, "csrf": {client.CSRF(get(t, bob, "/rooms/general").Body)}}),
		http.StatusNotFound, "That message is no longer in the room.")
}

// fakeClock is the registry's clock in tests of the typing throttle.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// typingLine is the typing element as a socket sends it.
func typingLine(text string) string {
	return `<p id="typing" hx-swap-oob="true" aria-live="polite" class="typing min-h-[1.25rem] px-1 text-xs italic text-slate-500 dark:text-slate-400">` + text + `</p>`
}

func TestTypingThrottledAndClearedByTheMessage(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h := newHarness(t, func(c *harnessConfig) { c.chat = func(cc *chat.Config) { cc.Now = clock.now } })
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	as, bs, cs := apptest.Dial(t, alice, "general"), apptest.Dial(t, bob, "general"), apptest.Dial(t, carol, "general")
	ar, br, cr := newReader(t, as), newReader(t, bs), newReader(t, cs)
	ar.until("carol", func(a string) bool { return strings.Contains(a, "carol joined") })
	br.until("carol", func(a string) bool { return strings.Contains(a, "carol joined") })
	cr.until("snapshot", func(a string) bool { return strings.Contains(a, typingLine("")) })
	ar.frames, br.frames = nil, nil

	// One broadcast, however many signals within 2 s, and never a post.
	for range 5 {
		sendFrame(t, bs, map[string]string{"typing": "1", "message": "not sent"})
	}
	ar.until("bob typing", func(a string) bool { return strings.Contains(a, typingLine("bob is typing…")) })
	all := marker(t, cs, ar, "marker one")
	if n := strings.Count(all, `<p id="typing"`); n != 1 || strings.Contains(all, "not sent") {
		t.Errorf("alice got %d typing frames (want 1):\n%s", n, all)
	}
	// Bob's own view leaves him out.
	if all := marker(t, cs, br, "marker one"); !strings.Contains(all, typingLine("")) || strings.Contains(all, "bob is typing") {
		t.Errorf("bob's own typing line:\n%s", all)
	}

	// His message takes him off the line, in the same frame.
	ar.frames = nil
	if err := bs.SendMessage("done typing"); err != nil {
		t.Fatal(err)
	}
	all = ar.until("bob's message", func(a string) bool { return strings.Contains(a, "done typing</div>") })
	if i := strings.Index(all, "done typing</div>"); !strings.Contains(all[i:], typingLine("")) {
		t.Errorf("the message did not clear the line:\n%s", all)
	}
	// A signal within 2 s of the last broadcast is absorbed...
	ar.frames = nil
	clock.advance(1900 * time.Millisecond)
	sendFrame(t, bs, map[string]string{"typing": "1"})
	if all := marker(t, cs, ar, "marker two"); strings.Contains(all, `<p id="typing"`) {
		t.Errorf("a signal within 2 s was told:\n%s", all)
	}
	// ...and one 2 s after it is told.
	clock.advance(100 * time.Millisecond)
	ar.frames, br.frames = nil, nil
	sendFrame(t, bs, map[string]string{"typing": "1"})
	ar.until("bob typing again", func(a string) bool { return strings.Contains(a, typingLine("bob is typing…")) })
	sendFrame(t, cs, map[string]string{"typing": "1"})
	ar.until("two typing", func(a string) bool { return strings.Contains(a, typingLine("bob and carol are typing…")) })
	br.until("carol typing, for bob", func(a string) bool { return strings.Contains(a, typingLine("carol is typing…")) })
	cr.until("bob typing, for carol", func(a string) bool { return strings.Contains(a, typingLine("bob is typing…")) })
	// A joiner gets the line after the snapshot.
	dave := h.User("dave")
	dr := newReader(t, apptest.Dial(t, dave, "general"))
	dr.until("the line", func(a string) bool { return strings.Contains(a, typingLine("bob and carol are typing…")) })
	sendFrame(t, as, map[string]string{"typing": "1"})
	dr.until("three typing", func(a string) bool { return strings.Contains(a, typingLine("several people are typing…")) })
	br.until("two others typing, for bob", func(a string) bool { return strings.Contains(a, typingLine("carol and alice are typing…")) })
}

func TestTypingExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *harnessConfig) {
		c.chat = func(cc *chat.Config) { cc.TypingExpiry = 300 * time.Millisecond }
	})
	alice, bob := h.User("alice"), h.User("bob")
	as, bs := apptest.Dial(t, alice, "general"), apptest.Dial(t, bob, "general")
	ar := newReader(t, as)
	ar.until("bob", func(a string) bool { return strings.Contains(a, "bob joined") })
	ar.frames = nil
	start := time.Now()
	// Any value says so, and the frame never posts.
	if err := bs.WriteMessage(websocket.TextMessage, []byte(`{"typing": true, "message": "not posted"}`)); err != nil {
		t.Fatal(err)
	}
	ar.until("bob typing", func(a string) bool { return strings.Contains(a, typingLine("bob is typing…")) })
	all := ar.until("the line cleared", func(a string) bool { return strings.HasSuffix(a, typingLine("")) })
	if d := time.Since(start); d < 300*time.Millisecond || strings.Contains(all, "<li") || strings.Contains(all, "not posted") {
		t.Errorf("cleared after %v, frames:\n%s", d, all)
	}
	if chat.DefaultConfig().TypingExpiry != 6*time.Second || chat.DefaultConfig().TypingThrottle != 2*time.Second {
		t.Error("the product's typing expiry is 6 s, its throttle 2 s")
	}
}

func TestMentions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.User("root")
	alice, bob, carol := h.User("alice"), h.User("bob"), h.User("carol")
	as := apptest.Dial(t, alice, "general")
	ar := newReader(t, as)
	bs := apptest.Dial(t, bob, "programming") // bob is elsewhere
	br := newReader(t, bs)
	cs := apptest.Dial(t, carol, "general") // carol is here
	cr := newReader(t, cs)
	br.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	cr.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	bobID, carolID := fmt.Sprint(userID(t, h, "bob")), fmt.Sprint(userID(t, h, "carol"))

	seq := postAndSeq(t, as, ar, "hi @BOB and @carol, not @nobody or `@bob` or bob@example.com", "bob@example.com")
	all := cr.until("the message", func(a string) bool { return strings.Contains(a, "bob@example.com") })
	want := `hi <span class="mention rounded bg-indigo-50 px-0.5 font-medium text-indigo-800 dark:bg-indigo-950 dark:text-indigo-200" data-mention="` + bobID + `">@bob</span> and ` +
		`<span class="mention rounded bg-indigo-50 px-0.5 font-medium text-indigo-800 dark:bg-indigo-950 dark:text-indigo-200" data-mention="` + carolID + `">@carol</span>, not @nobody or <code`
	if !strings.Contains(all, want) || strings.Count(all, "data-mention=") != 2 {
		t.Errorf("mentions rendered:\n%s\nwant\n%s", all, want)
	}
	// Bob, connected elsewhere only, is told there; carol, here, is not.
	notice := `<div id="notices" hx-swap-oob="afterbegin"><p data-notice="mention" role="status" class="`
	got := br.until("the notice", func(a string) bool { return strings.Contains(a, `data-notice="mention"`) })
	if !strings.Contains(got, notice) || !strings.Contains(got, `alice mentioned you in #general. <a href="/rooms/general#msg-`+seq+`" class="font-medium underline">See the message</a>`) {
		t.Errorf("bob's notice:\n%s", got)
	}
	if all := marker(t, as, cr, "after"); strings.Contains(all, "data-notice") {
		t.Errorf("carol, in the room, got a notice:\n%s", all)
	}
	// An edit tells only the newly mentioned.
	sendFrame(t, as, map[string]string{"edit": seq, "message": "hi @bob"})
	cr.until("the edit", func(a string) bool { return strings.Contains(a, `data-edited`) })
	if all := marker(t, bs, br, "bob here"); strings.Count(all, `data-notice="mention"`) != 1 {
		t.Errorf("bob was told twice:\n%s", all)
	}
}

// A frame may name its message by a JSON number as well as by the string
// htmx sends: a script that writes {"edit": 3} edits message 3.
func TestFramesTakeNumbers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := newPair(t, h)
	seq := postAndSeq(t, p.as, p.ar, "first draft")
	for _, step := range []struct{ frame, want string }{
		{`{"edit": ` + seq + `, "message": "second draft"}`, "second draft</div>"},
		{`{"react": ` + seq + `, "emoji": "🎉"}`, `data-emoji="🎉" data-count="1"`},
		{`{"delete": ` + seq + `}`, `">message deleted</li>`},
	} {
		if err := p.as.WriteMessage(websocket.TextMessage, []byte(step.frame)); err != nil {
			t.Fatal(err)
		}
		p.br.until(step.frame, func(a string) bool { return strings.Contains(a, step.want) })
	}
}

// Outsiders of a private room get a missing room's 404 on every message
// route, whatever the message.
func TestPrivateRoomMessageRoutesAre404(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	root, alice := h.User("root"), h.User("alice") // root is an admin, and an outsider too
	wantRedirect(t, submit(t, alice, "/rooms", "/rooms", url.Values{"name": {"hush"}, "private": {"1"}}), "/rooms/hush")
	as := apptest.Dial(t, alice, "hush")
	seq := postAndSeq(t, as, newReader(t, as), "private words")
	unknown := get(t, root, "/rooms/no-such-room/messages/1/edit")
	for _, action := range []string{"edit", "delete", "reactions"} {
		path := "/rooms/hush/messages/" + seq + "/" + action
		res := get(t, root, path)
		if res.Status != http.StatusNotFound || withoutCSRF(res.Body) != withoutCSRF(unknown.Body) || strings.Contains(res.Body, "private words") {
			t.Errorf("GET %s by an outsider: %d\n%s", path, res.Status, res.Body)
		}
		res = post(t, root, path, url.Values{"message": {"x"}, "emoji": {"👍"}, "csrf": {client.CSRF(get(t, root, "/rooms").Body)}})
		if res.Status != http.StatusNotFound {
			t.Errorf("POST %s by an outsider: %d", path, res.Status)
		}
	}
	// Nothing was changed: alice still sees her words.
	wantPage(t, get(t, alice, "/rooms/hush"), http.StatusOK, "private words")
}

// Each refusal of a frame comes back to its sender, in words, and the
// socket stays open; the rate limits answer the first refusal in a row.
func TestActionFrameRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *harnessConfig) {
		c.chat = func(cc *chat.Config) { cc.EditBurst, cc.EditRate, cc.ReactBurst, cc.ReactRate = 1, 0.001, 1, 0.001 }
	})
	p := newPair(t, h)
	seq := postAndSeq(t, p.as, p.ar, "target")
	for i, tt := range []struct{ frame, want string }{
		{`{"edit": true, "message": "x"}`, "This message could not be read; reload the page and try again."},
		{`{"edit": 1.5, "message": "x"}`, "That message is no longer in the room."},
		{`{"edit": "` + seq + `"}`, "This message could not be read; reload the page and try again."},
		{`{"edit": "` + seq + `", "message": " "}`, "A message needs some text; to remove it, delete it."},
		{`{"edit": "-1", "message": "x"}`, "That message is no longer in the room."},
		{`{"react": "` + seq + `"}`, "Choose one emoji."},
		{`{"delete": "x"}`, "That message is no longer in the room."},
		{`{"HEADERS": {"HX-Request": "true"}}`, "This message could not be read; reload the page and try again."},
		{`{"edit": "` + seq + `", "message": "one"}`, ""}, // the one edit of the bucket
		{`{"edit": "` + seq + `", "message": "two"}`, "You are editing too fast; wait a moment and try again."},
		{`{"react": "` + seq + `", "emoji": "👍"}`, ""},
		{`{"react": "` + seq + `", "emoji": "👍"}`, "Too many reactions at once; wait a moment."},
	} {
		p.ar.frames = nil
		if err := p.as.WriteMessage(websocket.TextMessage, []byte(tt.frame)); err != nil {
			t.Fatal(err)
		}
		all := marker(t, p.as, p.ar, "after frame "+strconv.Itoa(i))
		got := ""
		if i := strings.Index(all, `<p id="message-error"`); i >= 0 {
			got = all[i:]
			got = got[strings.Index(got, ">")+1 : strings.Index(got, "</p>")]
		}
		if got != tt.want {
			t.Errorf("%s: refusal %q, want %q", tt.frame, got, tt.want)
		}
	}
}
