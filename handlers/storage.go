package handlers

import (
	"bytes"
	"time"

	"github.com/gofiber/fiber/v2"
)

// visitorTTL is how long the session of someone who has not signed in
// lives. Every visitor needs one (it holds the CSRF token of the sign-in
// form), so a crawler or a loop of cookieless requests would otherwise
// leave a row for the whole idle lifetime of a real session.
const visitorTTL = 2 * time.Hour

// sessionStorage is the session storage with visitor sessions kept short:
// a session whose data does not hold a user id is stored for at most
// visitorTTL. keyUserID contains a dot, which no base64url token or id in
// a session can, so a visitor's data never matches by accident.
type sessionStorage struct {
	fiber.Storage
}

// Set stores a session, shortening the expiry of a visitor's.
func (s sessionStorage) Set(key string, val []byte, exp time.Duration) error {
	if (exp <= 0 || exp > visitorTTL) && !bytes.Contains(val, []byte(keyUserID)) {
		exp = visitorTTL
	}
	return s.Storage.Set(key, val, exp)
}
