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
