package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"

	"natter/db"
)

// Session keys.
const (
	keyUserID   = "natter.user_id" // the dot matters: see sessionStorage
	keyCredVer  = "cv"
	keySignedIn = "at" // Unix time of sign-in: the absolute lifetime counts from it
	keyReset    = "reset_token"
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
	return session.New(session.Config{
		Storage:        storage,
		Expiration:     idle,
		KeyLookup:      "cookie:" + sessionCookie(secure),
		CookiePath:     "/",
		CookieSecure:   secure,
		CookieHTTPOnly: true,
		CookieSameSite: fiber.CookieSameSiteLaxMode,
		KeyGenerator:   newSessionID,
	})
}

// currentUser is the signed-in user of the request, or nil.
func currentUser(c *fiber.Ctx) *db.User {
	u, _ := c.Locals(localUser).(*db.User)
	return u
}

// loadUser finds the signed-in user, if any, for every request. A session
// whose credential version is stale (password changed since) or that passed
// its absolute lifetime is destroyed, and the request goes on anonymous.
func (s *server) loadUser(c *fiber.Ctx) error {
	if c.Cookies(sessionCookie(s.secure)) == "" {
		return c.Next()
	}
	sess, err := s.sessions.Get(c)
	if err != nil {
		return err
	}
	uid, _ := sess.Get(keyUserID).(int64)
	if uid == 0 {
		return c.Next()
	}
	cv, _ := sess.Get(keyCredVer).(int64)
	at, _ := sess.Get(keySignedIn).(int64)
	u, err := s.DB.UserByID(c.UserContext(), uid)
	switch {
	case errors.Is(err, db.ErrNotFound):
	case err != nil:
		return err
	case u.CredentialVersion != cv:
	case time.Since(time.Unix(at, 0)) > s.cfg.SessionAbsolute:
	default:
		c.Locals(localUser, &u)
		c.Locals(localSessionID, sess.ID())
		return c.Next()
	}
	s.Log.Info("session ended", "user", uid, "ip", clientIP(c), "reason", "stale credentials or lifetime")
	_ = s.DB.ForgetSession(c.UserContext(), sess.ID())
	if err := sess.Destroy(); err != nil {
		return err
	}
	return c.Next()
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
	if err := sess.Save(); err != nil {
		return err
	}
	c.Locals(localUser, &u)
	c.Locals(localSessionID, id)
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
