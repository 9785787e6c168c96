package handlers

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Field rules shared by registration and the profile form.

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

// safeNext returns next if it is a local path on this site, else "/rooms":
// no open redirect through the sign-in form.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\\\r\n\t") || len(next) > 512 {
		return "/rooms"
	}
	return next
}

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
