package handlers

import (
	"crypto/subtle"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

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
			"base_url", s.origin, "opened_at", seen, "ip", clientIP(c))
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
	if forwarded, _ := c.Context().UserValue(localForwarded).(bool); forwarded {
		// The node that took the request checked it against the same
		// base URL, which is this node's address as the browser knows it
		// only when both are behind one proxy.
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
