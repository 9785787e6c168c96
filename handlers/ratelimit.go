package handlers

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"natter/db"
)

// The limits that guard accounts (sign-in, sign-up, reset) must hold for
// the whole site. On one node (SQLite) they count in this process, as
// below; with PostgreSQL, which every node shares, they count there
// (ratelimit_shared.go), and so does every HTTP limit rateLimiter makes,
// so that an attacker gains nothing by spreading guesses over the nodes.
// The per-user message rate in rooms stays per node (chat's own).

// eventLimit counts events per key: windowLimit in memory, sharedWindow
// in PostgreSQL.
type eventLimit interface {
	// allow counts one event for key and reports whether it is within
	// the limit.
	allow(key string) bool
	// count returns how many events key has in its current window.
	count(key string) int
}

// recentKeys remembers keys for a while: recentSet in memory, sharedRecent
// in PostgreSQL.
type recentKeys interface {
	add(key string)
	has(key string) bool
}

// accountLimits makes the sign-in, reset and known-address limits, in
// memory or, when the database is shared, in it.
func (s *server) accountLimits() {
	if s.DB.Shared() {
		s.shared = &sharedLimits{db: s.DB, log: s.Log}
		s.resetLimit = s.shared.window("reset-mail", 5, time.Hour)
		s.resetIPLimit = s.shared.window("reset-ip", 30, time.Hour)
		s.knownSignIns = s.shared.recent("known-sign-in", knownSignInTTL)
		s.loginFailures = s.shared.window("login-failures", accountFailures, slowdownWindow)
		return
	}
	s.resetLimit = newWindowLimit(5, time.Hour)
	s.resetIPLimit = newWindowLimit(30, time.Hour)
	s.knownSignIns = newRecentSet(knownSignInTTL, knownSignInMax)
	s.loginFailures = newWindowLimit(accountFailures, slowdownWindow)
}

// rateLimiter is Fiber's limiter middleware with cfg, counting in memory, or
// in the shared database (sharedLimiter) when there is one.
func (s *server) rateLimiter(cfg limiter.Config) fiber.Handler {
	if s.shared != nil {
		return s.shared.limiter(cfg)
	}
	return limiter.New(cfg)
}

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

// limit is a Fiber limiter whose refusals get the 429 page. With
// onlyFailures set, only responses of 400 and above count (failed sign-ins).
func (s *server) limit(max int, window time.Duration, onlyFailures bool, key func(*fiber.Ctx) string) fiber.Handler {
	return s.limitUnless(nil, max, window, onlyFailures, key)
}

// limitUnless is limit for the requests for which skip (if not nil) is
// false; the others pass uncounted.
func (s *server) limitUnless(skip func(*fiber.Ctx) bool, max int, window time.Duration, onlyFailures bool, key func(*fiber.Ctx) string) fiber.Handler {
	return s.rateLimiter(limiter.Config{
		Next:                   skip,
		Max:                    max,
		Expiration:             window,
		KeyGenerator:           key,
		SkipSuccessfulRequests: onlyFailures,
		LimiterMiddleware:      limiter.SlidingWindow{},
		LimitReached: func(c *fiber.Ctx) error {
			retry, _ := strconv.Atoi(c.GetRespHeader(fiber.HeaderRetryAfter))
			return s.tooManyRequests(c, retry)
		},
	})
}

// byIP keys a limiter on the client address (its /64 for IPv6).
func byIP(prefix string) func(*fiber.Ctx) string {
	return func(c *fiber.Ctx) string { return prefix + ":" + limitKey(clientAddr(c)) }
}

// Sign-in throttling. Failed sign-ins count per address (20 in 15 min),
// per account from one address (5 in 15 min), and per account from
// everywhere (accountFailures an hour). The hard limit is keyed on account
// and address, so an attacker's failures from other addresses never lock
// the owner out of their own address; the account-wide ceiling is high
// enough that reaching it takes many addresses, and caps guesses against
// one account at accountFailures an hour however many addresses join in.
// Even then an address the account signed in from in the last
// knownSignInTTL is exempt from that ceiling (not from the others).
const (
	accountFailures = 100
	knownSignInTTL  = 30 * 24 * time.Hour
	knownSignInMax  = 100_000
)

// The account-wide slowdown: from the slowdownAfter-th failed sign-in of
// an account within slowdownWindow, from any addresses, every further
// attempt on it waits before it is answered, doubling from
// Config.SlowdownStep up to Config.SlowdownMax, right password or not (the wait must not tell). It
// throttles guessing from many addresses long before the hourly ceiling,
// while the owner is only slowed, never locked out, and not even slowed
// from an address they signed in from lately.
const (
	slowdownAfter  = 5
	slowdownWindow = 15 * time.Minute
)

// signInDelay is how long this sign-in attempt waits before it is checked.
func (s *server) signInDelay(c *fiber.Ctx) time.Duration {
	n := s.loginFailures.count(s.byAccount(c))
	if n < slowdownAfter || s.knownSignIn(c) {
		return 0
	}
	d := s.cfg.SlowdownStep << min(n-slowdownAfter, 10)
	return min(d, s.cfg.SlowdownMax)
}

// knownSignIn reports whether the account named in the form signed in from
// this address lately, which exempts it from the account-wide ceiling.
func (s *server) knownSignIn(c *fiber.Ctx) bool {
	return s.knownSignIns.has(s.byAccountAndIP(c))
}

// byAccount keys a limiter on the account named in the form, so guesses
// against one account are slowed whatever address they come from and
// whether they name it by user name or by address. A name with no account
// is keyed on its folded spelling, so it throttles the same way.
func (s *server) byAccount(c *fiber.Ctx) string {
	if k, ok := c.Locals(localAccountKey).(string); ok {
		return k
	}
	login := db.FoldKey(c.FormValue("username"))
	if len(login) > maxEmail {
		login = login[:maxEmail]
	}
	k := "login-name:" + login
	if u, err := s.DB.UserByLogin(c.UserContext(), login); err == nil {
		k = "login-account:" + strconv.FormatInt(u.ID, 10)
	}
	c.Locals(localAccountKey, k)
	return k
}

// localAccountKey caches byAccount's key (one account look-up a request).
const localAccountKey = "natter.login_account"

// byAccountAndIP keys a limiter on the account named in the form together
// with the client address.
func (s *server) byAccountAndIP(c *fiber.Ctx) string {
	return s.byAccount(c) + "@" + limitKey(clientAddr(c))
}

// Sign-up limits, per client address. Successful sign-ups and failed
// attempts count apart, so that a team behind one NAT address, typos and
// all, never meets them in an afternoon: 50 colleagues are under
// signUpsPerHour, and failedSignUps in 15 minutes is far more than people
// retyping a password make, yet it stops a script trying names.
const (
	signUpsPerHour = 60
	failedSignUps  = 30
)

// signUpLimit limits sign-ups per address: successes (counting only
// responses under 400) or failures (only 400 and above).
func (s *server) signUpLimit(max int, window time.Duration, successes bool) fiber.Handler {
	prefix := "register-failed"
	if successes {
		prefix = "register-ok"
	}
	return s.rateLimiter(limiter.Config{
		Next:                   s.invitedSignUp,
		Max:                    max,
		Expiration:             window,
		KeyGenerator:           byIP(prefix),
		SkipFailedRequests:     successes,
		SkipSuccessfulRequests: !successes,
		LimiterMiddleware:      limiter.SlidingWindow{},
		LimitReached: func(c *fiber.Ctx) error {
			retry, _ := strconv.Atoi(c.GetRespHeader(fiber.HeaderRetryAfter))
			return s.tooManyRequests(c, retry)
		},
	})
}

// invitedSignUp reports whether a sign-up comes with an invitation that
// works, which the sign-up limits exempt: whoever was invited was asked to
// come. A made-up or spent token is no exemption.
func (s *server) invitedSignUp(c *fiber.Ctx) bool {
	t := c.FormValue("invite")
	return looksLikeToken(t) && s.DB.CheckInvitation(c.UserContext(), t) == nil
}
