package handlers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/password"
	"natter/views"
)

// response is what an error becomes, wherever it surfaces: an error page,
// a form's message, a socket's close frame. errorResponse is the one place
// that decides it.
type response struct {
	status  int    // the HTTP status
	close   int    // the websocket close code
	heading string // the error page's heading
	// text is what the user is told: the error's own text when public,
	// else words of ours that reveal nothing of the fault.
	text string
	// public is set when the error's text is written for the user (a
	// fiber.Error under 500, a chat refusal) and may be shown as it is.
	public bool
	// retryAfter, when not 0, is the Retry-After header, in seconds.
	retryAfter int
	// logMsg, when set, is the error-level log line of a fault of ours;
	// the page then shows the request id.
	logMsg string
}

// Words of the error pages that several answers share.
const (
	headingFailed   = "That did not work"
	headingInternal = "Something went wrong on our side"
)

// errorResponse maps an error to its response, by kind:
//
//   - a chat refusal (chat.Error) is the user's to read (its Msg, without
//     what wrapped it): 429 for the rate limits, 403 for an action on a
//     message that is not the user's (chat.Denied), 404 for a message
//     that is not in the room (chat.Gone), 422 for the others, and the
//     close code chat.CloseCodeFor gives;
//   - password.ErrBusy (every hashing slot busy) is a 503 to retry soon;
//   - a database that cannot be written (db.Unavailable, see DB.WriteFault)
//     is a passing 503, logged;
//   - a fiber.Error carries its status; under 500 its text is the user's;
//   - anything else is internal: a logged 500 that shows nothing of it.
//
// The other db errors (a taken name, an invalid reset link) never get
// here as such: the forms answer them field by field (validate.go).
func (s *server) errorResponse(err error) response {
	var (
		ce *chat.Error
		fe *fiber.Error
	)
	switch {
	case errors.As(err, &ce):
		status := fiber.StatusUnprocessableEntity
		switch ce.Kind {
		case chat.RateLimited:
			status = fiber.StatusTooManyRequests
		case chat.Denied:
			status = fiber.StatusForbidden
		case chat.Gone:
			status = fiber.StatusNotFound
		}
		return response{status: status, close: chat.CloseCodeFor(ce), heading: headingFailed, text: ce.Msg, public: true}
	case errors.Is(err, password.ErrBusy):
		return response{status: fiber.StatusServiceUnavailable, close: chat.CloseTryAgainLater, heading: "The server is busy", text: msgBusy, retryAfter: busyRetryAfter}
	case s.DB.WriteFault(err):
		// A full disk or a read-only file: the server's trouble, and
		// passing.
		return response{status: fiber.StatusServiceUnavailable, close: chat.CloseTryAgainLater, heading: "The server cannot save right now",
			text: "Nothing was lost on your side. Please try again in a moment.", retryAfter: 10, logMsg: "database cannot be written"}
	case errors.As(err, &fe):
		r := response{status: fe.Code, close: chat.ClosePolicyViolation, heading: headingFailed, text: fe.Message, public: fe.Code < 500}
		switch fe.Code {
		case fiber.StatusNotFound:
			r.heading, r.text = "Page not found", "There is nothing at this address. Check the link, or start again from the rooms."
		case fiber.StatusMethodNotAllowed:
			r.heading, r.text = "Not allowed", "This address does not accept that kind of request."
		case fiber.StatusRequestEntityTooLarge:
			r.heading, r.text = "Too much data", "The form you sent was larger than this server accepts."
		case fiber.StatusRequestHeaderFieldsTooLarge:
			r.heading, r.text = "Request too large", "Your browser sent more headers or cookies than this server accepts. Clearing this site's cookies may help."
		}
		if fe.Code >= 500 {
			r.close, r.heading, r.text, r.logMsg = websocket.CloseInternalServerErr, headingInternal, "Please try again in a moment.", "internal error"
		}
		return r
	}
	return response{status: fiber.StatusInternalServerError, close: websocket.CloseInternalServerErr, heading: headingInternal,
		text: "The error has been logged. Please try again in a moment.", logMsg: "internal error"}
}

// errorHandler answers every error a handler returns with the error page
// errorResponse describes. Faults of ours are logged once, with the
// request id the page shows.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	r := s.errorResponse(err)
	if r.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(r.retryAfter))
	}
	if r.status == fiber.StatusBadRequest && requestID(c) == "" {
		// fasthttp refused the request before any handler ran; its
		// message is parser internals, for the log only.
		s.Log.Info("bad request", "err", r.text, "ip", c.IP())
		r.text = "The server could not read this request."
	}
	id := ""
	if r.logMsg != "" {
		id = requestID(c)
		s.Log.Error(r.logMsg, "err", err, "method", c.Method(), "path", logPath(c), "request_id", id)
	}
	// fasthttp's refusals (400, 413, 431) come here without passing any
	// middleware: they need the security headers too.
	s.setSecurityHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, r.status, views.ErrorPage(s.page(c, r.heading), r.status, r.heading, r.text, id))
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
func (s *server) notFound(c *fiber.Ctx) error {
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
