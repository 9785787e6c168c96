package handlers

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/db"
	"natter/views"
)

// inviteTTL is how long an invitation link works.
const inviteTTL = 7 * 24 * time.Hour

// requireAdmin answers every /admin route with the same 404 as an unknown
// page unless an admin asks: visitors and other users learn nothing, not
// even that the page exists.
func (s *server) requireAdmin(c *fiber.Ctx) error {
	if u := currentUser(c); u == nil || !u.IsAdmin {
		return s.notFound(c)
	}
	return c.Next()
}

// adminPage lists the accounts, the sign-up mode and the invitations; the
// notice says what the last action did (done and user in the query, set by
// the redirect after it).
func (s *server) adminPage(c *fiber.Ctx) error {
	p := s.page(c, "Administration")
	switch c.Query("done") {
	case "disabled", "enabled":
		if id, ok := idParam(c.Query("user")); ok {
			if u, err := s.DB.UserByID(c.UserContext(), id); err == nil {
				if u.Disabled() {
					p.Notice = u.Username + " has been disabled: their sessions have ended and they cannot sign in."
				} else {
					p.Notice = u.Username + " can sign in again."
				}
			}
		}
	case "signup":
		p.Notice = signUpNotice(c)
	case "revoked":
		p.Notice = "The invitation has been revoked: its link no longer works."
	}
	return s.renderAdmin(c, fiber.StatusOK, p, views.AdminData{})
}

// signUpNotice says which sign-up mode was just set.
func signUpNotice(c *fiber.Ctx) string {
	switch db.SignUpMode(c.Query("mode")) {
	case db.SignUpOpen:
		return "Sign-up is now open to anyone who can reach this Natter."
	case db.SignUpInvite:
		return "Sign-up is now by invitation only."
	case db.SignUpClosed:
		return "Sign-up is now closed; invitation links still work."
	}
	return ""
}

// renderAdmin renders the admin page with the accounts, mode and
// invitations read now, and what d already holds (a new link, an error).
func (s *server) renderAdmin(c *fiber.Ctx, status int, p views.Page, d views.AdminData) error {
	ctx := c.UserContext()
	var err error
	if d.Users, err = s.DB.Users(ctx); err != nil {
		return err
	}
	if d.Mode, err = s.DB.SignUpMode(ctx); err != nil {
		return err
	}
	if d.Invitations, err = s.DB.Invitations(ctx); err != nil {
		return err
	}
	d.Me = currentUser(c).ID
	d.Now = s.DB.Now()
	return render(c, status, views.AdminPage(p, d))
}

// idParam reads a positive row id; anything else is no id.
func idParam(v string) (int64, bool) {
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id > 0
}

// targetUser is the account named by the route's :id, or a 404 as for
// an unknown page.
func (s *server) targetUser(c *fiber.Ctx) (db.User, error) {
	id, ok := idParam(c.Params("id"))
	if !ok {
		return db.User{}, fiber.ErrNotFound
	}
	u, err := s.DB.UserByID(c.UserContext(), id)
	if errors.Is(err, db.ErrNotFound) {
		return db.User{}, fiber.ErrNotFound
	}
	return u, err
}

// disableUser disables an account: every session of it ends and every
// socket closes at once (1008, with a reason the page shows), and its
// sign-in is refused until an admin enables it. An admin cannot disable
// their own account, which would lock them out of this page.
func (s *server) disableUser(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	me := currentUser(c)
	if u.ID == me.ID {
		return s.renderAdmin(c, fiber.StatusUnprocessableEntity, s.page(c, "Administration"),
			views.AdminData{Error: "You cannot disable your own account: you would lock yourself out. Another admin can."})
	}
	ctx := c.UserContext()
	if err := s.DB.SetDisabled(ctx, u.ID, true); err != nil {
		return err
	}
	if err := s.DB.EndSessions(ctx, u.ID, ""); err != nil {
		return err
	}
	s.Users.CloseUser(u.ID, "", closePolicy, "Your account has been disabled.")
	s.Log.Info("account disabled", "user", u.ID, "by", me.ID, "ip", clientIP(c))
	return c.Redirect("/admin?done=disabled&user="+strconv.FormatInt(u.ID, 10), fiber.StatusSeeOther)
}

// enableUser lets a disabled account sign in again.
func (s *server) enableUser(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	if err := s.DB.SetDisabled(c.UserContext(), u.ID, false); err != nil {
		return err
	}
	s.Log.Info("account enabled", "user", u.ID, "by", currentUser(c).ID, "ip", clientIP(c))
	return c.Redirect("/admin?done=enabled&user="+strconv.FormatInt(u.ID, 10), fiber.StatusSeeOther)
}

// setSignUpMode stores the sign-up mode (field mode: open, invite or
// closed).
func (s *server) setSignUpMode(c *fiber.Ctx) error {
	m := db.SignUpMode(c.FormValue("mode"))
	if !m.Valid() {
		return s.renderAdmin(c, fiber.StatusUnprocessableEntity, s.page(c, "Administration"),
			views.AdminData{Error: "Choose how people may sign up: open, by invitation, or closed."})
	}
	if err := s.DB.SetSignUpMode(c.UserContext(), m); err != nil {
		return err
	}
	s.Log.Info("sign-up mode set", "mode", string(m), "by", currentUser(c).ID, "ip", clientIP(c))
	return c.Redirect("/admin?done=signup&mode="+string(m), fiber.StatusSeeOther)
}

// createInvite makes an invitation and shows its link in this answer, the
// only time it is shown: only the token's hash is stored. The token never
// reaches the log.
func (s *server) createInvite(c *fiber.Ctx) error {
	token := newResetToken()
	inv, err := s.DB.CreateInvitation(c.UserContext(), currentUser(c).ID, token, inviteTTL)
	if err != nil {
		return err
	}
	s.Log.Info("invitation created", "invitation", inv.ID, "by", currentUser(c).ID, "ip", clientIP(c))
	return s.renderAdmin(c, fiber.StatusCreated, s.page(c, "Administration"), views.AdminData{NewLink: s.link("/register?invite=" + token)})
}

// revokeInvite ends an open invitation.
func (s *server) revokeInvite(c *fiber.Ctx) error {
	id, ok := idParam(c.Params("id"))
	if !ok {
		return fiber.ErrNotFound
	}
	err := s.DB.RevokeInvitation(c.UserContext(), id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return fiber.ErrNotFound
	case errors.Is(err, db.ErrInviteUsed), errors.Is(err, db.ErrInviteRevoked):
		msg := "This invitation has already been used: there is nothing to revoke."
		if errors.Is(err, db.ErrInviteRevoked) {
			msg = "This invitation was already revoked."
		}
		return s.renderAdmin(c, fiber.StatusConflict, s.page(c, "Administration"), views.AdminData{Error: msg})
	case err != nil:
		return err
	}
	s.Log.Info("invitation revoked", "invitation", id, "by", currentUser(c).ID, "ip", clientIP(c))
	return c.Redirect("/admin?done=revoked", fiber.StatusSeeOther)
}

// signUpRefused answers a sign-up (its form or its post) that may not go
// on, and reports whether it did: a link with an invitation that does not
// work says why (403 for an unknown one, 410 for a used, expired or
// revoked one); without one, in invite or closed mode, a 403 page says how
// to get in. A working invitation admits in every mode.
func (s *server) signUpRefused(c *fiber.Ctx, invite string) (bool, error) {
	ctx := c.UserContext()
	if invite != "" {
		err := db.ErrInviteUnknown
		if looksLikeToken(invite) {
			err = s.DB.CheckInvitation(ctx, invite)
		}
		if err == nil {
			return false, nil
		}
		return true, s.inviteRefused(c, err)
	}
	mode, err := s.DB.SignUpMode(ctx)
	if err != nil {
		return true, err
	}
	switch mode {
	case db.SignUpInvite:
		return true, render(c, fiber.StatusForbidden, views.ErrorPage(s.page(c, "Sign-up by invitation"), fiber.StatusForbidden,
			"Sign-up is by invitation", "Sign-up here is by invitation: ask an admin for a link.", ""))
	case db.SignUpClosed:
		return true, render(c, fiber.StatusForbidden, views.ErrorPage(s.page(c, "Sign-up closed"), fiber.StatusForbidden,
			"Sign-up is closed", "Sign-up is closed on this Natter. If you should have an account, ask an admin for an invitation link.", ""))
	}
	return false, nil
}

// inviteRefused is the page for an invitation link that does not work,
// saying which way; another error is returned as it is.
func (s *server) inviteRefused(c *fiber.Ctx, err error) error {
	status, heading, text := fiber.StatusGone, "", ""
	switch {
	case errors.Is(err, db.ErrInviteUsed):
		heading, text = "This invitation has been used", "Each invitation link works once, and someone has signed up with this one. If it was you, sign in; otherwise ask an admin for a new link."
	case errors.Is(err, db.ErrInviteExpired):
		heading, text = "This invitation has expired", "Invitation links work for 7 days. Ask an admin for a new one."
	case errors.Is(err, db.ErrInviteRevoked):
		heading, text = "This invitation has been revoked", "An admin withdrew this link. Ask an admin for a new one."
	case errors.Is(err, db.ErrInviteUnknown):
		status, heading, text = fiber.StatusForbidden, "This invitation link does not work", "Check that you copied the whole link, or ask an admin for a new one."
	default:
		return err
	}
	return render(c, status, views.ErrorPage(s.page(c, heading), status, heading, text, ""))
}
