package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"natter/cluster"
	"natter/internal/natstest"
)

// testLease is the lease in these tests: short, so that an expiry is
// quick to see.
const testLease = time.Second

// owning is one node's connection and room leases, with what its
// callbacks were told, as text ("lost x", "owner x b", "owner x -").
type owning struct {
	name   string
	conn   *cluster.Conn
	owners *cluster.Owners
	events *registry
}

// startOwners starts a node's leases; also, if set, is called with each
// change of owner too.
func startOwners(t *testing.T, url, name string, also ...func(slug, owner string)) *owning {
	t.Helper()
	conn, log := connectNode(t, url, name)
	n := &owning{name: name, conn: conn, events: newRegistry()}
	var err error
	n.owners, err = cluster.NewOwners(context.Background(), conn, name, cluster.OwnersOptions{
		Lease:  testLease,
		OnLost: func(slug string) { n.events.record("lost " + slug) },
		OnOwner: func(slug, owner string) {
			for _, f := range also {
				f(slug, owner)
			}
			if owner == "" {
				owner = "-"
			}
			n.events.record("owner " + slug + " " + owner)
		},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.owners.Close(context.Background()) })
	return n
}

func (n *owning) claim(t *testing.T, slug string) string {
	t.Helper()
	owner, err := n.owners.Claim(context.Background(), slug)
	if err != nil {
		t.Fatalf("%s claims %s: %v", n.name, slug, err)
	}
	return owner
}

func (n *owning) owner(t *testing.T, slug string) string {
	t.Helper()
	owner, err := n.owners.Owner(context.Background(), slug)
	if err != nil {
		t.Fatalf("%s asks the owner of %s: %v", n.name, slug, err)
	}
	return owner
}

// waitEvent waits until the node was told want; it fails after 5 s.
func (n *owning) waitEvent(t *testing.T, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q on %s", want, n.name), func() bool {
		n.events.mu.Lock()
		defer n.events.mu.Unlock()
		return slices.Contains(n.events.calls, want)
	})
}

func (n *owning) calls() []string {
	n.events.mu.Lock()
	defer n.events.mu.Unlock()
	return slices.Clone(n.events.calls)
}

// Three nodes claiming the same rooms at once: each room gets exactly one
// owner, and every node is told the same one.
func TestClaimRaceHasOneWinner(t *testing.T) {
	srv := natstest.Start(t)
	nodes := []*owning{startOwners(t, srv.URL(), "a"), startOwners(t, srv.URL(), "b"), startOwners(t, srv.URL(), "c")}
	const rooms = 20
	answers := make([][]string, len(nodes))
	for i := range nodes {
		answers[i] = make([]string, rooms)
	}
	for r := range rooms {
		// The nodes set off together for each room.
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				<-start
				answers[i][r] = n.claim(t, fmt.Sprintf("room-%d", r))
			})
		}
		close(start)
		wg.Wait()
	}
	wins := map[string]int{}
	for r := range rooms {
		slug := fmt.Sprintf("room-%d", r)
		winner := answers[0][r]
		for i, n := range nodes {
			if answers[i][r] != winner {
				t.Errorf("%s: %s was told %s owns it, a was told %s", slug, n.name, answers[i][r], winner)
			}
			if got := n.owners.Holds(slug); got != (n.name == winner) {
				t.Errorf("%s: %s Holds = %v, owner %s", slug, n.name, got, winner)
			}
		}
		if got := nodes[1].owner(t, slug); got != winner {
			t.Errorf("%s: Owner = %q, claims said %q", slug, got, winner)
		}
		wins[winner]++
	}
	if len(wins) < 2 {
		// With 20 rooms claimed in parallel by 3 nodes, one node winning
		// every race means the claims did not overlap at all.
		t.Logf("one node won every room: %v", wins)
	}
	for _, n := range nodes {
		for r := range rooms {
			n.waitEvent(t, fmt.Sprintf("owner room-%d %s", r, answers[0][r]))
		}
		for _, c := range n.calls() {
			if c[:4] == "lost" {
				t.Errorf("%s: %s", n.name, c)
			}
		}
	}
}

// A node that dies (its connection gone, nothing released) keeps its
// rooms for the lease: others cannot claim them before it expires, are
// told when it does, and then one claims the room. The dead node itself
// stops counting itself the owner before the lease could expire.
func TestLeaseOfADeadNodeExpires(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwners(t, srv.URL(), "a")
	b := startOwners(t, srv.URL(), "b")
	if got := a.claim(t, "general"); got != "a" {
		t.Fatalf("a claims general: owner %s", got)
	}
	// Renewals keep it past its first lease.
	time.Sleep(2 * testLease)
	if got := b.claim(t, "general"); got != "a" {
		t.Fatalf("b claims general while a renews it: owner %s", got)
	}
	if got := a.calls(); slices.Contains(got, "lost general") {
		t.Fatalf("a lost general while connected: %q", got)
	}

	killed := time.Now()
	cluster.Kill(a.conn)
	if got := b.claim(t, "general"); got != "a" {
		t.Errorf("b claims general at once after a died: owner %s, want a until the lease expires", got)
	}
	a.waitEvent(t, "lost general")
	if lostAfter := time.Since(killed); lostAfter > testLease {
		t.Errorf("a gave general up %v after it died, later than the lease (%v)", lostAfter, testLease)
	}
	if a.owners.Holds("general") {
		t.Error("a still holds general")
	}
	b.waitEvent(t, "owner general -")
	if gone := time.Since(killed); gone < testLease*3/4 {
		t.Errorf("the lease was gone %v after a died, before its lease (%v) ran out", gone, testLease)
	}
	if got := b.claim(t, "general"); got != "b" {
		t.Fatalf("b claims general after a's lease expired: owner %s", got)
	}
	b.waitEvent(t, "owner general b")
	if got := b.calls(); slices.Contains(got, "lost general") {
		t.Errorf("b: %q", got)
	}
}

// A released room, and every room of a node that closes, is claimable at
// once by another node; the node that released is not told it lost them.
func TestReleasedRoomIsClaimableAtOnce(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwners(t, srv.URL(), "a")
	b := startOwners(t, srv.URL(), "b")
	for _, slug := range []string{"general", "programming", "team"} {
		if got := a.claim(t, slug); got != "a" {
			t.Fatalf("a claims %s: owner %s", slug, got)
		}
	}
	if err := a.owners.Release(context.Background(), "general"); err != nil {
		t.Fatal(err)
	}
	if a.owners.Holds("general") {
		t.Error("a holds general after releasing it")
	}
	if got := b.claim(t, "general"); got != "b" {
		t.Errorf("b claims general right after a released it: owner %s", got)
	}
	// Releasing what it does not hold (any more) does nothing.
	if err := a.owners.Release(context.Background(), "general"); err != nil {
		t.Errorf("a releases general again: %v", err)
	}
	if got := a.owner(t, "general"); got != "b" {
		t.Errorf("after a second release by a, general's owner is %q, want b", got)
	}

	if err := a.owners.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"programming", "team"} {
		if got := b.claim(t, slug); got != "b" {
			t.Errorf("b claims %s right after a closed: owner %s", slug, got)
		}
	}
	if _, err := a.owners.Claim(context.Background(), "other"); err != cluster.ErrClosed {
		t.Errorf("a claims after Close: %v, want ErrClosed", err)
	}
	for _, c := range a.calls() {
		if c[:4] == "lost" {
			t.Errorf("a was told %q after releasing", c)
		}
	}
	// b saw each room lose its owner, then get b.
	for _, want := range []string{"owner general -", "owner general b", "owner team -", "owner team b"} {
		b.waitEvent(t, want)
	}
}

// When a room's key says another node owns it (however that came about),
// the node that held it is told at once, not at its next renewal.
func TestLossIsSeenByTheWatch(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwners(t, srv.URL(), "a")
	if got := a.claim(t, "general"); got != "a" {
		t.Fatalf("a claims general: owner %s", got)
	}
	kv, err := rawJS(t, srv.URL()).KeyValue(context.Background(), "natter_rooms")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := kv.Status(context.Background()); err != nil || st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Storage != jetstream.MemoryStorage {
		t.Errorf("the bucket of leases is not in memory (%v)", err)
	}
	if _, err := kv.Put(context.Background(), "general", []byte(`{"node":"z"}`)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.waitEvent(t, "lost general")
	if d := time.Since(start); d > testLease/4 {
		t.Errorf("a was told after %v, not before its next renewal (%v)", d, testLease/4)
	}
	a.waitEvent(t, "owner general z")
	if a.owners.Holds("general") {
		t.Error("a still holds general")
	}
	if got := a.claim(t, "general"); got != "z" {
		t.Errorf("a claims general: owner %s, want z", got)
	}
}

// Names that are not Natter slugs are refused before they reach NATS.
func TestClaimRefusesBadNames(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwners(t, srv.URL(), "a")
	for _, slug := range []string{"", "a.b", "a*", ">", "a b", "Room", "x/y"} {
		if _, err := a.owners.Claim(context.Background(), slug); err == nil || err.Error() != fmt.Sprintf("cluster: bad room name %q", slug) {
			t.Errorf("Claim(%q) = %v", slug, err)
		}
	}
}
