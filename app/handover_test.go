package app_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"natter/app/apptest"
	"natter/client"
	"natter/internal/natstest"
)

// noticeRE finds the presence notices of a fragment: the entry's number,
// who, and joined or left.
var noticeRE = regexp.MustCompile(`<li id="msg-(\d+)"[^>]*class="notice[^"]*">\s*<span[^>]*>\s*(\S+)\s*(joined|left)\s*</span>`)

// notices lists the presence notices in s as "seq name joined|left".
func notices(s string) []string {
	var out []string
	for _, m := range noticeRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+" "+m[2]+" "+m[3])
	}
	return out
}

// loungeOnTwoNodes starts nodes a and b and puts alice's socket (on a)
// and bob's (relayed by b) in room lounge, which a holds.
func loungeOnTwoNodes(t *testing.T) (a, b *apptest.Server, alice, bob *client.Client, onA, onB *client.Socket) {
	t.Helper()
	nodes := startCluster(t, natstest.Start(t), 2)
	a, b = nodes[0], nodes[1]
	alice, bob = a.User("alice"), b.User("bob")
	onA = joined(t, alice, "lounge") // a holds lounge now
	onB = joined(t, bob, "lounge")   // relayed by b to a
	return a, b, alice, bob, onA, onB
}

// A zero-downtime upgrade: alice (on a) and bob (relayed by b) are in a
// room a holds; a stops, b takes the room over, and both reconnect
// through b within the grace period. Nobody is announced again: each
// snapshot holds the two join notices from before and the message, no
// frame follows either, and the room page lists both members.
func TestHandoverAnnouncesNobodyAgain(t *testing.T) {
	a, b, _, bob, onA, onB := loungeOnTwoNodes(t)
	if err := onA.SendMessage("before the upgrade"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onB, "before the upgrade", 5*time.Second)

	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, reason := closeOf(t, onA, 10*time.Second); code != 1012 {
		t.Fatalf("alice's socket on a closed with %d %q, want 1012", code, reason)
	}
	if code, reason := closeOf(t, onB, 10*time.Second); code != 1012 {
		t.Fatalf("bob's socket on b closed with %d %q, want 1012", code, reason)
	}

	want := []string{"1 alice joined", "2 bob joined"}
	aliceOnB := b.SignIn("alice")
	againA := apptest.Dial(t, aliceOnB, "lounge")
	againB := apptest.Dial(t, bob, "lounge")
	for _, s := range []struct {
		name string
		sock interface {
			SetReadDeadline(time.Time) error
			ReadMessage() (int, []byte, error)
		}
	}{{"alice", againA}, {"bob", againB}} {
		s.sock.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, snap, err := s.sock.ReadMessage()
		if err != nil {
			t.Fatalf("%s reconnecting through b: %v", s.name, err)
		}
		if got := notices(string(snap)); !slices.Equal(got, want) || !strings.Contains(string(snap), "before the upgrade") {
			t.Errorf("%s's snapshot after the takeover holds the notices %q (want %q):\n%s", s.name, got, want, snap)
		}
	}
	// Whatever follows a snapshot (a join notice and the member list's
	// change would): nothing, on either socket.
	if got := readFor(t, againA, time.Second); got != "" {
		t.Errorf("alice got after her snapshot %q (notices %q), want nothing", got, notices(got))
	}
	if got := readFor(t, againB, time.Second); got != "" {
		t.Errorf("bob got after his snapshot %q (notices %q), want nothing", got, notices(got))
	}
	page, err := aliceOnB.Get("/rooms/lounge")
	if err != nil || page.Status != 200 {
		t.Fatalf("the room page on b: %v, status %d", err, page.Status)
	}
	if got := notices(page.Body); !slices.Equal(got, want) {
		t.Errorf("the room page on b holds the notices %q, want %q", got, want)
	}
}
