package handlers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"natter/password"
	"natter/views"
)

// errorHandler is the one place errors become responses. Errors that carry
// a status (fiber.Error) are the user's to see; anything else is internal:
// logged once with the request id, and shown as a friendly 500 page.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	status := fiber.StatusInternalServerError
	heading := "Something went wrong on our side"
	detail := "The error has been logged. Please try again in a moment."
	logMsg := "internal error"
	var fe *fiber.Error
	if errors.Is(err, password.ErrBusy) {
		// Forms that hash show their own busy page; this is the rest.
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(busyRetryAfter))
		c.Set(fiber.HeaderCacheControl, "no-store")
		return render(c, fiber.StatusServiceUnavailable, views.ErrorPage(s.page(c, "The server is busy"),
			fiber.StatusServiceUnavailable, "The server is busy", msgBusy, ""))
	}
	if s.DB.WriteFault(err) {
		// A full disk or a read-only file: the server's trouble, and
		// passing. The log gets it at error level below.
		status = fiber.StatusServiceUnavailable
		heading = "The server cannot save right now"
		detail = "Nothing was lost on your side. Please try again in a moment."
		logMsg = "database cannot be written"
		c.Set(fiber.HeaderRetryAfter, "10")
	} else if errors.As(err, &fe) {
		status = fe.Code
		switch status {
		case fiber.StatusNotFound:
			heading, detail = "Page not found", "There is nothing at this address. Check the link, or start again from the rooms."
		case fiber.StatusMethodNotAllowed:
			heading, detail = "Not allowed", "This address does not accept that kind of request."
		case fiber.StatusRequestEntityTooLarge:
			heading, detail = "Too much data", "The form you sent was larger than this server accepts."
		case fiber.StatusRequestHeaderFieldsTooLarge:
			heading, detail = "Request too large", "Your browser sent more headers or cookies than this server accepts. Clearing this site's cookies may help."
		case fiber.StatusBadRequest:
			heading, detail = "That did not work", fe.Message
			if requestID(c) == "" {
				// fasthttp refused the request before any handler ran; its
				// message is parser internals, for the log only.
				s.Log.Info("bad request", "err", fe.Message, "ip", c.IP())
				detail = "The server could not read this request."
			}
		default:
			heading, detail = "That did not work", fe.Message
			if status >= 500 {
				heading, detail = "Something went wrong on our side", "Please try again in a moment."
			}
		}
	}
	id := ""
	if status >= 500 {
		id = requestID(c)
		s.Log.Error(logMsg, "err", err, "method", c.Method(), "path", logPath(c), "request_id", id)
	}
	// fasthttp's refusals (400, 413, 431) come here without passing any
	// middleware: they need the security headers too.
	s.setSecurityHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, status, views.ErrorPage(s.page(c, heading), status, heading, detail, id))
}

// forbidden answers a request that failed the CSRF or origin check.
//
// A CSRF token goes missing from a session that could not be saved: while
// session writes fail, that refusal is the server's fault, not an expired
// form, and the fault is returned for the error handler to answer.
func (s *server) forbidden(c *fiber.Ctx, reason string) error {
	if reason == reasonNoToken {
		if err := s.sessionFault(); err != nil {
			return fmt.Errorf("csrf token not stored: %w", err)
		}
	}
	s.Log.Warn("request refused", "reason", reason, "method", c.Method(), "path", logPath(c), "ip", clientIP(c), "request_id", requestID(c))
	p := s.page(c, "Request refused")
	heading, detail := "This form has expired",
		"For your safety the request was refused: the page it came from was too old, or it came from another site. Go back, reload the page and try again."
	// A form sent from a page of this server opened at another address (a
	// name that reaches the same server) carries that Origin, and the
	// browser says it is this page's own (same-origin). Without that word
	// the Origin may be another site's, not an address to send anyone to.
	if o := c.Get(fiber.HeaderOrigin); p.WrongAddress == "" && o != "" && !s.originAllowed(o) && c.Get("Sec-Fetch-Site") == "same-origin" {
		p.WrongAddress = s.wrongAddress(c, strings.ToLower(o))
	}
	if p.WrongAddress != "" {
		heading, detail = "Natter is set up for another address",
			"For your safety, forms are accepted only from the address Natter is set up for. Open "+s.origin+" and try again."
	}
	return render(c, fiber.StatusForbidden, views.ErrorPage(p, fiber.StatusForbidden, heading, detail, ""))
}

// tooManyRequests answers a request over a rate limit.
func (s *server) tooManyRequests(c *fiber.Ctx, retryAfter int) error {
	s.Log.Warn("rate limited", "method", c.Method(), "path", logPath(c), "ip", clientIP(c), "request_id", requestID(c))
	if retryAfter <= 0 {
		retryAfter = 60
	}
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfter))
	return render(c, fiber.StatusTooManyRequests, views.ErrorPage(s.page(c, "Too many attempts"), fiber.StatusTooManyRequests,
		"Too many attempts", "Please wait "+waitText(retryAfter)+" and try again.", ""))
}

func waitText(seconds int) string {
	switch {
	case seconds <= 1:
		return "a second"
	case seconds < 90:
		return strconv.Itoa(seconds) + " seconds"
	default:
		return strconv.Itoa((seconds+59)/60) + " minutes"
	}
}

// notFound is the last handler: nothing matched.
func notFound(c *fiber.Ctx) error {
	return fiber.ErrNotFound
}

// msgBusy is shown, with Retry-After, when every password-hashing slot
// stayed busy for the Hasher's longest wait (a sign-in storm): better a
// clear "try again" at once than a spinner that ends in a timeout.
const msgBusy = "The server is busy right now. Please try again in a few seconds."

// busyRetryAfter is the Retry-After of that answer, in seconds.
const busyRetryAfter = 5

// serverBusy answers 503 with page, which shows msgBusy and keeps what was
// typed.
func (s *server) serverBusy(c *fiber.Ctx, page templ.Component) error {
	s.Log.Warn("password hashing busy", "method", c.Method(), "path", logPath(c), "ip", clientIP(c), "request_id", requestID(c))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(busyRetryAfter))
	return render(c, fiber.StatusServiceUnavailable, page)
}
