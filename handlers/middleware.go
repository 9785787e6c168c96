package handlers

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
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
	// A private room's invitation link admits whoever holds it.
	if i := strings.Index(strings.ToLower(p), "/join/"); i > 0 && strings.HasPrefix(strings.ToLower(p), "/rooms/") {
		return p[:i] + "/join/[token]"
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

// requestWait bounds the database's part of a request: the context of
// every query a handler runs ends after it (as the session store's
// statements do after theirs), so that a database that stops answering
// gets a 503 rather than holding requests and the pool's connections for
// good. It leaves room for a password hash's wait (password.DefaultMaxWait).
const requestWait = 10 * time.Second

// withDeadline gives the request's handlers a context that ends after
// requestWait. The error handler, which runs once they have returned,
// gets the context from before: the error page renders with it.
func withDeadline(c *fiber.Ctx) error {
	parent := c.UserContext()
	ctx, cancel := context.WithTimeout(parent, requestWait)
	c.SetUserContext(ctx)
	err := c.Next()
	cancel()
	c.SetUserContext(parent)
	return err
}

// noStore keeps pages with personal data out of caches.
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
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
