package chat

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldStore is a fakeStore whose Puts wait while it is held: a broker
// that stopped answering. waiting counts the Puts waiting now.
type heldStore struct {
	fakeStore
	mu      sync.Mutex
	hold    chan struct{} // closed when released; nil: not held
	waiting atomic.Int32
}

func newHeldStore() *heldStore {
	s := &heldStore{}
	s.onPut = func() {
		s.mu.Lock()
		hold := s.hold
		s.mu.Unlock()
		if hold != nil {
			s.waiting.Add(1)
			<-hold
			s.waiting.Add(-1)
		}
	}
	return s
}

// stop makes the next Puts wait until release.
func (s *heldStore) stop() {
	s.mu.Lock()
	s.hold = make(chan struct{})
	s.mu.Unlock()
}

// release lets the waiting Puts go on: failing with fail set, else
// storing.
func (s *heldStore) release(fail bool) {
	s.setFail(fail)
	s.mu.Lock()
	close(s.hold)
	s.hold = nil
	s.mu.Unlock()
}

func (s *heldStore) held() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hold != nil
}

// tokens is what alice's message bucket holds at the clock's time.
func (h *harness) tokens(clock *fakeClock, id int64) float64 {
	h.reg.mu.Lock()
	defer h.reg.mu.Unlock()
	return h.reg.users[id].limiter.TokensAt(clock.Now())
}

// The rate limit after a broker outage (docs/shared-rooms.md): alice
// posts every 150 ms, under the rate (10/s, burst 20), while her first
// post waits on a Put that hangs. Her posts that queue meanwhile are
// charged as they come, not all at once when the room is free again;
// those the broker then refuses ("Not sent") give their token back, so
// once it is back she can post a whole burst, and a post past the burst
// is still refused as too fast.
func TestRateLimitAcrossStoreOutage(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)}
	store := newHeldStore()
	h := newHarness(t, Config{Store: store, Now: clock.Now, MessageRate: 10, MessageBurst: 20})
	c := h.join("team", alice, "s1")
	t.Cleanup(func() { // before the registry closes: a failed test left it held
		if store.held() {
			store.release(true)
		}
	})

	// postsWhileHeld posts first, which hangs in the Store, and then n
	// more posts 150 ms apart, each from its own goroutine (a tab, a
	// form), which wait for the room; then the Store is released. It
	// returns each post's error, first's first.
	postsWhileHeld := func(round string, n int, fail bool) []error {
		t.Helper()
		store.stop()
		errs := make([]error, n+1)
		var posts sync.WaitGroup
		posts.Go(func() { _, errs[0] = c.Post(round + " first") })
		waitFor(t, "the first post waiting in the Store", func() bool { return store.waiting.Load() == 1 })
		for i := 1; i <= n; i++ {
			clock.Advance(150 * time.Millisecond)
			before := h.tokens(clock, alice.ID)
			posts.Go(func() { _, errs[i] = h.reg.Post("team", alice, fmt.Sprintf("%s %d", round, i)) })
			waitFor(t, fmt.Sprintf("post %d of %s charged as it came", i, round), func() bool {
				return h.tokens(clock, alice.ID) <= before-1
			})
		}
		store.release(fail)
		posts.Wait()
		return errs
	}

	// The broker hangs, then fails: every post is "Not sent", none is
	// "too fast".
	for i, err := range postsWhileHeld("lost", 30, true) {
		if err != ErrNotStored {
			t.Errorf("post %d while the broker was away: %v, want ErrNotStored", i, err)
		}
	}
	// Back at once: the refused posts cost nothing, a whole burst goes...
	store.setFail(false)
	for i := range 20 {
		if _, err := c.Post(fmt.Sprintf("back %d", i)); err != nil {
			t.Fatalf("post %d of a burst once the broker is back: %v", i, err)
		}
	}
	// ...and one more, at the same moment, is too fast.
	if _, err := c.Post("one too many"); err != ErrRateLimited {
		t.Errorf("a post past the burst: %v, want ErrRateLimited", err)
	}

	// The broker hangs, then stores: every post is sent.
	clock.Advance(2 * time.Second) // the bucket full again
	for i, err := range postsWhileHeld("kept", 30, false) {
		if err != nil {
			t.Errorf("post %d while the broker hung: %v, want it sent", i, err)
		}
	}
	puts, _ := store.got()
	if want := 1 + 20 + 31; len(puts) != want {
		t.Errorf("stored %d entries, want %d (alice's join, the burst, the 31 posts while the broker hung)", len(puts), want)
	}
	if n := strings.Count(drain(c), ":text:alice:"); n != 51 {
		t.Errorf("alice's socket got %d of her messages, want 51", n)
	}
}
