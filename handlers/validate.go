package handlers

import (
	"errors"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"natter/db"
	"natter/views"
)

// Form rules: what each form accepts, in the words that say why not.
// Account fields, shared by sign-up, the profile form and the command line.

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,32}$`)

// checkUsername returns what is wrong with a user name, or "".
func checkUsername(name string) string {
	switch {
	case name == "":
		return "Enter a user name."
	case utf8.RuneCountInString(name) < 3:
		return "A user name needs at least 3 characters."
	case utf8.RuneCountInString(name) > 32:
		return "A user name can have at most 32 characters."
	case !usernamePattern.MatchString(name):
		return "Use only letters, digits, dots (.), dashes (-) and underscores (_)."
	}
	return ""
}

// maxEmail is the longest address SMTP allows in a path.
const maxEmail = 254

// checkEmail returns what is wrong with an e-mail address, or "". Only a
// bare address is accepted ("Name <a@b>" is not), and never one with line
// breaks, which could smuggle mail headers.
func checkEmail(email string) string {
	switch {
	case email == "":
		return "Enter an email address."
	case len(email) > maxEmail:
		return "This email address is too long."
	case strings.ContainsAny(email, "\r\n"):
		return "Enter a valid email address, such as name@example.com."
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
		return "Enter a valid email address, such as name@example.com."
	}
	return ""
}

// Room names: the create form lower-cases and turns spaces into dashes;
// what remains must be a slug of 1–48 characters of a-z, 0-9, - and _.
const maxRoomSlug = 48

var slugPattern = regexp.MustCompile(`^[a-z0-9_-]{1,48}$`)

// roomSlug turns what a user typed into a room slug, or says what is wrong.
func roomSlug(name string) (slug, problem string) {
	s := strings.ToLower(strings.TrimSpace(name))
	s = strings.Join(strings.Fields(s), "-")
	switch {
	case s == "":
		return "", "Enter a room name."
	case !utf8.ValidString(s):
		return "", "Room names use only letters a–z, digits, - and _."
	case utf8.RuneCountInString(s) > maxRoomSlug:
		return "", "A room name can have at most 48 characters."
	case !slugPattern.MatchString(s):
		return "", "Room names use only letters a–z, digits, - and _ (spaces become -)."
	}
	return s, ""
}

// validSlug reports whether s is already a valid room slug (used on URLs).
func validSlug(s string) bool { return slugPattern.MatchString(s) }

// AccountProblem returns what is wrong with a new account's user name or
// address, in the words the sign-up form uses, or "". The command line's
// `natter user create` applies the same rules as the form through it.
func AccountProblem(username, email string) string {
	if msg := checkUsername(username); msg != "" {
		return "user name: " + msg
	}
	if msg := checkEmail(email); msg != "" {
		return "email: " + msg
	}
	return ""
}

// checkNewAccount applies the registration rules, writing into f.Errors.
func (s *server) checkNewAccount(f views.Form, pw, confirm string) {
	checkAccountFields(f)
	s.checkNewPassword(f, pw, confirm, f.Values["username"], f.Values["email"])
}

// checkAccountFields applies the user name and address rules of sign-up
// and the profile form to f.Values, writing into f.Errors.
func checkAccountFields(f views.Form) {
	if msg := checkUsername(f.Values["username"]); msg != "" {
		f.Errors["username"] = msg
	}
	if msg := checkEmail(f.Values["email"]); msg != "" {
		f.Errors["email"] = msg
	}
}

// checkNewPassword applies the password policy and the confirmation match.
func (s *server) checkNewPassword(f views.Form, pw, confirm, username, email string) {
	if pw == "" {
		f.Errors["password"] = "Enter a password."
		return
	}
	if probs := s.Policy.Check(pw, username, email); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = p.Message
		}
		f.Errors["password"] = strings.Join(msgs, " ")
		return
	}
	if confirm != pw {
		f.Errors["password_confirm"] = "The two passwords do not match."
	}
}

// accountConflict is the field and message for a user name or address
// that the database refused (taken, or too like another), or "", "".
func accountConflict(err error) (field, msg string) {
	switch {
	case errors.Is(err, db.ErrUsernameTaken):
		return "username", "This user name is taken."
	case errors.Is(err, db.ErrUsernameLookalike):
		return "username", "This user name looks too much like another member's (for example a capital I and a small l, or 0 and O, look alike). Choose another."
	case errors.Is(err, db.ErrUsernameHeld):
		return "username", "This user name was given up by another member less than " + strconv.Itoa(int(db.UsernameHold.Hours()/24)) +
			" days ago and is held for them. Choose another."
	case errors.Is(err, db.ErrEmailTaken):
		return "email", "An account with this email address already exists."
	}
	return "", ""
}

// Messages.

// cleanMessage trims a message, normalises line breaks, drops control
// characters other than newline and tab, and checks the length. Empty text
// is not an error: it is ignored.
func cleanMessage(raw string, max int) (text, problem string) {
	raw = strings.ReplaceAll(raw, "\r\n", "\n")
	text = strings.TrimSpace(strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, raw))
	if n := len([]rune(text)); n > max {
		return "", "Messages can have at most " + thousands(max) + " characters; this one has " + thousands(n) + "."
	}
	return text, ""
}

// thousands writes a count with comma separators: 2,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// The next parameter: where a sign-in, sign-up or reset goes on to.

// safeNext returns next if it is a local path on this site, else "/rooms":
// no open redirect through the sign-in form.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\\\r\n\t") || len(next) > 512 {
		return "/rooms"
	}
	return next
}

// keepNext drops the default destination from the form.
func keepNext(next string) string {
	if next == "/rooms" {
		return ""
	}
	return next
}

// nextQuery is the query parameter that carries next ("" for the lobby:
// nothing), after sep ("?" or "&").
func nextQuery(sep, next string) string {
	if next == "" {
		return ""
	}
	return sep + "next=" + url.QueryEscape(next)
}
