package handlers

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/db"
	"natter/password"
	"natter/views"
)

// home is the landing page; signed-in users go straight to the lobby.
func (s *server) home(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return c.Redirect("/rooms", fiber.StatusSeeOther)
	}
	return render(c, fiber.StatusOK, views.HomePage(s.page(c, "")))
}

// registerForm shows the sign-up form, keeping where the visitor was going.
func (s *server) registerForm(c *fiber.Ctx) error {
	next := safeNext(c.Query("next"))
	if currentUser(c) != nil {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	invite := c.Query("invite")
	if refused, err := s.signUpRefused(c, invite); refused || err != nil {
		return err
	}
	f := views.Form{Values: map[string]string{"invite": invite}}
	return render(c, fiber.StatusOK, views.RegisterPage(s.nextPage(c, "Create account", next), f))
}

// register creates an account, signs it in and goes on to next (the room
// an invitation link pointed at) or the lobby. Every failing rule is shown
// next to its field, with what was typed kept (never the passwords). The
// invite field carries an invitation link's token through the form: the
// account and the invitation's use are one transaction.
func (s *server) register(c *fiber.Ctx) error {
	next := safeNext(c.FormValue("next"))
	invite := c.FormValue("invite")
	if refused, err := s.signUpRefused(c, invite); refused || err != nil {
		return err
	}
	f := views.Form{
		Values: map[string]string{
			"username": strings.TrimSpace(c.FormValue("username")),
			"email":    strings.TrimSpace(c.FormValue("email")),
			"invite":   invite,
		},
		Errors: map[string]string{},
	}
	pw, confirm := c.FormValue("password"), c.FormValue("password_confirm")
	s.checkNewAccount(f, pw, confirm)
	if len(f.Errors) == 0 {
		hash, err := s.Hasher.Hash(c.UserContext(), pw)
		if errors.Is(err, password.ErrBusy) {
			f.Error = msgBusy
			return s.serverBusy(c, views.RegisterPage(s.page(c, "Create account"), f))
		}
		if err != nil {
			return err
		}
		var u db.User
		if invite != "" {
			u, err = s.DB.CreateInvitedUser(c.UserContext(), invite, f.Values["username"], f.Values["email"], hash)
		} else {
			u, err = s.DB.CreateUser(c.UserContext(), f.Values["username"], f.Values["email"], hash)
		}
		switch field, msg := accountConflict(err); {
		case db.ErrorKindOf(err) == db.Invalid:
			// Used by someone else since the checks above.
			return s.inviteRefused(c, err)
		case msg != "":
			f.Errors[field] = msg
		case err != nil:
			return err
		default:
			s.Log.Info("account created", "user", u.ID, "admin", u.IsAdmin, "invited", invite != "", "ip", clientIP(c))
			if err := s.signIn(c, u); err != nil {
				return err
			}
			return c.Redirect(next, fiber.StatusSeeOther)
		}
	}
	return render(c, fiber.StatusUnprocessableEntity, views.RegisterPage(s.nextPage(c, "Create account", next), f))
}

// loginForm shows the sign-in form.
func (s *server) loginForm(c *fiber.Ctx) error {
	next := safeNext(c.Query("next"))
	if currentUser(c) != nil {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	p := s.nextPage(c, "Sign in", next)
	if c.Query("reset") == "1" {
		p.Notice = "Your password has been changed. Sign in with the new one."
	}
	return render(c, fiber.StatusOK, views.LoginPage(p, views.Form{}, keepNext(next)))
}

// errBadLogin is the one message for an unknown account and a wrong
// password alike, so the form does not reveal which accounts exist.
const errBadLogin = "The user name, email or password is not right."

// errDisabled refuses the sign-in of an account an admin disabled.
const errDisabled = "This account has been disabled. Ask your Natter's admin."

// login signs a user in by name or address. An unknown account costs the
// same hash as a known one, and gets the same answer as a wrong password.
func (s *server) login(c *fiber.Ctx) error {
	login := strings.TrimSpace(c.FormValue("username"))
	pw := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	f := views.Form{Values: map[string]string{"username": login}, Errors: map[string]string{}}

	if d := s.signInDelay(c); d > 0 {
		s.Log.Info("sign-in slowed", "for", d.String(), "ip", clientIP(c))
		time.Sleep(d)
	}
	ok, err := s.checkLogin(c, login, pw)
	if errors.Is(err, password.ErrBusy) {
		f.Error = msgBusy
		return s.serverBusy(c, views.LoginPage(s.page(c, "Sign in"), f, keepNext(next)))
	}
	if err != nil {
		return err
	}
	if ok != nil && ok.Disabled() {
		// Told only after the password matched: a guesser learns nothing.
		s.Log.Info("sign-in refused", "user", ok.ID, "reason", "account disabled", "ip", clientIP(c))
		f.Error = errDisabled
		return render(c, fiber.StatusForbidden, views.LoginPage(s.nextPage(c, "Sign in", next), f, keepNext(next)))
	}
	if ok != nil {
		s.Log.Info("signed in", "user", ok.ID, "ip", clientIP(c))
		s.knownSignIns.add(s.byAccountAndIP(c))
		if err := s.signIn(c, *ok); err != nil {
			return err
		}
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	s.loginFailures.allow(s.byAccount(c))
	s.Log.Info("sign-in failed", "ip", clientIP(c))
	f.Error = errBadLogin
	return render(c, fiber.StatusUnauthorized, views.LoginPage(s.nextPage(c, "Sign in", next), f, keepNext(next)))
}

// checkLogin returns the user if the credentials are right, nil if not.
// Passwords too long to hash are refused without hashing, and the stored
// hash is upgraded when the hashing parameters have been raised.
func (s *server) checkLogin(c *fiber.Ctx, login, pw string) (*db.User, error) {
	ctx := c.UserContext()
	if login == "" || pw == "" || len(pw) > password.MaxLength || len(login) > maxEmail {
		return nil, nil
	}
	u, err := s.DB.UserByLogin(ctx, login)
	if errors.Is(err, db.ErrNotFound) {
		return nil, s.Hasher.VerifyDummy(ctx, pw)
	}
	if err != nil {
		return nil, err
	}
	ok, rehash, err := s.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil || !ok {
		return nil, err
	}
	if rehash {
		if h, err := s.Hasher.Hash(ctx, pw); err == nil {
			if err := s.DB.RehashPassword(ctx, u.ID, h); err != nil {
				s.Log.Error("rehash password", "user", u.ID, "err", err)
			}
		}
	}
	return &u, nil
}

// logout ends the session and every socket it opened.
func (s *server) logout(c *fiber.Ctx) error {
	if u := currentUser(c); u != nil {
		sid, _ := c.Locals(localSessionID).(string)
		s.Users.CloseSession(sid, closePolicy, "Signed out.")
		s.Log.Info("signed out", "user", u.ID, "ip", clientIP(c))
	}
	if err := s.signOut(c); err != nil {
		return err
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}
