package handlers

import (
	"crypto/subtle"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
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

// securityHeaders builds the header set every response carries: the
// content security policy and friends. Scripts come only from /assets
// (htmx runs with allowEval off and no inline indicator styles), sockets
// only to this origin (and its loopback names when no base URL is set).
func (s *server) securityHeaders() [][2]string {
	var ws []string
	for _, o := range s.origins {
		// CSP sources cannot name IPv6 literals; 'self' covers the page's
		// own ws origin in current browsers, [::1] included.
		if !strings.Contains(o, "://[") {
			ws = append(ws, "ws"+strings.TrimPrefix(o, "http"))
		}
	}
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src 'self' " + strings.Join(ws, " "),
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
	return [][2]string{
		{fiber.HeaderContentSecurityPolicy, csp},
		{fiber.HeaderXContentTypeOptions, "nosniff"},
		// frame-ancestors 'none' for browsers that predate it.
		{fiber.HeaderXFrameOptions, "DENY"},
		// same-origin keeps Referer on our own POSTs, which the CSRF check
		// demands over https, and sends none elsewhere.
		{fiber.HeaderReferrerPolicy, "same-origin"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cross-Origin-Resource-Policy", "same-origin"},
		{"Origin-Agent-Cluster", "?1"},
		{fiber.HeaderXXSSProtection, "0"},
		{"X-DNS-Prefetch-Control", "off"},
		{"X-Download-Options", "noopen"},
		{"X-Permitted-Cross-Domain-Policies", "none"},
		{fiber.HeaderPermissionsPolicy, "camera=(), microphone=(), geolocation=()"},
	}
}

// setSecurityHeaders puts the security headers on c's response. The
// middleware calls it first on every routed request, and the error handler
// again, because fasthttp's own refusals (400, 413, 431) reach the error
// handler without passing any middleware.
func (s *server) setSecurityHeaders(c *fiber.Ctx) {
	for _, h := range s.headers {
		c.Set(h[0], h[1])
	}
	if c.Protocol() == "https" {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000; includeSubDomains")
	}
}

// withSecurityHeaders is the middleware that sets them.
func (s *server) withSecurityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

// noStore keeps pages with personal data out of caches.
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// originAllowed reports whether o (scheme://host[:port], as browsers send
// it in Origin) is this site: the base URL's origin, or, when no base URL
// was configured, a loopback name of its port.
func (s *server) originAllowed(o string) bool {
	return slices.Contains(s.origins, strings.ToLower(o))
}

// requestOrigin is the origin the browser sees for this request, from the
// Host header (or the trusted proxy's X-Forwarded-Host) and scheme.
func requestOrigin(c *fiber.Ctx) string {
	return strings.ToLower(c.Protocol() + "://" + c.Hostname())
}

// wrongAddress returns the sentence that tells a person they opened Natter
// at an address its forms will not accept, or "" when the address is
// right. Each distinct wrong address is logged once.
func (s *server) wrongAddress(c *fiber.Ctx, seen string) string {
	if seen == "" {
		if c.Hostname() == "" {
			return "" // no Host (a request the server could not read)
		}
		seen = requestOrigin(c)
		if len(s.cfg.TrustedProxies) > 0 && c.Get(fiber.HeaderXForwardedProto) == "" {
			// A proxy that does not say its scheme leaves only the host to
			// compare: do not blame the visitor for the proxy's http.
			if u, err := url.Parse(seen); err == nil && slices.ContainsFunc(s.origins, func(o string) bool {
				ou, err := url.Parse(o)
				return err == nil && ou.Host == u.Host
			}) {
				return ""
			}
		}
	}
	if s.originAllowed(seen) {
		return ""
	}
	s.mismatchMu.Lock()
	first := !s.mismatchSeen[seen] && len(s.mismatchSeen) < maxMismatchLogs
	if first {
		s.mismatchSeen[seen] = true
	}
	s.mismatchMu.Unlock()
	if first {
		s.Log.Warn("opened at another address than the base URL: its forms are refused; set NATTER_BASE_URL",
			"base_url", s.origin, "opened_at", seen, "ip", c.IP())
	}
	return "Natter is set up for " + s.origin + "; you opened it at " + seen + "."
}

// maxMismatchLogs bounds the set of wrong addresses already logged: Host
// headers are the client's to choose.
const maxMismatchLogs = 100

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
	if o := c.Get(fiber.HeaderOrigin); o != "" && !s.originAllowed(o) {
		return s.forbidden(c, "origin "+o)
	}
	return c.Next()
}

// csrfCookie is the name of the cookie that repeats the session's CSRF
// token (the double-submit half).
func (s *server) csrfCookie() string {
	if s.secure {
		return "__Host-csrf_"
	}
	return "csrf_"
}

// csrfProtection checks the token of every unsafe request against the one
// the session holds (which loadUser put in the locals). The token is taken
// only from the X-Csrf-Token header (htmx) or the csrf field of the form
// body, never from the query string, where it would reach logs, history
// and Referer headers. Safe methods pass: a page that shows a form makes
// its token with formPage, so a GET without one writes nothing.
func (s *server) csrfProtection(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		return c.Next()
	}
	if c.Protocol() == "https" {
		// Over https, browsers send Referer on our own posts (see the
		// Referrer-Policy): one from elsewhere, or none, is refused.
		ref, err := url.Parse(c.Get(fiber.HeaderReferer))
		if err != nil || ref.Host == "" || !s.originAllowed(ref.Scheme+"://"+ref.Host) {
			return s.forbidden(c, "referer invalid")
		}
	}
	got := csrfFromRequest(c)
	want := csrfToken(c)
	switch {
	case got == "":
		return s.forbidden(c, reasonNoToken)
	case want == "" || !equalTokens(got, want) || !equalTokens(got, c.Cookies(s.csrfCookie())):
		return s.forbidden(c, "csrf token invalid")
	}
	return c.Next()
}

// reasonNoToken is the refusal of an unsafe request that carries no CSRF
// token: also what a session that could not be saved looks like.
const reasonNoToken = "csrf token not found"

// csrfFromRequest is the token a request carries in the X-Csrf-Token header
// or the csrf field of an urlencoded or multipart body.
func csrfFromRequest(c *fiber.Ctx) string {
	if t := c.Get("X-Csrf-Token"); t != "" {
		return t
	}
	if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEMultipartForm) {
		f, err := c.MultipartForm()
		if err != nil || len(f.Value["csrf"]) == 0 {
			return ""
		}
		return f.Value["csrf"][0]
	}
	// PostArgs are the urlencoded body only, never the query string.
	return string(c.Request().PostArgs().Peek("csrf"))
}

func equalTokens(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// csrfToken is the request's CSRF token for forms and htmx headers, or ""
// when its session holds none (a visitor on a page without a form).
func csrfToken(c *fiber.Ctx) string {
	t, _ := c.Locals(localCSRF).(string)
	return t
}

// resetFormPage is formPage for the reset form at resetPath only: a reset
// link's token redirects there (or is refused), showing no form itself.
func (s *server) resetFormPage(c *fiber.Ctx) error {
	if c.Params("token") != "set" {
		return c.Next()
	}
	return s.formPage(c)
}

// formPage gives a page that shows a form its CSRF token, creating the
// visitor's session to hold it if there is none yet. Only routes whose
// pages have a form use it, so crawlers, 404s and assets store nothing.
func (s *server) formPage(c *fiber.Ctx) error {
	if csrfToken(c) == "" {
		sess, err := s.sessions.Get(c)
		if err != nil {
			return err
		}
		fresh := sess.Fresh()
		if err := s.newCSRF(c, sess); err != nil {
			return err
		}
		if fresh && currentUser(c) == nil {
			s.trimVisitors(c)
		}
	}
	return c.Next()
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
