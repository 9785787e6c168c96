package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/app"
	"natter/app/apptest"
	"natter/chat"
	"natter/client"
)

// member signs name up on s and opens a socket to the room slug: the
// client, the socket and a reader of what it receives.
func member(t *testing.T, s *apptest.Server, name, slug string) (*client.Client, *client.Socket, *reader) {
	t.Helper()
	c := s.User(name)
	sock := apptest.Dial(t, c, slug)
	return c, sock, newReader(t, sock)
}

// reader collects everything a socket receives.
type reader struct {
	t      *testing.T
	s      *client.Socket
	frames []string
	err    error
}

func newReader(t *testing.T, s *client.Socket) *reader { return &reader{t: t, s: s} }

// until reads frames until the text received so far matches, or fails.
func (r *reader) until(what string, match func(all string) bool) string {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !match(r.all()) {
		r.s.SetReadDeadline(deadline)
		_, b, err := r.s.ReadMessage()
		if err != nil {
			r.err = err
			r.t.Fatalf("waiting for %s: %v\nreceived: %s", what, err, r.all())
		}
		r.frames = append(r.frames, string(b))
	}
	return r.all()
}

func (r *reader) all() string { return strings.Join(r.frames, "") }

// closeCode reads until the server closes the socket and returns the code.
func (r *reader) closeCode() int {
	r.t.Helper()
	r.s.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, b, err := r.s.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if ok := asClose(err, &ce); ok {
				return ce.Code
			}
			r.t.Fatalf("socket ended without a close frame: %v", err)
		}
		r.frames = append(r.frames, string(b))
	}
}

func asClose(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

var msgText = regexp.MustCompile(`<div class="msg-text[^"]*">([^<]*)</div>`)

// texts lists the message texts in received frames, in order.
func texts(all string) []string {
	var out []string
	for _, m := range msgText.FindAllStringSubmatch(all, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestTwoMembersReceiveEachMessageOnceInOrder(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	alice, bob, carol := s.User("alice"), s.User("bob"), s.User("carol")
	as, bs := apptest.Dial(t, alice, "general"), apptest.Dial(t, bob, "general")
	cs := apptest.Dial(t, carol, "programming")
	ar, br, cr := newReader(t, as), newReader(t, bs), newReader(t, cs)
	ar.until("bob's join", func(a string) bool { return strings.Contains(a, "bob joined") })
	br.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members" hx-swap-oob="innerHTML"`) })

	for i := 1; i <= 5; i++ {
		if err := as.SendMessage(fmt.Sprintf("hello %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"hello 1", "hello 2", "hello 3", "hello 4", "hello 5"}
	for name, r := range map[string]*reader{"alice": ar, "bob": br} {
		got := texts(r.until("five messages", func(a string) bool { return len(texts(a)) >= 5 }))
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s received %q, want %q", name, got, want)
		}
	}
	// Carol, in another room, got her snapshot and nothing of General.
	cr.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	if err := cs.SendMessage("only programming"); err != nil {
		t.Fatal(err)
	}
	got := cr.until("her own message", func(a string) bool { return len(texts(a)) >= 1 })
	if tx := texts(got); len(tx) != 1 || tx[0] != "only programming" || strings.Contains(got, "hello") {
		t.Errorf("carol in programming received %q", tx)
	}
}

func TestMessagesArriveEscaped(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	_, as, ar := member(t, s, "alice", "general")
	as.SendMessage(`<script>alert(1)</script> & "quotes"`)
	all := ar.until("the message", func(a string) bool { return len(texts(a)) == 1 })
	if tx := texts(all)[0]; tx != `&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;` {
		t.Errorf("text = %q", tx)
	}
	if strings.Contains(all, "<script>") {
		t.Error("raw <script> reached the socket")
	}
}

func TestUpgradeRefusals(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	alice := s.User("alice")
	anon, _ := client.New(s.BaseURL())
	host := strings.TrimPrefix(s.BaseURL(), "http://")

	tests := []struct {
		name   string
		cookie string
		origin string
		want   int
	}{
		{"anonymous", "", s.BaseURL(), http.StatusUnauthorized},
		{"other origin", alice.CookieHeader(), "https://evil.example", http.StatusForbidden},
		{"null origin", alice.CookieHeader(), "null", http.StatusForbidden},
		{"no origin", alice.CookieHeader(), "", http.StatusForbidden},
		{"sibling port", alice.CookieHeader(), "http://127.0.0.1:1", http.StatusForbidden},
		{"forged session", "natter_session=attacker123", s.BaseURL(), http.StatusUnauthorized},
	}
	_ = anon
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if tt.cookie != "" {
				h.Set("Cookie", tt.cookie)
			}
			conn, res, err := websocket.DefaultDialer.Dial("ws://"+host+"/rooms/general/ws", h)
			if err == nil {
				conn.Close()
				t.Fatal("upgrade accepted")
			}
			if res == nil || res.StatusCode != tt.want {
				t.Fatalf("status = %v, want %d", res, tt.want)
			}
		})
	}
}

func TestReconnectSnapshotHoldsHistory(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.RoomGrace = 5 * time.Second }))
	alice, bob := s.User("alice"), s.User("bob")
	as := apptest.Dial(t, alice, "team-x")
	ar := newReader(t, as)
	bs := apptest.Dial(t, bob, "team-x")
	ar.until("bob", func(a string) bool { return strings.Contains(a, "bob joined") })
	bs.Close()
	as.SendMessage("while you were away")
	ar.until("echo", func(a string) bool { return len(texts(a)) == 1 })

	bs2 := apptest.Dial(t, bob, "team-x")
	br := newReader(t, bs2)
	first := br.until("snapshot", func(a string) bool { return strings.Contains(a, "while you were away") })
	if !strings.HasPrefix(first, `<ol id="messages" hx-swap-oob="innerHTML" data-epoch="`) {
		t.Errorf("first frame is not a replacing snapshot: %.80s", first)
	}
	if n := strings.Count(first, "while you were away"); n != 1 {
		t.Errorf("message appears %d times in the snapshot", n)
	}
	// A reconnect inside the grace period is not a leave and a join.
	if strings.Contains(first, "bob left") || strings.Count(first, "bob joined") != 1 {
		t.Errorf("reconnect produced presence notices: %s", first)
	}
}

func TestLimitsAnswerWithErrorFragment(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.MessageRate = 1; c.MessageBurst = 2 }))
	_, as, ar := member(t, s, "alice", "general")

	as.SendMessage(strings.Repeat("é", 2001))
	got := ar.until("length error", func(a string) bool { return strings.Contains(a, `id="message-error"`) })
	if !strings.Contains(got, "Messages can have at most 2,000 characters; this one has 2,001.") {
		t.Errorf("no length error: %s", got)
	}
	as.SendMessage(strings.Repeat("é", 2000)) // exactly the limit: accepted
	as.SendMessage("   ")                     // empty after trimming: ignored
	as.SendMessage("two")
	as.SendMessage("three")
	got = ar.until("rate error", func(a string) bool { return strings.Contains(a, chatRateText) })
	if n := len(texts(got)); n != 2 {
		t.Errorf("%d messages delivered before the rate limit, want 2", n)
	}
	as.WriteMessage(websocket.TextMessage, []byte(`{"message": 42}`))
	got = ar.until("bad frame error", func(a string) bool { return strings.Contains(a, "could not be read") })
}

var chatRateText = "You are sending messages too fast; wait a moment and try again."

func TestInvalidUTF8ClosesOnlyThatSocket(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	alice, bob := s.User("alice"), s.User("bob")
	as, bs := apptest.Dial(t, alice, "general"), apptest.Dial(t, bob, "general")
	ar, br := newReader(t, as), newReader(t, bs)
	ar.until("bob", func(a string) bool { return strings.Contains(a, "bob joined") })
	br.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })

	bs.WriteMessage(websocket.TextMessage, []byte("{\"message\": \"\xff\xfe\"}"))
	if code := br.closeCode(); code != chat.CloseInvalidPayload {
		t.Errorf("close code %d, want 1007", code)
	}
	as.SendMessage("still here")
	got := ar.until("alice's message", func(a string) bool { return len(texts(a)) == 1 })
	if strings.Contains(got, "\ufffd") {
		t.Error("the invalid frame reached another member")
	}
}

func TestSignOutClosesSockets(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	alice, _, ar := member(t, s, "alice", "general")
	ar.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	res, err := alice.Submit("/rooms", "/logout", nil)
	if err != nil || res.Status != http.StatusSeeOther || res.Location != "/login" {
		t.Fatalf("logout: %v %+v", err, res)
	}
	if code := ar.closeCode(); code != chat.ClosePolicyViolation {
		t.Errorf("close code %d, want 1008", code)
	}
}

func TestShutdownSends1012(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	_, _, ar := member(t, s, "alice", "general")
	ar.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop() }()
	if code := ar.closeCode(); code != chat.CloseServiceRestart {
		t.Errorf("close code %d, want 1012", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestPostWithoutSocket(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	alice, bob := s.User("alice"), s.User("bob")
	bs := apptest.Dial(t, bob, "general")
	br := newReader(t, bs)
	br.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })

	res, err := alice.Submit("/rooms/general", "/rooms/general/messages", url.Values{"message": {"from a plain form"}})
	if err != nil || res.Status != http.StatusSeeOther || res.Location != "/rooms/general" {
		t.Fatalf("form post: %v %+v", err, res)
	}
	page, _ := alice.Get("/rooms/general")
	req, _ := http.NewRequest(http.MethodPost, alice.URL("/rooms/general/messages"), strings.NewReader("message=from+htmx"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-Csrf-Token", client.CSRF(page.Body))
	res, err = alice.Do(req)
	if err != nil || res.Status != http.StatusNoContent {
		t.Fatalf("htmx post: %v %+v", err, res)
	}
	got := texts(br.until("both", func(a string) bool { return len(texts(a)) == 2 }))
	if strings.Join(got, "|") != "from a plain form|from htmx" {
		t.Errorf("bob received %q", got)
	}
}

func TestFrameRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind int
		data []byte
		code int
	}{
		{"binary frame", websocket.BinaryMessage, []byte(`{"message":"hi"}`), 1003},
		{"frame over the read limit", websocket.TextMessage, []byte(`{"message":"` + strings.Repeat("a", 40*1024) + `"}`), websocket.CloseMessageTooBig},
	}
	s := apptest.Start(t)
	alice := s.User("alice")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Offer compression: the server must not take it up.
			as, err := alice.Dial("general", &websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer as.Close()
			if ext := as.Response.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
				t.Errorf("compression negotiated: %q", ext)
			}
			ar := newReader(t, as)
			ar.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
			as.WriteMessage(tt.kind, tt.data)
			if code := ar.closeCode(); code != tt.code {
				t.Errorf("close code %d, want %d", code, tt.code)
			}
		})
	}
}

func TestFloodIsAnsweredOnceThenClosed(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.MessageRate = 0.001; c.MessageBurst = 1 }))
	_, as, ar := member(t, s, "alice", "general")
	ar.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	as.SendMessage("the burst")
	ar.until("the message", func(a string) bool { return len(texts(a)) == 1 })
	as.SendMessage("one too many")
	ar.until("the refusal", func(a string) bool { return strings.Contains(a, chatRateText) })
	// Closing drops what is still queued, so the flood starts only once
	// the first refusal has arrived; later refusals are not answered.
	for i := 0; i < 250; i++ {
		if err := as.SendMessage(fmt.Sprint("flood ", i)); err != nil {
			break // the server may close before we finish
		}
	}
	if code := ar.closeCode(); code != chat.ClosePolicyViolation {
		t.Errorf("close code %d, want 1008", code)
	}
	if n := strings.Count(ar.all(), chatRateText); n != 1 {
		t.Errorf("%d rate-limit fragments, want 1", n)
	}
	if n := len(texts(ar.all())); n != 1 {
		t.Errorf("%d messages delivered, want 1 (the burst)", n)
	}
}

func TestPostWithoutSocketRefusals(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.MessageRate = 1; c.MessageBurst = 1 }))
	alice := s.User("alice")
	tests := []struct {
		message string
		status  int
		text    string
	}{
		{strings.Repeat("x", 2001), http.StatusUnprocessableEntity, "Messages can have at most 2,000 characters; this one has 2,001."},
		{"first", http.StatusSeeOther, ""},
		{"second, too soon", http.StatusTooManyRequests, "You are sending messages too fast; wait a moment and try again."},
	}
	for _, tt := range tests {
		res, err := alice.Submit("/rooms/general", "/rooms/general/messages", url.Values{"message": {tt.message}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != tt.status || !strings.Contains(res.Body, tt.text) {
			t.Errorf("post %.20q: status %d, want %d with %q", tt.message, res.Status, tt.status, tt.text)
		}
	}
}
