package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"natter/cluster"
	"natter/internal/natstest"
	"natter/internal/stallproxy"
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
	return startOwnersLease(t, url, name, testLease, also...)
}

// startOwnersLease is startOwners with a lease of its own.
func startOwnersLease(t *testing.T, url, name string, lease time.Duration, also ...func(slug, owner string)) *owning {
	t.Helper()
	conn, log := connectNode(t, url, name)
	n := &owning{name: name, conn: conn, events: newRegistry()}
	var err error
	n.owners, err = cluster.NewOwners(context.Background(), conn, name, cluster.OwnersOptions{
		Lease:  lease,
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

// A renewal whose answer never came (NATS stalled past the client's wait)
// but that the server applied when the stall ended leaves the lease's
// revision beyond the one the node knows: its next renewal finds "wrong
// last sequence". The node reads the key back, finds its own value, and
// keeps the lease (it was told nothing lost; it still holds the room,
// renews it, and another node is told it holds it), rather than dropping
// a room no other node can claim and then serving it without a lease.
func TestRenewalAppliedLateKeepsTheLease(t *testing.T) {
	const lease = 4 * time.Second // renewed every 1 s, each waited for 1 s
	a, b, proxy, w, renewed := holderBehindProxy(t, lease)
	// Stalled just after a renewal at t0: the renewal sent at t0+1 s gets
	// no answer by t0+2 s and is tried again (still in time); the stall
	// ends at t0+2.5 s, before that second try gives up (t0+3 s): the
	// first renewal is applied then, and the second finds the revision
	// moved.
	proxy.Stall()
	time.Sleep(2300 * time.Millisecond)
	proxy.Resume()
	late := waitEntry(t, w, func(e jetstream.KeyValueEntry) bool { return e.Revision() > renewed.Revision() })
	if got := decodeNode(t, late); got != "b" {
		t.Fatalf("the stalled renewal wrote %q", got)
	}
	// The renewals go on from the late revision.
	waitEntry(t, w, func(e jetstream.KeyValueEntry) bool { return e.Revision() > late.Revision() })
	if got := b.calls(); slices.Contains(got, "lost general") {
		t.Errorf("b was told it lost general: %q", got)
	}
	if !b.owners.Holds("general") {
		t.Error("b does not hold general")
	}
	if got := a.claim(t, "general"); got != "b" {
		t.Errorf("a claims general: owner %s, want b", got)
	}
	// And they keep it past a whole lease.
	time.Sleep(lease + lease/2)
	if got := a.claim(t, "general"); got != "b" || !b.owners.Holds("general") {
		t.Errorf("a lease later: a claims general: owner %s (b holds it: %v)", got, b.owners.Holds("general"))
	}
}

// waitEntry returns the first change of w that ok accepts; it fails
// after 5 s.
func waitEntry(t *testing.T, w jetstream.KeyWatcher, ok func(jetstream.KeyValueEntry) bool) jetstream.KeyValueEntry {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-w.Updates():
			if e != nil && ok(e) {
				return e
			}
		case <-deadline:
			t.Fatal("no such change of the bucket within 5 s")
		}
	}
}

func decodeNode(t *testing.T, e jetstream.KeyValueEntry) string {
	t.Helper()
	var v struct{ Node string }
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatalf("the lease's value %q: %v", e.Value(), err)
	}
	return v.Node
}

// A room whose lease names this node but not this process (a process of
// the node that was killed, or a renewal this process gave up on that was
// applied late): a claim takes the lease over, so that the node holds the
// room it serves; no other node could have claimed it, and none is told
// it holds it.
func TestClaimTakesBackALeaseNamingThisNode(t *testing.T) {
	srv := natstest.Start(t)
	old := startOwners(t, srv.URL(), "b")
	if got := old.claim(t, "general"); got != "b" {
		t.Fatalf("b claims general: owner %s", got)
	}
	cluster.Kill(old.conn) // its lease lives on for up to testLease
	b := startOwners(t, srv.URL(), "b")
	a := startOwners(t, srv.URL(), "a")
	if got := b.claim(t, "general"); got != "b" {
		t.Fatalf("the new b claims general: owner %s", got)
	}
	if !b.owners.Holds("general") {
		t.Fatal("the new b serves general, which it does not hold")
	}
	// Held, hence renewed: still b's past the old process's lease.
	time.Sleep(2 * testLease)
	if got := a.claim(t, "general"); got != "b" || !b.owners.Holds("general") {
		t.Errorf("a claims general: owner %s (b holds it: %v)", got, b.owners.Holds("general"))
	}
	if got := b.calls(); slices.Contains(got, "lost general") {
		t.Errorf("the new b: %q", got)
	}
}

// A node whose renewals fail until the next could come too late gives the
// room up (it is told it lost it); when the stall ends, a renewal it gave
// up on is applied, and the key names it again. Its members reconnect and
// it claims the room: it takes the lease back and holds it (renewed from
// then on), rather than answering that it holds a room it does not.
func TestGivenUpLeaseIsTakenBackByItsClaim(t *testing.T) {
	const lease = 4 * time.Second // renewed every 1 s, each waited for 1 s
	a, b, proxy, w, renewed := holderBehindProxy(t, lease)
	// A renewal at t0; stalled from t0+0.2 s: the renewals of t0+1 s and
	// t0+2 s get no answer, and at t0+3 s b gives the room up, before
	// the lease (from t0) could expire at t0+4 s. The stall ends at
	// t0+3.4 s: the first of them is applied then.
	proxy.Stall()
	b.waitEvent(t, "lost general")
	time.Sleep(400 * time.Millisecond)
	proxy.Resume()
	late := waitEntry(t, w, func(e jetstream.KeyValueEntry) bool { return e.Revision() > renewed.Revision() })
	if got := decodeNode(t, late); got != "b" {
		t.Fatalf("the stalled renewal wrote %q", got)
	}
	if b.owners.Holds("general") {
		t.Fatal("b holds general after giving it up")
	}
	if got := b.claim(t, "general"); got != "b" || !b.owners.Holds("general") {
		t.Fatalf("b claims general: owner %s (b holds it: %v)", got, b.owners.Holds("general"))
	}
	time.Sleep(lease + lease/2)
	if got := a.claim(t, "general"); got != "b" || !b.owners.Holds("general") {
		t.Errorf("a lease later: a claims general: owner %s (b holds it: %v)", got, b.owners.Holds("general"))
	}
}

// holderBehindProxy starts nodes a and b with leases of lease, b reaching
// NATS through a proxy that the test can stall, has b claim general,
// watches general's updates in the bucket and returns once b has renewed
// its lease (t0 in the tests), 200 ms later: NATS's answer to b trails the
// watch's news a little.
func holderBehindProxy(t *testing.T, lease time.Duration) (a, b *owning, proxy *stallproxy.Proxy, w jetstream.KeyWatcher, renewed jetstream.KeyValueEntry) {
	t.Helper()
	srv := natstest.Start(t)
	proxy = stallproxy.Start(t, "tcp", strings.TrimPrefix(srv.URL(), "nats://"))
	b = startOwnersLease(t, "nats://"+proxy.Addr(), "b", lease)
	a = startOwnersLease(t, srv.URL(), "a", lease)
	t.Cleanup(proxy.Resume) // before the nodes close
	if got := b.claim(t, "general"); got != "b" {
		t.Fatalf("b claims general: owner %s", got)
	}
	kv, err := rawJS(t, srv.URL()).KeyValue(context.Background(), "natter_rooms")
	if err != nil {
		t.Fatal(err)
	}
	w, err = kv.Watch(context.Background(), "general", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	select {
	case renewed = <-w.Updates():
	case <-time.After(lease):
		t.Fatal("no renewal of general")
	}
	time.Sleep(200 * time.Millisecond)
	return a, b, proxy, w, renewed
}
