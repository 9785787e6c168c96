package handlers

import (
	"html"
	"time"

	"github.com/a-h/templ"

	"natter/db"
	"natter/mail"
	"natter/views"
)

// Mail building: every message Natter sends, from the views' templates.

// renderText renders a plain-text templ component (an e-mail part),
// undoing templ's HTML escaping.
func renderText(comp templ.Component) string {
	return html.UnescapeString(string(renderBytes(comp)))
}

// mailResetLink mails a password reset link to the account's address.
func (s *server) mailResetLink(u db.User, link string) {
	valid := validForText(s.cfg.ResetTTL)
	s.Mailer.Enqueue(mail.Message{
		To:      u.Email,
		ToName:  u.Username,
		Subject: views.ResetEmailSubject,
		Text:    renderText(views.ResetEmailText(u.Username, link, valid)),
		HTML:    string(renderBytes(views.ResetEmailHTML(u.Username, link, valid))),
		// A mail still queued when the link dies (a long SMTP outage, a
		// restart) is dropped instead of sent useless.
		Expires: time.Now().Add(s.cfg.ResetTTL),
	})
}

// validForText is how long a reset link works, in the mail's words.
func validForText(d time.Duration) string {
	if d%time.Hour == 0 && d == time.Hour {
		return "one hour"
	}
	return d.String()
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

// notifyEmailChanged mails the account's OLD address that it was replaced.
func (s *server) notifyEmailChanged(old db.User, newEmail string) {
	when := time.Now().UTC().Format("2006-01-02 15:04 UTC")
	s.Mailer.Enqueue(mail.Message{
		To:      old.Email,
		ToName:  old.Username,
		Subject: "Your Natter email address was changed",
		Text:    renderText(views.EmailChangedEmailText(old.Username, newEmail, when)),
		HTML:    string(renderBytes(views.EmailChangedEmailHTML(old.Username, newEmail, when))),
	})
}
