package handlers

import (
	"bytes"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/db"
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
//
// It also remembers whether the last write failed because the database
// cannot be written. Fiber's CSRF middleware saves the session itself and
// drops the error, so a page renders a token that was never stored, and
// the form it carries would later be refused as "token not found"; the
// refusal asks sessionFault first and tells the truth instead.
type sessionStorage struct {
	fiber.Storage
	db  *db.DB
	log *slog.Logger

	mu    sync.Mutex
	fault error // the last write's error while writes fail, else nil
}

// Set stores a session, shortening the expiry of a visitor's.
func (s *sessionStorage) Set(key string, val []byte, exp time.Duration) error {
	if (exp <= 0 || exp > visitorTTL) && !bytes.Contains(val, []byte(keyUserID)) {
		exp = visitorTTL
	}
	return s.wrote(s.Storage.Set(key, val, exp))
}

// Delete removes a session.
func (s *sessionStorage) Delete(key string) error {
	return s.wrote(s.Storage.Delete(key))
}

// wrote records the outcome of a write, logging when writes start failing
// and when they work again; it returns err.
func (s *sessionStorage) wrote(err error) error {
	fault := err != nil && s.db.WriteFault(err)
	if !fault && err != nil {
		return err // not about the database's health
	}
	s.mu.Lock()
	was := s.fault
	if fault {
		s.fault = err
	} else {
		s.fault = nil
	}
	s.mu.Unlock()
	switch {
	case fault && was == nil:
		s.log.Error("database cannot be written: sessions (and so forms) fail until it can", "err", err)
	case !fault && was != nil:
		s.log.Info("database can be written again")
	}
	return err
}

// failing returns the error of the last session write while writes fail.
func (s *sessionStorage) failing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// sessionFault returns the session storage's write error while writes
// fail, else nil.
func (s *server) sessionFault() error {
	if st, ok := s.sessions.Storage.(*sessionStorage); ok {
		return st.failing()
	}
	return nil
}
