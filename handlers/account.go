package handlers

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/db"
	"natter/mail"
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
// registration.
func (s *server) saveProfile(c *fiber.Ctx) error {
	u := currentUser(c)
	f := views.Form{
		Values: map[string]string{
			"username": strings.TrimSpace(c.FormValue("username")),
			"email":    strings.TrimSpace(c.FormValue("email")),
		},
		Errors: map[string]string{},
	}
	if msg := checkUsername(f.Values["username"]); msg != "" {
		f.Errors["username"] = msg
	}
	if msg := checkEmail(f.Values["email"]); msg != "" {
		f.Errors["email"] = msg
	}
	if len(f.Errors) == 0 {
		err := s.DB.UpdateProfile(c.UserContext(), u.ID, f.Values["username"], f.Values["email"])
		switch {
		case errors.Is(err, db.ErrUsernameTaken):
			f.Errors["username"] = "This user name is taken."
		case errors.Is(err, db.ErrEmailTaken):
			f.Errors["email"] = "An account with this email address already exists."
		case err != nil:
			return err
		default:
			s.Log.Info("profile changed", "user", u.ID, "ip", clientIP(c))
			return c.Redirect("/account?saved=profile", fiber.StatusSeeOther)
		}
	}
	return render(c, fiber.StatusUnprocessableEntity, views.AccountPage(s.page(c, "Your account"), f,
		views.Form{}))
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
	s.Rooms.CloseUser(u.ID, sid, closePolicy, "Your password was changed.")
	s.Log.Info("password changed", "user", u.ID, "ip", clientIP(c))
	s.notifyPasswordChanged(*u)
	return c.Redirect("/account?saved=password", fiber.StatusSeeOther)
}

// notifyPasswordChanged mails the account's owner that the password changed.
func (s *server) notifyPasswordChanged(u db.User) {
	when := time.Now().UTC().Format("2006-01-02 15:04 UTC")
	s.Mailer.Enqueue(mail.Message{
		To:      u.Email,
		ToName:  u.Username,
		Subject: "Your Natter password was changed",
		Text:    renderText(views.PasswordChangedEmailText(u.Username, when)),
		HTML:    string(renderBytes(views.PasswordChangedEmailHTML(u.Username, when))),
	})
}
