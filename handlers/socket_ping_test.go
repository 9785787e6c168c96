package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"natter/chat"
	"natter/client"
)

// pongWait is the short pong wait of these tests: PingPeriod is left at
// its default (50 s), which chat must lower below it.
const pongWait = 300 * time.Millisecond

// pingHarness starts a server with the short pong wait and returns it
// with alice's socket in general, closed when the test ends.
func pingHarness(t *testing.T) (*harness, *client.Socket) {
	h := newHarness(t, func(c *harnessConfig) {
		c.chat = func(cc *chat.Config) { cc.PongWait = pongWait }
	})
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	as, err := alice.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	return h, as
}

// A quiet member whose browser answers pings keeps the room open past the
// pong wait: the writer pings within it, so a message sent after the
// silence still arrives.
func TestQuietSocketThatAnswersPingsStaysOpen(t *testing.T) {
	h, as := pingHarness(t)
	// The client answers pings while it reads (the websocket package's
	// default ping handler); it reads everything into frames.
	frames := make(chan string, 64)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := as.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			frames <- string(b)
		}
	}()
	select {
	case err := <-readErr:
		t.Fatalf("the quiet socket ended after %v of silence: %v\nlog:\n%s", 3*pongWait, err, h.Log.String())
	case <-time.After(3 * pongWait):
	}
	if err := as.WriteJSON(map[string]string{"message": "still here"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.After(5 * time.Second); ; {
		select {
		case f := <-frames:
			if strings.Contains(f, "still here") {
				if strings.Contains(h.Log.String(), "socket disconnected") {
					t.Errorf("log:\n%s", h.Log.String())
				}
				return
			}
		case err := <-readErr:
			t.Fatalf("the quiet socket ended: %v\nlog:\n%s", err, h.Log.String())
		case <-deadline:
			t.Fatal(`"still here" did not come back within 5 s`)
		}
	}
}

// A peer that stops answering (nothing read, so no pong) is ended once
// the pong wait passes, and the log says why.
func TestSilentSocketEndsWithPingTimeout(t *testing.T) {
	h, _ := pingHarness(t) // alice's socket reads nothing, so sends no pong
	aliceUser, err := h.DB.UserByLogin(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	h.waitLog(5*time.Second, "socket disconnected", fmt.Sprintf("user=%d ", aliceUser.ID), `reason="ping timeout"`)
}
