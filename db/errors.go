package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Error is an error of this package that callers act on. Msg is for logs,
// never for users: the handlers turn each into a message of their own
// (a taken name beside its field, an invalid reset link as its page).
type Error struct {
	Kind ErrorKind
	Msg  string
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

// ErrorKind classifies the errors of this package, as chat.ErrorKind does
// chat's, so that callers can map them by kind.
type ErrorKind uint8

// The kinds of db errors.
const (
	// Internal is the kind of any other error: a fault or a bug.
	Internal ErrorKind = iota
	// NotFound: the row asked for does not exist.
	NotFound
	// Conflict: the value is taken by, or too like, another account's.
	Conflict
	// Invalid: the token is unknown, used or expired.
	Invalid
	// Unavailable: the database cannot be written (see DB.WriteFault).
	Unavailable
)

// ErrorKindOf returns the kind of err: that of the Error in its chain, or
// Unavailable for an SQLite error that says the file cannot be written (a
// full disk, a read-only or unopenable file, a failed disk) or a
// PostgreSQL error that says the server cannot take writes now (see
// pgUnavailable), else Internal.
func ErrorKindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if pgUnavailable(err) {
		return Unavailable
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code; extended codes add high bits
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
			return Unavailable
		}
	}
	return Internal
}

// Sentinel errors that callers turn into messages for users.
var (
	ErrNotFound      error = &Error{NotFound, "db: not found"}
	ErrUsernameTaken error = &Error{Conflict, "db: user name taken"}
	ErrEmailTaken    error = &Error{Conflict, "db: email taken"}
	ErrTokenInvalid  error = &Error{Invalid, "db: reset token unknown, used or expired"}
	// ErrUsernameLookalike: the name has the confusable skeleton of another
	// account's name ("hoIder2" with a capital i beside "holder2").
	ErrUsernameLookalike error = &Error{Conflict, "db: user name looks like another"}
	// ErrUsernameHeld: the name was given up by a rename less than
	// UsernameHold ago and is still reserved for its former owner.
	ErrUsernameHeld error = &Error{Conflict, "db: user name recently given up, held"}
)

// Why an invitation link does not work (kind Invalid). Unlike a reset
// link's, each is told apart: the invited person should know whether to
// ask for a new link or has already signed up with this one.
var (
	ErrInviteUnknown error = &Error{Invalid, "db: invitation unknown"}
	ErrInviteUsed    error = &Error{Invalid, "db: invitation already used"}
	ErrInviteExpired error = &Error{Invalid, "db: invitation expired"}
	ErrInviteRevoked error = &Error{Invalid, "db: invitation revoked"}
)

// pgUnavailable reports whether err says that PostgreSQL cannot be
// written now, for a reason that passes: the server cannot be reached or
// went away, is starting or shutting down, is out of disk, memory or
// connections, or is a read-only standby.
func pgUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(pe.Code, "57P"), // operator intervention: shutdown, cannot connect now
			pe.Code == "25006":                // read_only_sql_transaction (a standby)
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// pgConnLost reports whether err says the connection to PostgreSQL broke
// during a statement (pgx wraps the network error), or that PostgreSQL did
// not answer before the caller's deadline (pgx's timeout, or the pool's
// plain context error while every connection was taken), which passes as
// pgUnavailable's reasons do. Only a PostgreSQL DB asks: elsewhere a
// network error is no database's.
func pgConnLost(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded)
}

// pgUniqueViolation returns the name of the UNIQUE constraint that err
// broke on PostgreSQL.
func pgUniqueViolation(err error) (constraint string, ok bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName, true
	}
	return "", false
}
