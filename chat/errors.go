package chat

import "errors"

// Error is a refusal by the Registry. Msg is written for the user and may
// be shown as it is; Kind says what sort of refusal it is, so that a
// caller maps every error to its answer (an HTTP status, a close code) by
// kind, in one place, without listing the errors.
type Error struct {
	Kind ErrorKind
	Msg  string
}

// Error returns Msg, the text for the user.
func (e *Error) Error() string { return e.Msg }

// ErrorKind classifies a chat Error.
type ErrorKind uint8

// The kinds of chat errors.
const (
	// Internal is the kind of every error that is not a chat Error: a bug
	// or a fault, not for the user to read.
	Internal ErrorKind = iota
	// Unavailable: the registry is shutting down; another try soon
	// reaches a new one.
	Unavailable
	// Busy: a server-wide cap is reached; it passes as rooms close.
	Busy
	// RateLimited: the user sends too fast; it passes in a moment.
	RateLimited
	// Limit: a cap of the user's own; a retry only repeats the refusal
	// until the user closes something.
	Limit
	// NotFound: the room does not exist (any more).
	NotFound
	// Forbidden: the user may not do this (not a member of the room).
	Forbidden
	// Denied: the user may not act on this message (not its author, not
	// the room's owner); the handlers answer 403.
	Denied
	// Gone: the message is not (or no longer) in the room's history; the
	// handlers answer 404.
	Gone
	// Invalid: what the user sent cannot be used as it is (not one
	// emoji); the handlers answer 422 and keep what was typed.
	Invalid
)

// ErrorKindOf returns the kind of the chat Error in err's chain, or
// Internal when there is none.
func ErrorKindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Errors returned by the Registry. Their texts are written for the user
// and may be shown as they are.
var (
	// ErrTooManyRooms: creating the room would pass Config.MaxRooms.
	ErrTooManyRooms error = &Error{Busy, "This server has too many rooms open; try again later."}
	// ErrTooManyRoomsForUser: the user already created Config.MaxRoomsPerUser live rooms.
	ErrTooManyRoomsForUser error = &Error{Limit, "You have too many rooms open; wait for one to close before making another."}
	// ErrTooManyConnections: the user already holds Config.MaxConnsPerUser sockets.
	ErrTooManyConnections error = &Error{Limit, "You have too many chat windows open; close one and try again."}
	// ErrRateLimited: the user's message bucket is empty.
	ErrRateLimited error = &Error{RateLimited, "You are sending messages too fast; wait a moment and try again."}
	// ErrNotMember: the user is not (or no longer) a member of the room.
	ErrNotMember error = &Error{Forbidden, "You are not in this room; reload the page to join it."}
	// ErrNoRoom: the room does not exist (any more).
	ErrNoRoom error = &Error{NotFound, "This room no longer exists."}
	// ErrClosed: the registry is shutting down.
	ErrClosed error = &Error{Unavailable, "The server is restarting; try again in a moment."}
	// ErrNotStored: the room's history could not be stored (Config.Store,
	// with several nodes: the broker is away), so nothing was sent.
	ErrNotStored error = &Error{Unavailable, "Not sent: reconnecting to the other servers; try again in a moment."}
)

// Errors of the message actions (actions.go, typing.go).
var (
	// ErrNotAuthor: only a message's author may edit it.
	ErrNotAuthor error = &Error{Denied, "You can edit only your own messages."}
	// ErrCannotDelete: only the author, the room's owner or an admin may
	// delete a message.
	ErrCannotDelete error = &Error{Denied, "You can delete only your own messages."}
	// ErrNoMessage: no message of the room has that number (it was never
	// posted, fell out of the history, or is a notice or deleted).
	ErrNoMessage error = &Error{Gone, "That message is no longer in the room."}
	// ErrNotEmoji: a reaction must be one emoji.
	ErrNotEmoji error = &Error{Invalid, "Choose one emoji."}
	// ErrTooManyEmoji: a message holds at most MaxReactionKinds different
	// emoji.
	ErrTooManyEmoji error = &Error{Invalid, "This message has as many different reactions as it can hold; add to one of them."}
	// ErrEditRateLimited: the user's edit bucket is empty.
	ErrEditRateLimited error = &Error{RateLimited, "You are editing too fast; wait a moment and try again."}
	// ErrReactRateLimited: the user's reaction bucket is empty.
	ErrReactRateLimited error = &Error{RateLimited, "Too many reactions at once; wait a moment."}
	// ErrTypingRateLimited: the user's typing signals come faster than any
	// page sends them (a flood); they are dropped.
	ErrTypingRateLimited error = &Error{RateLimited, "You are sending too fast; wait a moment."}
)

// CloseCodeFor returns the websocket close code for err (a failed Join,
// say): codes the htmx ws extension reconnects on (1012, 1013) for
// conditions that pass, 1008 for those that a retry would only repeat.
func CloseCodeFor(err error) int {
	switch ErrorKindOf(err) {
	case Unavailable:
		return CloseServiceRestart
	case Busy, RateLimited:
		return CloseTryAgainLater
	default:
		return ClosePolicyViolation
	}
}
