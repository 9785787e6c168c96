package handlers

import (
	"strings"
	"sync"
	"time"
)

// windowLimit allows at most max events per key in each window. It is for
// limits that must not change the response (the forgot-password form
// answers alike when over the limit), where Fiber's limiter would send 429.
type windowLimit struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	counts map[string]*windowCount
	swept  time.Time
}

type windowCount struct {
	start time.Time
	n     int
}

func newWindowLimit(max int, window time.Duration) *windowLimit {
	return &windowLimit{max: max, window: window, now: time.Now, counts: map[string]*windowCount{}}
}

// allow counts one event for key and reports whether it is within the limit.
func (l *windowLimit) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > l.window {
		// Forget finished windows so the map stays as small as the traffic.
		for k, c := range l.counts {
			if now.Sub(c.start) >= l.window {
				delete(l.counts, k)
			}
		}
		l.swept = now
	}
	c := l.counts[key]
	if c == nil || now.Sub(c.start) >= l.window {
		c = &windowCount{start: now}
		// The key may come from the request (an address); the map keeps
		// it beyond the request, so it must own its bytes.
		l.counts[strings.Clone(key)] = c
	}
	c.n++
	return c.n <= l.max
}

// count returns how many events key has in its current window.
func (l *windowLimit) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.counts[key]; c != nil && l.now().Sub(c.start) < l.window {
		return c.n
	}
	return 0
}

// recentSet remembers keys for a while: which addresses an account has
// signed in from lately, so that the account-wide sign-in ceiling, which
// an attacker with many addresses could reach, does not shut the owner
// out of an address they use. Entries expire after ttl; at most max are
// kept, so a flood of sign-ins cannot grow it without bound (when full,
// new keys are not remembered and simply get no exemption).
type recentSet struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	seen  map[string]time.Time
	swept time.Time
}

func newRecentSet(ttl time.Duration, max int) *recentSet {
	return &recentSet{ttl: ttl, max: max, now: time.Now, seen: map[string]time.Time{}}
}

// add remembers key from now on.
func (r *recentSet) add(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if len(r.seen) >= r.max || now.Sub(r.swept) > time.Hour {
		for k, at := range r.seen {
			if now.Sub(at) >= r.ttl {
				delete(r.seen, k)
			}
		}
		r.swept = now
	}
	if _, ok := r.seen[key]; ok || len(r.seen) < r.max {
		r.seen[strings.Clone(key)] = now
	}
}

// has reports whether key was added within ttl.
func (r *recentSet) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.seen[key]
	return ok && r.now().Sub(at) < r.ttl
}
