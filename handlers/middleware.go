package handlers

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"

	"natter/db"
)

// requestIDs tags every request with an id that logs and error pages share.
func requestIDs() fiber.Handler {
	return requestid.New(requestid.Config{Generator: utils.UUIDv4})
}

// recoverPanics turns a panic in a handler into a 500 page; the error
// handler logs it with its stack.
func recoverPanics() fiber.Handler {
	return recover.New(recover.Config{EnableStackTrace: true})
}

// logRequests writes one line per request. Sockets are logged by their
// handler, with their own lifetime.
//
// It also resolves the client's address first, so that every limit and log
// line of the request uses the same one.
func (s *server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	c.Locals(localClientAddr, resolveClient(peerAddr(c), c.Request().Header.PeekAll(fiber.HeaderXForwardedFor), s.proxies))
	err := c.Next()
	if err != nil {
		// Let the error handler set the status before the line is written.
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	s.Log.Info("request",
		"method", c.Method(),
		"path", logPath(c),
		"status", c.Response().StatusCode(),
		"duration", time.Since(start).Round(time.Microsecond).String(),
		"ip", clientIP(c),
		"request_id", requestID(c),
	)
	return nil
}

// logPath is the request path as the log may show it. A reset link's token
// works like a password for an hour, so it is masked: the token must not
// reach logs, any more than Referer headers (which the redirect to
// resetPath keeps it out of).
func logPath(c *fiber.Ctx) string {
	const prefix = "/password/reset/"
	p := c.Path()
	// Routing ignores letter case, so the mask does too.
	if len(p) > len(prefix) && strings.EqualFold(p[:len(prefix)], prefix) && p != resetPath {
		return prefix + "[token]"
	}
	return p
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	return id
}

// securityHeaders sets the content security policy and friends on every
// response. Scripts come only from /assets (htmx runs with allowEval off and
// no inline indicator styles), sockets only to this origin.
func (s *server) securityHeaders() fiber.Handler {
	ws := "ws://" + s.base.Host
	if s.secure {
		ws = "wss://" + s.base.Host
	}
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src 'self' " + ws,
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
	return helmet.New(helmet.Config{
		ContentSecurityPolicy: csp,
		// same-origin keeps Referer on our own POSTs, which Fiber's CSRF
		// check demands over https, and sends none elsewhere.
		ReferrerPolicy:            "same-origin",
		HSTSMaxAge:                31536000,
		CrossOriginEmbedderPolicy: "unsafe-none",
		PermissionPolicy:          "camera=(), microphone=(), geolocation=()",
	})
}

// noStore keeps pages with personal data out of caches.
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// sameOrigin refuses unsafe requests that a browser marks as coming from
// another site (Origin or Sec-Fetch-Site), before any form is read: the
// Fetch Metadata defence that Go's http.CrossOriginProtection uses, on top
// of the CSRF token.
func (s *server) sameOrigin(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if site := c.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return s.forbidden(c, "cross-site request")
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" && o != s.origin {
		return s.forbidden(c, "origin "+o)
	}
	return c.Next()
}

// csrfProtection checks the token of every unsafe request: from the
// X-Csrf-Token header (htmx) or the csrf form field. Tokens live in the
// session; the cookie is the double-submit half.
func (s *server) csrfProtection() fiber.Handler {
	cookie := "csrf_"
	if s.secure {
		cookie = "__Host-csrf_"
	}
	return csrf.New(csrf.Config{
		Next: func(c *fiber.Ctx) bool {
			// Socket upgrades and the lobby's polling are reads that need no
			// token and should not rewrite the session on every tick.
			p := c.Path()
			return strings.HasSuffix(p, "/ws") || p == "/rooms/list" || p == "/healthz"
		},
		Session:        s.sessions,
		CookieName:     cookie,
		CookieSecure:   s.secure,
		CookieHTTPOnly: true,
		CookieSameSite: fiber.CookieSameSiteLaxMode,
		Expiration:     s.cfg.SessionIdle,
		ContextKey:     localCSRF,
		KeyGenerator:   newSessionID,
		Extractor: func(c *fiber.Ctx) (string, error) {
			if t := c.Get("X-Csrf-Token"); t != "" {
				return t, nil
			}
			if t := c.FormValue("csrf"); t != "" {
				return t, nil
			}
			return "", csrf.ErrTokenNotFound
		},
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return s.forbidden(c, err.Error())
		},
	})
}

// csrfToken is the request's CSRF token for forms and htmx headers.
func csrfToken(c *fiber.Ctx) string {
	t, _ := c.Locals(localCSRF).(string)
	return t
}

// requireUser sends visitors to the sign-in page, remembering where they
// were going.
func requireUser(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return c.Next()
	}
	if c.Get("HX-Request") == "true" {
		// An htmx request (the lobby's polling) would swap the sign-in page
		// into a fragment; ask htmx to load it as a page instead.
		c.Set("HX-Redirect", "/login")
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	if c.Method() != fiber.MethodGet {
		return fiber.NewError(fiber.StatusUnauthorized, "Sign in first.")
	}
	return c.Redirect("/login?next="+url.QueryEscape(string(c.Request().URI().RequestURI())), fiber.StatusSeeOther)
}

// limit is a Fiber limiter whose refusals get the 429 page. With
// onlyFailures set, only responses of 400 and above count (failed sign-ins).
func (s *server) limit(max int, window time.Duration, onlyFailures bool, key func(*fiber.Ctx) string) fiber.Handler {
	return s.limitUnless(nil, max, window, onlyFailures, key)
}

// limitUnless is limit for the requests for which skip (if not nil) is
// false; the others pass uncounted.
func (s *server) limitUnless(skip func(*fiber.Ctx) bool, max int, window time.Duration, onlyFailures bool, key func(*fiber.Ctx) string) fiber.Handler {
	return limiter.New(limiter.Config{
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
	return limiter.New(limiter.Config{
		Next:                   invitedSignUp,
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

// invitedSignUp reports whether a sign-up comes with an invitation, which
// the sign-up limits exempt: whoever was invited was asked to come. There
// are no invitations yet (the private-rooms issue brings them); this is
// the one place to recognise one.
func invitedSignUp(c *fiber.Ctx) bool { return false }
