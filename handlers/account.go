package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"natter/db"
	"natter/password"
	"natter/views"
)

// accountPage shows the profile with the user's current values.
func (s *server) accountPage(c *fiber.Ctx) error {
	u := currentUser(c)
	p := s.page(c, "Your account")
	switch c.Query("saved") {
	case "profile":
		p.Notice = "Your profile has been saved."
	case "password":
		p.Notice = "Your password has been changed, and your other sessions signed out."
	case "email":
		p.Notice = "Your profile has been saved. A notice went to your old address, and your other sessions were signed out."
	}
	profile := views.Form{Values: map[string]string{"username": u.Username, "email": u.Email}}
	return render(c, fiber.StatusOK, views.AccountPage(p, profile, views.Form{}))
}

// account saves one of the profile page's two forms.
func (s *server) account(c *fiber.Ctx) error {
	if c.FormValue("form") == "password" {
		return s.changePassword(c)
	}
	return s.saveProfile(c)
}

// saveProfile changes the user name and address, under the same rules as
// registration. A new address needs the current password (reset links go
// to it, so a stolen session must not be able to redirect them); it is
// told to the old address, and the user's other sessions end.
func (s *server) saveProfile(c *fiber.Ctx) error {
	u := currentUser(c)
	ctx := c.UserContext()
	f := views.Form{
		Values: map[string]string{
			"username": strings.TrimSpace(c.FormValue("username")),
			"email":    strings.TrimSpace(c.FormValue("email")),
		},
		Errors: map[string]string{},
	}
	refuse := func() error {
		return render(c, fiber.StatusUnprocessableEntity, views.AccountPage(s.page(c, "Your account"), f, views.Form{}))
	}
	checkAccountFields(f)
	newEmail := db.FoldKey(f.Values["email"]) != db.FoldKey(u.Email)
	if newEmail && f.Errors["email"] == "" {
		ok, err := s.checkCurrentPassword(c, u, c.FormValue("email_password"))
		if errors.Is(err, password.ErrBusy) {
			f.Error = msgBusy
			return s.serverBusy(c, views.AccountPage(s.page(c, "Your account"), f, views.Form{}))
		}
		if err != nil {
			return err
		}
		switch {
		case c.FormValue("email_password") == "":
			f.Errors["email_password"] = "Enter your current password to change your email address."
		case !ok:
			f.Errors["email_password"] = "This is not your current password."
		}
	}
	if len(f.Errors) > 0 {
		return refuse()
	}
	err := s.DB.UpdateProfile(ctx, u.ID, f.Values["username"], f.Values["email"])
	if field, msg := accountConflict(err); msg != "" {
		f.Errors[field] = msg
		return refuse()
	}
	if err != nil {
		return err
	}
	s.Log.Info("profile changed", "user", u.ID, "ip", clientIP(c), "email_changed", newEmail)
	if !newEmail {
		return c.Redirect("/account?saved=profile", fiber.StatusSeeOther)
	}
	sid, _ := c.Locals(localSessionID).(string)
	if err := s.DB.EndSessions(ctx, u.ID, sid); err != nil {
		return err
	}
	s.Users.CloseUser(u.ID, sid, closePolicy, "Your email address was changed.")
	s.notifyEmailChanged(*u, f.Values["email"])
	return c.Redirect("/account?saved=email", fiber.StatusSeeOther)
}

// checkCurrentPassword reports whether pw is the user's password. Too long
// a password is simply not it.
func (s *server) checkCurrentPassword(c *fiber.Ctx, u *db.User, pw string) (bool, error) {
	if pw == "" {
		return false, nil
	}
	ok, _, err := s.Hasher.Verify(c.UserContext(), pw, u.PasswordHash)
	if errors.Is(err, password.ErrTooLong) {
		return false, nil
	}
	return ok, err
}

// changePassword needs the current password; success ends every other
// session of the user (and their sockets) and keeps this one.
func (s *server) changePassword(c *fiber.Ctx) error {
	u := currentUser(c)
	ctx := c.UserContext()
	profile := views.Form{Values: map[string]string{"username": u.Username, "email": u.Email}}
	f := views.Form{Errors: map[string]string{}}
	current, pw, confirm := c.FormValue("current_password"), c.FormValue("password"), c.FormValue("password_confirm")

	ok, _, err := s.Hasher.Verify(ctx, current, u.PasswordHash)
	if errors.Is(err, password.ErrBusy) {
		f.Error = msgBusy
		return s.serverBusy(c, views.AccountPage(s.page(c, "Your account"), profile, f))
	}
	if err != nil && !errors.Is(err, password.ErrTooLong) {
		return err
	}
	if !ok {
		f.Errors["current_password"] = "This is not your current password."
	}
	s.checkNewPassword(f, pw, confirm, u.Username, u.Email)
	if len(f.Errors) > 0 {
		return render(c, fiber.StatusUnprocessableEntity, views.AccountPage(s.page(c, "Your account"), profile, f))
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if errors.Is(err, password.ErrBusy) {
		f.Error = msgBusy
		return s.serverBusy(c, views.AccountPage(s.page(c, "Your account"), profile, f))
	}
	if err != nil {
		return err
	}
	version, err := s.DB.ChangePassword(ctx, u.ID, hash)
	if err != nil {
		return err
	}
	sid, _ := c.Locals(localSessionID).(string)
	if err := s.refreshCredentials(c, version); err != nil {
		return err
	}
	if err := s.DB.EndSessions(ctx, u.ID, sid); err != nil {
		return err
	}
	s.Users.CloseUser(u.ID, sid, closePolicy, "Your password was changed.")
	s.Log.Info("password changed", "user", u.ID, "ip", clientIP(c))
	s.notifyPasswordChanged(*u)
	return c.Redirect("/account?saved=password", fiber.StatusSeeOther)
}
