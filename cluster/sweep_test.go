package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"natter/cluster"
	"natter/internal/natstest"
)

// testGrace is the rooms' grace period in the sweep's tests.
const testGrace = 2 * time.Second

// sweeper is a node that sweeps: its leases and its view of the stream.
type sweeper struct {
	*owning
	history *cluster.History
	opts    cluster.SweepOptions
}

func startSweeper(t *testing.T, url, name string) *sweeper {
	t.Helper()
	return &sweeper{
		owning:  startOwners(t, url, name),
		history: openHistory(t, url, name+"-history", cluster.HistoryOptions{}),
		opts:    cluster.SweepOptions{Grace: testGrace, Rooms: []string{"general"}},
	}
}

// sweep runs one round and returns the rooms it purged, sorted.
func (s *sweeper) sweep(t *testing.T) []string {
	t.Helper()
	swept, err := s.owners.SweepOnce(s.history, s.opts)
	if err != nil {
		t.Fatalf("%s sweeps: %v", s.name, err)
	}
	slices.Sort(swept)
	return swept
}

// entries is room slug's history as a node taking it over loads it.
func (s *sweeper) entries(t *testing.T, slug string) string {
	t.Helper()
	_, got := openRoom(t, s.history, slug)
	return got
}

// orphan writes a history for each room (settings, then two messages;
// no settings for general, a permanent room) on a node that holds them,
// then kills it; it returns once node watcher saw the leases expire.
func orphan(t *testing.T, url string, watcher *owning, slugs ...string) {
	t.Helper()
	dying := startOwners(t, url, "dying")
	h := openHistory(t, url, "dying-history", cluster.HistoryOptions{})
	for _, slug := range slugs {
		if got := dying.claim(t, slug); got != "dying" {
			t.Fatalf("the dying node claims %s: owner %s", slug, got)
		}
		r, _ := openRoom(t, h, slug)
		if slug != "general" {
			if err := r.PutSettings(context.Background(), []byte("settings")); err != nil {
				t.Fatal(err)
			}
		}
		put(t, r, 1, "hello")
		put(t, r, 2, "world")
	}
	cluster.Kill(dying.conn)
	for _, slug := range slugs {
		watcher.waitEvent(t, "owner "+slug+" -")
	}
}

// The history of a room whose holder died, and that nobody took over, is
// purged one grace period after its lease expired, not before; the room
// is free afterwards. A room held by a live node is never swept.
func TestSweepPurgesOrphanedHistories(t *testing.T) {
	srv := natstest.Start(t)
	b := startSweeper(t, srv.URL(), "b")
	live := startSweeper(t, srv.URL(), "live")
	if got := live.claim(t, "kept"); got != "live" {
		t.Fatalf("live claims kept: owner %s", got)
	}
	r, _ := openRoom(t, live.history, "kept")
	if err := r.PutSettings(context.Background(), []byte("settings")); err != nil {
		t.Fatal(err)
	}
	put(t, r, 1, "still here")

	orphan(t, srv.URL(), b.owning, "den", "general")
	expired := time.Now()
	if got := b.sweep(t); len(got) != 0 {
		t.Fatalf("swept %q as soon as the leases expired", got)
	}
	time.Sleep(time.Until(expired.Add(testGrace - 500*time.Millisecond)))
	if got := b.sweep(t); len(got) != 0 {
		t.Fatalf("swept %q before the grace period was over", got)
	}
	for _, slug := range []string{"den", "general"} {
		want := "1:hello 2:world"
		if slug == "den" {
			want = "0:settings " + want
		}
		if got := b.entries(t, slug); got != want {
			t.Errorf("%s during the grace period: %q, want %q", slug, got, want)
		}
	}

	time.Sleep(time.Until(expired.Add(testGrace)))
	if got := b.sweep(t); !slices.Equal(got, []string{"den", "general"}) {
		t.Fatalf("swept %q after the grace period, want den and general", got)
	}
	for _, slug := range []string{"den", "general"} {
		if got := b.entries(t, slug); got != "" {
			t.Errorf("%s after the sweep: %q, want nothing", slug, got)
		}
		if got := b.owner(t, slug); got != "" {
			t.Errorf("%s after the sweep is held by %q, want nobody", slug, got)
		}
	}
	if got := b.entries(t, "kept"); got != "0:settings 1:still here" {
		t.Errorf("kept, held by a live node: %q", got)
	}
	if !live.owners.Holds("kept") {
		t.Error("live lost kept")
	}
}

// A room claimed during its grace period keeps every entry; released
// again (its holder stopped), its grace starts again.
func TestSweepSparesRoomClaimedDuringGrace(t *testing.T) {
	srv := natstest.Start(t)
	b := startSweeper(t, srv.URL(), "b")
	c := startSweeper(t, srv.URL(), "c")
	orphan(t, srv.URL(), b.owning, "den")
	b.sweep(t) // den found with no owner

	time.Sleep(testGrace / 2)
	if got := c.claim(t, "den"); got != "c" {
		t.Fatalf("c claims den: owner %s", got)
	}
	if got := c.entries(t, "den"); got != "0:settings 1:hello 2:world" {
		t.Fatalf("c takes den over: %q", got)
	}
	b.waitEvent(t, "owner den c")
	time.Sleep(testGrace)
	if got := b.sweep(t); len(got) != 0 {
		t.Fatalf("swept %q while c holds den", got)
	}

	if err := c.owners.Release(context.Background(), "den"); err != nil {
		t.Fatal(err)
	}
	b.waitEvent(t, "owner den -")
	released := time.Now() // b's watch saw it by now
	if got := b.sweep(t); len(got) != 0 {
		t.Fatalf("swept %q at once after c released den", got)
	}
	if got := b.entries(t, "den"); got != "0:settings 1:hello 2:world" {
		t.Fatalf("den after c released it: %q", got)
	}
	time.Sleep(time.Until(released.Add(testGrace)))
	if got := b.sweep(t); !slices.Equal(got, []string{"den"}) {
		t.Fatalf("swept %q one grace after c released den, want den", got)
	}
}

// A node claiming a room while it is swept never loses what it loaded:
// either it holds the room first, and the sweep leaves it, or it finds
// the sweeper holding it (and would relay to it), or it claims it after
// the sweep, empty.
func TestSweepRacedByAClaim(t *testing.T) {
	srv := natstest.Start(t)
	b := startSweeper(t, srv.URL(), "b")
	c := startSweeper(t, srv.URL(), "c")
	b.opts.Grace = 0
	var slugs []string
	for i := range 12 {
		slugs = append(slugs, fmt.Sprintf("room%d", i))
	}
	orphan(t, srv.URL(), b.owning, slugs...) // b saw the leases expire

	// c claims each room, and loads it if it won, as b sweeps it.
	loaded := make(map[string]string)
	var mu sync.Mutex
	claim := func(slug string, delay time.Duration) {
		time.Sleep(delay)
		ctx := context.Background()
		owner, err := c.owners.Claim(ctx, slug)
		if err != nil || owner != "c" {
			return
		}
		_, entries, err := c.history.Open(ctx, slug)
		if err != nil {
			t.Errorf("c loads %s: %v", slug, err)
		}
		mu.Lock()
		loaded[slug] = entriesText(entries)
		mu.Unlock()
	}
	i := 0
	b.opts.Exclusive = func(slug string, sweep func()) {
		delay := time.Duration(i%3) * time.Millisecond
		i++
		var wg sync.WaitGroup
		wg.Go(func() { claim(slug, delay) })
		sweep()
		wg.Wait()
	}
	swept := b.sweep(t)
	for _, slug := range slugs {
		held := c.owners.Holds(slug)
		got := b.entries(t, slug)
		switch {
		case held && got != loaded[slug]:
			t.Errorf("%s: c holds it and loaded %q, but the stream holds %q", slug, loaded[slug], got)
		case !held && got != "":
			t.Errorf("%s: nobody holds it, and it kept %q", slug, got)
		case held && got != "" && got != "0:settings 1:hello 2:world":
			t.Errorf("%s: c holds it with part of its history: %q", slug, got)
		}
	}
	kept := 0
	for _, got := range loaded {
		if got != "" {
			kept++
		}
	}
	t.Logf("swept %d of %d rooms; c claimed %d, %d of them with their history", len(swept), len(slugs), len(loaded), kept)
}

// Two nodes sweeping at once purge every orphaned history, leave no lease
// behind and no error.
func TestTwoSweepersAtOnce(t *testing.T) {
	srv := natstest.Start(t)
	b := startSweeper(t, srv.URL(), "b")
	c := startSweeper(t, srv.URL(), "c")
	slugs := []string{"one", "two", "three", "four", "five", "general"}
	orphan(t, srv.URL(), b.owning, slugs...)
	for _, s := range slugs {
		c.waitEvent(t, "owner "+s+" -")
	}
	b.sweep(t)
	c.sweep(t)
	time.Sleep(testGrace)
	var wg sync.WaitGroup
	var byB, byC []string
	var errB, errC error
	wg.Go(func() { byB, errB = b.owners.SweepOnce(b.history, b.opts) })
	wg.Go(func() { byC, errC = c.owners.SweepOnce(c.history, c.opts) })
	wg.Wait()
	if errB != nil || errC != nil {
		t.Errorf("sweeping at once: b %v, c %v", errB, errC)
	}
	all := append(slices.Clone(byB), byC...)
	for _, slug := range slugs {
		if !slices.Contains(all, slug) {
			t.Errorf("%s swept by neither (b %q, c %q)", slug, byB, byC)
		}
		if got := b.entries(t, slug); got != "" {
			t.Errorf("%s after both sweeps: %q", slug, got)
		}
		if got := b.owner(t, slug); got != "" {
			t.Errorf("%s is held by %s after the sweeps", slug, got)
		}
	}
	t.Logf("b swept %q, c swept %q", byB, byC)
}
