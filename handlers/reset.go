package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/db"
	"natter/views"
)

// resetPath is where a reset link lands after its token moved into the
// session (Django's trick): the token never stays in the address bar,
// history or Referer headers.
const resetPath = "/password/reset/set"

// newResetToken returns 32 random bytes, base64url: 256 bits.
func newResetToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// looksLikeToken rejects garbage before it reaches the database: a token
// is exactly 43 characters of the base64url alphabet. (The base64 decoder
// would skip line breaks, so the alphabet is checked by hand.)
func looksLikeToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// forgotForm shows the form that asks for the address.
func (s *server) forgotForm(c *fiber.Ctx) error {
	next := keepNext(safeNext(c.Query("next")))
	return render(c, fiber.StatusOK, views.ForgotPage(s.nextPage(c, "Reset password", next), views.Form{}, false))
}

// forgot answers every address alike, at once: the lookup and the mail
// happen after the response is decided, and the mail is sent off the
// request path. A malformed address is the only thing it tells apart, since
// that reveals nothing about accounts.
func (s *server) forgot(c *fiber.Ctx) error {
	email := strings.TrimSpace(c.FormValue("email"))
	next := keepNext(safeNext(c.FormValue("next")))
	if msg := checkEmail(email); msg != "" {
		f := views.Form{Values: map[string]string{"email": email}, Errors: map[string]string{"email": msg}}
		return render(c, fiber.StatusUnprocessableEntity, views.ForgotPage(s.nextPage(c, "Reset password", next), f, false))
	}
	if s.resetIPLimit.allow(limitKey(clientAddr(c))) && s.resetLimit.allow(db.FoldKey(email)) {
		// Off the request path: whether an account exists must not show
		// in the response time.
		s.background.Add(1)
		go func(email, ip string) {
			defer s.background.Done()
			s.sendResetLink(email, ip, next)
		}(email, clientIP(c))
	} else {
		s.Log.Warn("reset request over the limit; nothing sent", "ip", clientIP(c))
	}
	return render(c, fiber.StatusOK, views.ForgotPage(s.nextPage(c, "Reset password", next), views.Form{}, true))
}

// sendResetLink stores a token for the account using email, if any, and
// queues the mail to the address stored for it (never the one typed). A
// next other than the lobby rides in the link's query: it is a same-site
// path (safeNext), checked again wherever it is read, so it needs no
// storage next to the token.
func (s *server) sendResetLink(email, ip, next string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := s.DB.UserByEmail(ctx, email)
	if err != nil {
		if !errors.Is(err, db.ErrNotFound) {
			s.Log.Error("reset lookup", "err", err)
		}
		return
	}
	token := newResetToken()
	if err := s.DB.CreateResetToken(ctx, u.ID, token, s.cfg.ResetTTL); err != nil {
		s.Log.Error("store reset token", "user", u.ID, "err", err)
		return
	}
	link := s.link("/password/reset/" + token + nextQuery("?", next))
	s.mailResetLink(u, link)
	s.Log.Info("reset link issued", "user", u.ID, "ip", ip)
}

// resetStart is where a mailed link lands: a valid token moves into the
// session and the browser goes on to the clean resetPath.
func (s *server) resetStart(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	token, _, err := s.resetAccount(c)
	if err != nil {
		return s.resetFailed(c, err)
	}
	if err := s.setSessionValue(c, keyReset, token); err != nil {
		return err
	}
	return c.Redirect(resetPath+nextQuery("?", keepNext(safeNext(c.Query("next")))), fiber.StatusSeeOther)
}

// resetAccount returns the request's reset token (the link's, or at
// resetPath the one the session holds) and the account it is for. A token
// that is malformed, unknown, used or expired gives db.ErrTokenInvalid;
// resetFailed answers every error.
func (s *server) resetAccount(c *fiber.Ctx) (token string, u db.User, err error) {
	token = c.Params("token")
	if token == "" {
		v, err := s.sessionValue(c, keyReset)
		if err != nil {
			return "", db.User{}, err
		}
		token, _ = v.(string)
	}
	if !looksLikeToken(token) {
		return token, db.User{}, db.ErrTokenInvalid
	}
	u, err = s.DB.ResetTokenUser(c.UserContext(), token)
	return token, u, err
}

// resetFailed answers a reset whose token did not work (db.ErrTokenInvalid)
// with the page that says the link cannot be used; any other error is a
// fault, for the error handler.
func (s *server) resetFailed(c *fiber.Ctx, err error) error {
	if !errors.Is(err, db.ErrTokenInvalid) {
		return err
	}
	return render(c, fiber.StatusBadRequest, views.ResetInvalidPage(s.page(c, "Link not valid")))
}

// resetForm shows the new-password form for the session's token.
func (s *server) resetForm(c *fiber.Ctx) error {
	_, u, err := s.resetAccount(c)
	if err != nil {
		return s.resetFailed(c, err)
	}
	next := keepNext(safeNext(c.Query("next")))
	return render(c, fiber.StatusOK, views.ResetPage(s.nextPage(c, "New password", next), views.Form{}, u.Username))
}

// reset sets the new password. Every session of the user ends and every
// socket closes; the user then signs in with the new password (we do not
// sign in whoever holds the link: a leaked link should not also be a
// session).
func (s *server) reset(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx := c.UserContext()
	token, u, err := s.resetAccount(c)
	if err != nil {
		return s.resetFailed(c, err)
	}
	pw := c.FormValue("password")
	next := keepNext(safeNext(c.FormValue("next")))
	f := views.Form{Errors: map[string]string{}}
	s.checkNewPassword(f, pw, c.FormValue("password_confirm"), u.Username, u.Email)
	if len(f.Errors) > 0 {
		return render(c, fiber.StatusUnprocessableEntity, views.ResetPage(s.nextPage(c, "New password", next), f, u.Username))
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	u, err = s.DB.ConsumeResetToken(ctx, token, hash)
	if err != nil {
		return s.resetFailed(c, err)
	}
	if err := s.DB.EndSessions(ctx, u.ID, ""); err != nil {
		return err
	}
	s.Users.CloseUser(u.ID, "", closePolicy, "Your password was reset.")
	if cur := currentUser(c); cur != nil && cur.ID == u.ID {
		_ = s.signOut(c)
	} else if err := s.setSessionValue(c, keyReset, nil); err != nil {
		return err
	}
	s.Log.Info("password reset", "user", u.ID, "ip", clientIP(c))
	s.notifyPasswordChanged(u)
	return c.Redirect("/login?reset=1"+nextQuery("&", next), fiber.StatusSeeOther)
}
