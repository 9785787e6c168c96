package chat

import (
	"time"

	"golang.org/x/time/rate"
)

// The buckets of the message actions: edits, reactions and typing
// signals. They are kept apart from the user records (users.go), because
// an action may come from a user with no connection (a form without
// JavaScript), in a map bounded like the visitor buckets.

// actionBuckets are one user's buckets for the message actions.
type actionBuckets struct {
	edit, react, typing *rate.Limiter
}

// action names one of the buckets.
type action uint8

const (
	actEdit action = iota
	actReact
	actTyping
)

// allowAction takes a token from user id's bucket for act at now and
// reports whether there was one. It takes the registry lock; the caller
// may hold a room lock.
func (r *Registry) allowAction(id int64, act action, now time.Time) bool {
	r.mu.Lock()
	b := r.actions[id]
	if b == nil {
		if len(r.actions) >= maxVisitors {
			r.pruneActionsLocked(now)
		}
		b = &actionBuckets{
			edit:   rate.NewLimiter(rate.Limit(r.cfg.EditRate), r.cfg.EditBurst),
			react:  rate.NewLimiter(rate.Limit(r.cfg.ReactRate), r.cfg.ReactBurst),
			typing: rate.NewLimiter(rate.Limit(r.cfg.TypingRate), r.cfg.TypingBurst),
		}
		r.actions[id] = b
	}
	r.mu.Unlock()
	switch act {
	case actEdit:
		return b.edit.AllowN(now, 1)
	case actReact:
		return b.react.AllowN(now, 1)
	default:
		return b.typing.AllowN(now, 1)
	}
}

// pruneActionsLocked forgets the buckets that are full again (they hold
// nothing a new bucket would not); if none is, all of them, which at
// worst grants a few users a fresh burst. r.mu must be held.
func (r *Registry) pruneActionsLocked(now time.Time) {
	for id, b := range r.actions {
		if b.edit.TokensAt(now) >= float64(r.cfg.EditBurst) && b.react.TokensAt(now) >= float64(r.cfg.ReactBurst) &&
			b.typing.TokensAt(now) >= float64(r.cfg.TypingBurst) {
			delete(r.actions, id)
		}
	}
	if len(r.actions) >= maxVisitors {
		clear(r.actions)
	}
}

// bucket returns user id's message bucket if the registry keeps a record
// of them (they have a connection or a membership), else nil.
func (r *Registry) bucket(id int64) *rate.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[id]; u != nil {
		return u.limiter
	}
	return nil
}

// giveBack returns to b the token of a post that was not sent (refused
// after its token was taken: not stored, say), so that it does not count
// against its author. A bucket never holds more than its burst: the token
// given back is a reservation of -1 tokens, and a rate.Limiter caps its
// tokens at the burst each time it counts them.
func giveBack(b *rate.Limiter, now time.Time) {
	b.AllowN(now, -1)
}
