package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/chat"
	"natter/client"
	"natter/internal/testlog"
)

// slowMember starts a server whose sockets may queue 256 KB (writeWait,
// if not 0, is chat's WriteWait) and opens two sockets in general: the
// slow member's, with a 4 KB receive buffer and never read, so the
// server's writes soon block on a full window; and a poster's, read by a
// goroutine till it closes.
func slowMember(t *testing.T, writeWait time.Duration) (h *harness, slowSock, posterSock *client.Socket) {
	t.Helper()
	h = newHarness(t, func(c *harnessConfig) {
		c.chat = func(cc *chat.Config) {
			cc.QueueBytes = 256 << 10
			cc.MessageRate, cc.MessageBurst = 1e6, 1e6
			if writeWait > 0 {
				cc.WriteWait = writeWait
			}
		}
	})
	slow := h.signedUp("slow", "slow@example.com", "plum-kettle-orbit-42")
	poster := h.signedUp("poster", "poster@example.com", "plum-kettle-orbit-42")
	dialer := &websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		}}).DialContext,
	}
	slowSock, err := slow.Dial("general", dialer)
	if err != nil {
		t.Fatal(err)
	}
	posterSock, err = poster.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // the poster reads everything
		for {
			if _, _, err := posterSock.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return h, slowSock, posterSock
}

// A member whose socket stops reading in a busy room is evicted once the
// bytes queued for it pass the limit, and the server ends the connection
// within the write deadline of the eviction (it used to wait for a write
// deadline per megabyte-sized write), logging why.
func TestNonReadingSocketIsEvictedAndClosed(t *testing.T) {
	// The write in progress at the eviction may take WriteWait before a
	// peer that never reads is dropped.
	h, ss, ps := slowMember(t, time.Second)
	defer ss.Close()
	defer ps.Close()

	slowUser, err := h.DB.UserByLogin(context.Background(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	slowAttr := fmt.Sprintf("user=%d ", slowUser.ID)

	// Link-dense messages of 2,000 characters: about 25 KB of HTML each.
	text := strings.TrimSpace(strings.Repeat("http://a.b ", 181))
	start := time.Now()
	var evicted string
	for evicted == "" {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the non-reading socket was not evicted within 5 s")
		}
		ps.SetWriteDeadline(time.Now().Add(time.Second))
		if err := ps.WriteJSON(map[string]string{"message": text}); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(h.Log.String(), "\n") {
			if testlog.ContainsAll(line, "socket disconnected", "reason=evicted", slowAttr) {
				evicted = line
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The connection is over: what the client still has buffered ends in
	// an error (a 1013 close frame if it could be written, else the TCP
	// close), not in a wait for the read deadline.
	ss.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		_, _, err := ss.ReadMessage()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the evicted socket was still open 2 s after the log said %q", evicted)
		}
		t.Logf("client read ended with: %v", err)
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != chat.CloseTryAgainLater && ce.Code != websocket.CloseAbnormalClosure {
			t.Errorf("evicted socket closed with %d, want 1013 (or no close frame)", ce.Code)
		}
		break
	}
	if !strings.Contains(h.Log.String(), "reason=evicted") || strings.Contains(h.Log.String(), `reason="write timeout"`) {
		t.Errorf("log:\n%s", h.Log.String())
	}
}

// A member who stopped reading and is evicted, then reads again within
// the write deadline, gets the rest of the message in flight and then the
// 1013 close frame its browser reconnects on, over a real TCP connection.
func TestEvictedSocketThatReadsAgainGets1013(t *testing.T) {
	h, ss, ps := slowMember(t, 0)
	defer ss.Close()
	defer ps.Close()
	rooms := h.Deps.Rooms
	text := strings.TrimSpace(strings.Repeat("http://a.b ", 181))
	deadline := time.Now().Add(5 * time.Second)
	for rooms.Counters().Evictions["queue bytes"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the non-reading socket was not evicted within 5 s")
		}
		ps.SetWriteDeadline(time.Now().Add(time.Second))
		if err := ps.WriteJSON(map[string]string{"message": text}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Reading again, well within the 10 s write deadline.
	ss.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ss.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != chat.CloseTryAgainLater || ce.Text != "Too slow; reconnect to catch up." {
			t.Fatalf("the evicted socket's read ended with %v, want close 1013 \"Too slow; reconnect to catch up.\"", err)
		}
		break
	}
}

// Posting to a room without a socket makes the poster a member that the
// others see join, and that the room page lists.
func TestPostWithoutSocketJoinsThePoster(t *testing.T) {
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	bob := h.signedUp("bob", "bob@example.com", "plum-kettle-orbit-42")
	bs, err := bob.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	res, err := alice.Submit("/rooms/general", "/rooms/general/messages", url.Values{"message": {"hello from a form"}})
	if err != nil || res.Status != http.StatusSeeOther {
		t.Fatalf("form post: %v %+v", err, res)
	}
	var got strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for !strings.Contains(got.String(), "hello from a form") {
		d, _ := ctx.Deadline()
		bs.SetReadDeadline(d)
		_, b, err := bs.ReadMessage()
		if err != nil {
			t.Fatalf("bob's socket: %v\nreceived: %s", err, got.String())
		}
		got.Write(b)
	}
	all := got.String()
	join := strings.Index(all, "alice joined")
	if !strings.Contains(all, `data-member="alice"`) || join < 0 || join > strings.Index(all, "hello from a form") {
		t.Errorf("bob did not see alice join before her message:\n%s", all)
	}
	page, err := bob.Get("/rooms/general")
	if err != nil || page.Status != http.StatusOK {
		t.Fatalf("room page: %v", err)
	}
	if !strings.Contains(page.Body, `data-member="alice"`) || !strings.Contains(page.Body, `data-count="2"`) {
		t.Errorf("room page does not list alice as a member:\n%s", page.Body)
	}
}

// Every socket's end is logged once with why it ended.
func TestSocketEndReasonsAreLogged(t *testing.T) {
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	bob := h.signedUp("bob", "bob@example.com", "plum-kettle-orbit-42")
	as, err := alice.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := bob.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	aliceUser, _ := h.DB.UserByLogin(context.Background(), "alice")
	bobUser, _ := h.DB.UserByLogin(context.Background(), "bob")

	as.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
	as.Close()
	h.waitLog(5*time.Second, "socket disconnected", fmt.Sprintf("user=%d ", aliceUser.ID), `reason="client closed"`)

	if res, err := bob.Submit("/rooms", "/logout", nil); err != nil || res.Status != http.StatusSeeOther {
		t.Fatalf("sign out: %v %+v", err, res)
	}
	h.waitLog(5*time.Second, "socket disconnected", fmt.Sprintf("user=%d ", bobUser.ID), `reason="signed out"`)
}
