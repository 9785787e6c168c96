package handlers

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"natter/db"
)

// limitQueryWait bounds a limit's query where no request context is at
// hand (the reset mail's limits run off the request path).
const limitQueryWait = 5 * time.Second

// limitSweepEvery is how often expired counts are deleted, by whichever
// request finds the last sweep that old.
const limitSweepEvery = 5 * time.Minute

// sharedLimits counts the limits in the shared database (db.CountEvent:
// one atomic upsert a request), so they hold across every node. A
// database error refuses: the sign-in limits answer with the error page,
// the reset mail is not sent (its form answers alike), and a recent
// address is not known, so nothing is let through that the limits would
// stop.
type sharedLimits struct {
	db  *db.DB
	log *slog.Logger
	// made numbers the limiters in the order routes makes them, the same
	// on every node, so that each counts under its own keys (the two
	// reset limits share a key function but count apart).
	made  atomic.Int64
	swept atomic.Int64 // Unix seconds of the last sweep
}

// limiter is Fiber's sliding-window limiter with cfg (Next, Max,
// Expiration, KeyGenerator, SkipFailedRequests, SkipSuccessfulRequests,
// LimitReached), counting in the database. As Fiber's, it counts a request
// before it runs and takes the count back after it when the response is
// of the kind skipped, so that requests at once cannot all pass.
func (l *sharedLimits) limiter(cfg limiter.Config) fiber.Handler {
	prefix := "limit" + strconv.FormatInt(l.made.Add(1), 10) + ":"
	maxText := strconv.Itoa(cfg.Max)
	return func(c *fiber.Ctx) error {
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}
		n, err := l.count(c.UserContext(), prefix+cfg.KeyGenerator(c), cfg.Expiration)
		if err != nil {
			return err
		}
		resetIn := strconv.Itoa(int(math.Ceil(n.ResetIn.Seconds())))
		remaining := cfg.Max - n.Rate
		if remaining < 0 {
			c.Set(fiber.HeaderRetryAfter, resetIn)
			return cfg.LimitReached(c)
		}
		err = c.Next()
		status := c.Response().StatusCode()
		if (cfg.SkipSuccessfulRequests && status < fiber.StatusBadRequest) ||
			(cfg.SkipFailedRequests && status >= fiber.StatusBadRequest) {
			if uerr := l.db.UncountEvent(c.UserContext(), n); uerr != nil {
				l.log.Error("rate limit: taking back a count", "err", uerr)
			} else {
				remaining++
			}
		}
		c.Set("X-RateLimit-Limit", maxText)
		c.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		c.Set("X-RateLimit-Reset", resetIn)
		return err
	}
}

// count counts an event, and now and then deletes the expired counts.
func (l *sharedLimits) count(ctx context.Context, key string, window time.Duration) (db.EventCount, error) {
	n, err := l.db.CountEvent(ctx, key, window)
	now, last := time.Now().Unix(), l.swept.Load()
	if err == nil && now-last >= int64(limitSweepEvery/time.Second) && l.swept.CompareAndSwap(last, now) {
		if _, serr := l.db.DeleteExpiredLimits(ctx); serr != nil {
			l.log.Error("rate limit: deleting expired counts", "err", serr)
		}
	}
	return n, err
}

// window is windowLimit's counterpart: at most max events per key in a
// sliding window.
func (l *sharedLimits) window(name string, max int, window time.Duration) eventLimit {
	return &sharedWindow{l: l, prefix: name + ":", max: max, window: window}
}

// recent is recentSet's counterpart.
func (l *sharedLimits) recent(name string, ttl time.Duration) recentKeys {
	return &sharedRecent{l: l, prefix: name + ":", ttl: ttl}
}

type sharedWindow struct {
	l      *sharedLimits
	prefix string
	max    int
	window time.Duration
}

func (w *sharedWindow) allow(key string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), limitQueryWait)
	defer cancel()
	n, err := w.l.count(ctx, w.prefix+key, w.window)
	if err != nil {
		w.l.log.Error("rate limit: counting", "limit", w.prefix, "err", err)
		return false
	}
	return n.Rate <= w.max
}

func (w *sharedWindow) count(key string) int {
	ctx, cancel := context.WithTimeout(context.Background(), limitQueryWait)
	defer cancel()
	n, err := w.l.db.EventRate(ctx, w.prefix+key, w.window)
	if err != nil {
		w.l.log.Error("rate limit: reading a count", "limit", w.prefix, "err", err)
	}
	return n
}

type sharedRecent struct {
	l      *sharedLimits
	prefix string
	ttl    time.Duration
}

func (r *sharedRecent) add(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), limitQueryWait)
	defer cancel()
	if err := r.l.db.RememberKey(ctx, r.prefix+key, r.ttl); err != nil {
		r.l.log.Error("rate limit: remembering", "limit", r.prefix, "err", err)
	}
}

func (r *sharedRecent) has(key string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), limitQueryWait)
	defer cancel()
	ok, err := r.l.db.Remembered(ctx, r.prefix+key)
	if err != nil {
		r.l.log.Error("rate limit: looking up", "limit", r.prefix, "err", err)
	}
	return ok
}
