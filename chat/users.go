package chat

import (
	"slices"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// This file holds the registry's per-user and per-session bookkeeping,
// and the users' message buckets.
// Functions named ...Locked need r.mu held; the others take it themselves,
// and their callers may hold a room lock (room before registry), never the
// registry lock.

// user is what the registry keeps about one user across rooms. It lives
// while the user has a connection, a membership (pending ones included)
// or a live room they created, and is dropped as soon as none is left.
type user struct {
	clients     []*Client // at most MaxConnsPerUser
	memberships int       // rooms in which the user is a member
	created     int       // live user rooms the user created
	// limiter is the user's message bucket, shared by all their
	// connections and rooms. It is set once, so Post reads it through a
	// member without the registry lock (a rate.Limiter is safe for
	// concurrent use).
	limiter *rate.Limiter
	// queued is the bytes held for all the user's connections (see
	// Config.UserQueueBytes); each Client adds and releases its own.
	queued atomic.Int64
}

// userLocked returns the record of user id, creating it. r.mu must be held.
func (r *Registry) userLocked(id int64) *user {
	u := r.users[id]
	if u == nil {
		u = &user{limiter: r.visitors[id]}
		if u.limiter != nil {
			delete(r.visitors, id) // a visitor who connects keeps their bucket
		} else {
			u.limiter = rate.NewLimiter(rate.Limit(r.cfg.MessageRate), r.cfg.MessageBurst)
		}
		r.users[id] = u
	}
	return u
}

// holdMembership counts a new membership of user id that has no
// connection (a poster without a socket) and returns the user's record.
func (r *Registry) holdMembership(id int64) (*user, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	u := r.userLocked(id)
	u.memberships++
	return u, nil
}

// dropIdleLocked forgets user id once nothing refers to it. r.mu must be
// held.
func (r *Registry) dropIdleLocked(id int64, u *user) {
	if len(u.clients) == 0 && u.memberships == 0 && u.created == 0 {
		delete(r.users, id)
		// A bucket not yet full again is kept as a visitor bucket, so
		// leaving (a poster's membership running out, say) does not
		// refill it.
		if u.limiter.TokensAt(r.cfg.Now()) < float64(r.cfg.MessageBurst) {
			if len(r.visitors) >= maxVisitors {
				clear(r.visitors)
			}
			r.visitors[id] = u.limiter
		}
	}
}

// admit checks the per-user connection cap and indexes c by user and
// session; fresh counts a new membership. It returns the user's record.
func (r *Registry) admit(c *Client, fresh bool) (*user, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if u := r.users[c.member.ID]; u != nil && len(u.clients) >= r.cfg.MaxConnsPerUser {
		return nil, ErrTooManyConnections
	}
	u := r.userLocked(c.member.ID)
	c.user = u
	u.clients = append(u.clients, c)
	if fresh {
		u.memberships++
	}
	if !c.remote {
		r.sessions[c.session] = append(r.sessions[c.session], c)
	}
	return u, nil
}

// forget undoes admit's indexing of c and reports whether the registry is
// closed. The membership is released separately, when the member goes.
func (r *Registry) forget(c *Client) (closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[c.member.ID]; u != nil {
		u.clients = without(u.clients, c)
		r.dropIdleLocked(c.member.ID, u)
	}
	if c.remote {
		return r.closed
	}
	if s := without(r.sessions[c.session], c); len(s) > 0 {
		r.sessions[c.session] = s
	} else {
		delete(r.sessions, c.session)
	}
	return r.closed
}

// without removes c from clients, not keeping order, and returns nil
// rather than an empty slice so an idle user or session holds nothing.
func without(clients []*Client, c *Client) []*Client {
	i := slices.Index(clients, c)
	if i < 0 {
		return clients
	}
	last := len(clients) - 1
	clients[i] = clients[last]
	clients[last] = nil
	if last == 0 {
		return nil
	}
	return clients[:last]
}

// releaseMembership counts one membership of user id gone.
func (r *Registry) releaseMembership(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[id]; u != nil {
		u.memberships--
		r.dropIdleLocked(id, u)
	}
}

// CloseSession closes every connection opened with the session tag (on
// sign-out). Their Serve calls then end and call Leave. Connections that
// another node serves (JoinRemote) are that node's to close, here, in
// Sessions and in a CloseUser that keeps a session: it holds the session
// (this one knows only its hash), and closing its side ends this one.
func (r *Registry) CloseSession(session string, code int, reason string) {
	r.mu.Lock()
	clients := slices.Clone(r.sessions[session])
	r.mu.Unlock()
	for _, c := range clients {
		c.closeFor(EndSignedOut, code, reason)
	}
}

// CloseUser closes all of a user's connections except those opened with
// keepSession (after a password change or reset, which ends the user's
// other sessions).
func (r *Registry) CloseUser(userID int64, keepSession string, code int, reason string) {
	r.mu.Lock()
	var clients []*Client
	if u := r.users[userID]; u != nil {
		for _, c := range u.clients {
			// A remote connection's tag is a hash, never keepSession:
			// with a session to keep, its own node decides.
			if c.session != keepSession && !(c.remote && keepSession != "") {
				clients = append(clients, c)
			}
		}
	}
	r.mu.Unlock()
	for _, c := range clients {
		c.closeFor(EndSignedOut, code, reason)
	}
}

// Sessions lists the session tags that have connections open, so the
// handlers can close the sockets of sessions that ended elsewhere (expired,
// or deleted by a password change).
func (r *Registry) Sessions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.sessions))
	for s := range r.sessions {
		out = append(out, s)
	}
	return out
}

// maxVisitors bounds the visitor buckets; past it they are all forgotten,
// which at worst grants a few visitors a fresh burst.
const maxVisitors = 10000

// visitorLimiter returns user id's message bucket: their connected one if
// they have connections, else a visitor bucket.
func (r *Registry) visitorLimiter(id int64) *rate.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[id]; u != nil {
		return u.limiter
	}
	l := r.visitors[id]
	if l == nil {
		if len(r.visitors) >= maxVisitors {
			clear(r.visitors)
		}
		l = rate.NewLimiter(rate.Limit(r.cfg.MessageRate), r.cfg.MessageBurst)
		r.visitors[id] = l
	}
	return l
}
