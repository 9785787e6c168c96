package app_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"natter/app"
	"natter/app/apptest"
	"natter/internal/natstest"
	"natter/internal/pgtest"
)

// broker is a look at what the NATS server holds of the rooms, through a
// connection of the test's own.
type broker struct {
	js jetstream.JetStream
}

func lookAtBroker(t *testing.T, srv *natstest.Server) broker {
	t.Helper()
	nc, err := nats.Connect(srv.URL(), nats.Name("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return broker{js}
}

// entries is how many entries (settings included) of room slug's history
// the stream holds.
func (b broker) entries(t *testing.T, slug string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := b.js.Stream(ctx, "natter_history")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("natter.history."+slug+".*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(info.State.Subjects)
}

// leased reports whether room slug has a lease.
func (b broker) leased(t *testing.T, slug string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := b.js.KeyValue(ctx, "natter_rooms")
	if err != nil {
		t.Fatal(err)
	}
	_, err = kv.Get(ctx, slug)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// Drill: the holder of a room is killed and nobody comes back. Node a, a
// process of its own, holds den, where alice said something; a is killed
// with SIGKILL; den's lease expires 8 s later, and one grace period after
// that (node b sweeps; its grace is 3 s) den's history is gone from the
// broker, not before. alice, joining den through b, finds a new room.
func TestDrillOrphanedHistorySwept(t *testing.T) {
	const grace = 3 * time.Second
	nats := natstest.Start(t)
	look := lookAtBroker(t, nats)
	dbURL := pgtest.URL(t)
	b := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node, c.RoomGrace = dbURL, nats.URL(), "b", grace
	}))
	b.User("alice")
	baseA, procA := startNodeProcess(t, "a", dbURL, nats)
	alice := signIn(t, baseA, "alice")
	onA := joined(t, alice, "den") // a holds den
	if err := onA.SendMessage("said before the kill"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "said before the kill", 5*time.Second)
	held := look.entries(t, "den")
	if held < 2 {
		t.Fatalf("the broker holds %d entries of den, want its settings and messages", held)
	}

	if err := procA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Second); look.leased(t, "den"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("den's lease did not expire within 20 s of a's death")
		}
	}
	expired := time.Now()
	for look.entries(t, "den") > 0 {
		if time.Since(expired) > grace+10*time.Second {
			t.Fatalf("den's history is still in the broker %s after its lease expired (grace %s)", time.Since(expired), grace)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// b's watch saw the expiry at most a moment before this test did.
	if after := time.Since(expired); after < grace-200*time.Millisecond {
		t.Fatalf("den's history was purged %s after its lease expired, before the grace period (%s)", after, grace)
	}
	t.Logf("den's %d entries purged %s after its lease expired", held, time.Since(expired).Round(100*time.Millisecond))
	if look.leased(t, "den") {
		t.Error("den is held after the sweep")
	}

	aliceOnB := signIn(t, b.URL, "alice")
	s := apptest.Dial(t, aliceOnB, "den")
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, snap, err := s.ReadMessage()
	if err != nil {
		t.Fatalf("alice joining den through b: %v", err)
	}
	if err := s.SendMessage("a new den"); err != nil {
		t.Fatal(err)
	}
	if got := string(snap) + readUntil(t, s, "a new den", 5*time.Second); strings.Contains(got, "said before the kill") {
		t.Errorf("den came back with its swept history:\n%s", got)
	}
}
