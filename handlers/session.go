package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"
	"github.com/gofiber/fiber/v2/middleware/session"

	"natter/db"
)

// Session keys.
const (
	keyUserID   = "natter.user_id" // the dot matters: see sessionStorage
	keyCredVer  = "cv"
	keySignedIn = "at" // Unix time of sign-in: the absolute lifetime counts from it
	keyReset    = "reset_token"
	keyCSRF     = "csrf" // the session's CSRF token, made by the first page with a form
)

// Locals keys.
const (
	localUser      = "natter.user"
	localSessionID = "natter.sid"
	localCSRF      = "natter.csrf"
)

// sessionCookie is the session cookie's name: with https the __Host-
// prefix makes browsers refuse it unless it is Secure, host-only, Path=/.
func sessionCookie(secure bool) string {
	if secure {
		return "__Host-natter_session"
	}
	return "natter_session"
}

// newSessionID returns 32 bytes from crypto/rand, base64url: 256 bits, more
// than the 128 that OWASP asks and Fiber's default UUID gives.
func newSessionID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func newSessionStore(storage fiber.Storage, idle time.Duration, secure bool) *session.Store {
	st := session.New(session.Config{
		Storage:        storage,
		Expiration:     idle,
		KeyLookup:      "cookie:" + sessionCookie(secure),
		CookiePath:     "/",
		CookieSecure:   secure,
		CookieHTTPOnly: true,
		CookieSameSite: fiber.CookieSameSiteLaxMode,
		KeyGenerator:   newSessionID,
	})
	// Sessions saved while Fiber's CSRF middleware kept the token hold its
	// csrf.Token value: registered, they still decode (and sign in).
	st.RegisterType(csrf.Token{})
	return st
}

// currentUser is the signed-in user of the request, or nil.
func currentUser(c *fiber.Ctx) *db.User {
	u, _ := c.Locals(localUser).(*db.User)
	return u
}

// loadUser finds the signed-in user, if any, for every request, and the
// session's CSRF token. A session whose credential version is stale
// (password changed since) or that passed its absolute lifetime is
// destroyed, and the request goes on anonymous. A request without a
// session cookie reads and writes nothing.
func (s *server) loadUser(c *fiber.Ctx) error {
	if c.Cookies(sessionCookie(s.secure)) == "" {
		return c.Next()
	}
	sess, err := s.sessions.Get(c)
	if err != nil {
		return err
	}
	if t, _ := sess.Get(keyCSRF).(string); t != "" {
		c.Locals(localCSRF, t)
	}
	uid, _ := sess.Get(keyUserID).(int64)
	if uid == 0 {
		return c.Next()
	}
	cv, _ := sess.Get(keyCredVer).(int64)
	at, _ := sess.Get(keySignedIn).(int64)
	u, err := s.DB.UserByID(c.UserContext(), uid)
	reason := "stale credentials or lifetime"
	switch {
	case errors.Is(err, db.ErrNotFound):
	case err != nil:
		return err
	case u.CredentialVersion != cv:
	case s.pastLifetime(at):
	case u.Disabled():
		reason = "account disabled"
	default:
		s.seen(c, u)
		c.Locals(localUser, &u)
		c.Locals(localSessionID, sess.ID())
		// Every page of a signed-in user has a form (Sign out); the first
		// one after sign-in makes the token.
		if csrfToken(c) == "" {
			if err := s.newCSRF(c, sess); err != nil {
				return err
			}
		}
		return c.Next()
	}
	s.Log.Info("session ended", "user", uid, "ip", clientIP(c), "reason", reason)
	_ = s.DB.ForgetSession(c.UserContext(), sess.ID())
	c.Locals(localCSRF, nil)
	if err := sess.Destroy(); err != nil {
		return err
	}
	return c.Next()
}

// seen records that u made a request, when the time stored is older than
// db.LastSeenEvery (so a user costs one write every few minutes, not one
// per request). A failed write is logged: the request goes on.
func (s *server) seen(c *fiber.Ctx, u db.User) {
	if s.DB.Now().Sub(u.LastSeen) < db.LastSeenEvery {
		return
	}
	if err := s.DB.SeenNow(c.UserContext(), u.ID); err != nil {
		s.Log.Error("record last seen", "user", u.ID, "err", err)
	}
}

// pastLifetime reports whether a session signed in at the Unix time at has
// passed the absolute session lifetime.
func (s *server) pastLifetime(at int64) bool {
	return time.Since(time.Unix(at, 0)) > s.cfg.SessionAbsolute
}

// newCSRF makes a CSRF token, stores it in sess (saving it, which creates
// the row of a new visitor), repeats it in the double-submit cookie and
// makes it the request's.
func (s *server) newCSRF(c *fiber.Ctx, sess *session.Session) error {
	t := newSessionID()
	sess.Set(keyCSRF, t)
	if err := sess.Save(); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name:     s.csrfCookie(),
		Value:    t,
		Path:     "/",
		Secure:   s.secure,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
		Expires:  time.Now().Add(s.cfg.SessionIdle),
	})
	c.Locals(localCSRF, t)
	return nil
}

// trimVisitors keeps at most cfg.VisitorSessions sessions of visitors
// (not signed in), deleting the least recently saved beyond that, so a
// loop of cookieless requests to a form page cannot grow the table. The
// trim walks the cap's worth of rows, so it runs once per hundredth of the
// cap of new visitors: the table exceeds the cap by 1% at most. A failure
// is logged: the page can still be served.
func (s *server) trimVisitors(c *fiber.Ctx) {
	if s.newVisitors.Add(1)%max(1, int64(s.cfg.VisitorSessions/100)) != 0 {
		return
	}
	n, err := s.DB.TrimVisitorSessions(c.UserContext(), s.cfg.VisitorSessions)
	if err != nil {
		s.Log.Error("trim visitor sessions", "err", err)
		return
	}
	if n > 0 {
		s.Log.Debug("visitor sessions evicted", "count", n)
	}
}

// signIn starts a fresh session for u: a new id (no fixation), none of the
// visitor's data carried over.
func (s *server) signIn(c *fiber.Ctx, u db.User) error {
	sess, err := s.sessions.Get(c)
	if err != nil {
		return err
	}
	if err := sess.Reset(); err != nil {
		return err
	}
	sess.Set(keyUserID, u.ID)
	sess.Set(keyCredVer, u.CredentialVersion)
	sess.Set(keySignedIn, time.Now().Unix())
	id := sess.ID()
	if err := s.newCSRF(c, sess); err != nil { // saves the session
		return err
	}
	c.Locals(localUser, &u)
	c.Locals(localSessionID, id)
	s.seen(c, u)
	return s.DB.TrackSession(c.UserContext(), id, u.ID)
}

// refreshCredentials keeps the current session valid after its user's
// password changed.
func (s *server) refreshCredentials(c *fiber.Ctx, version int64) error {
	sess, err := s.sessions.Get(c)
	if err != nil {
		return err
	}
	sess.Set(keyCredVer, version)
	return sess.Save()
}

// signOut destroys the session server-side and expires its cookie.
func (s *server) signOut(c *fiber.Ctx) error {
	sess, err := s.sessions.Get(c)
	if err != nil {
		return err
	}
	_ = s.DB.ForgetSession(c.UserContext(), sess.ID())
	c.Locals(localCSRF, nil)
	return sess.Destroy()
}

// sessionValue reads one value of the visitor's session.
func (s *server) sessionValue(c *fiber.Ctx, key string) (any, error) {
	sess, err := s.sessions.Get(c)
	if err != nil {
		return nil, err
	}
	return sess.Get(key), nil
}

// setSessionValue stores one value in the visitor's session (nil deletes).
func (s *server) setSessionValue(c *fiber.Ctx, key string, v any) error {
	sess, err := s.sessions.Get(c)
	if err != nil {
		return err
	}
	if v == nil {
		sess.Delete(key)
	} else {
		sess.Set(key, v)
	}
	return sess.Save()
}
