package chat

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
)

// Private rooms, direct rooms, invitation links and removed members. Who
// may enter a room is kept with the room, in memory, and goes with it:
// rooms stay ephemeral. A user a room bars is told the same as for a room
// that does not exist (ErrNoRoom), so that its name and members show to
// nobody outside it.

// access says who may enter a room. Its fields are guarded by the room's
// mutex.
type access struct {
	allowed map[int64]bool // private rooms: the users admitted
	removed map[int64]bool // users removed from the room, for its life
	invite  string         // private, non-direct rooms: the invitation token
	// inviteHash is invite's hash (inviteHash), which is what is checked:
	// a room restored from another node has it without the token.
	inviteHash []byte
	direct     [2]Member // direct rooms: the two users; zero otherwise
}

// Errors of private rooms. Their texts are written for the user.
var (
	// ErrNameTaken: a private room cannot take a name in use.
	ErrNameTaken error = &Error{Limit, "This name is not available; choose another."}
	// ErrNotOwner: only the room's owner (or an admin) may do this.
	ErrNotOwner error = &Error{Forbidden, "Only the room's owner can do this."}
	// ErrRemoveSelf: a member cannot remove themselves.
	ErrRemoveSelf error = &Error{Forbidden, "You cannot remove yourself; leave the room instead."}
)

// RemovedReason is the close reason a removed member's sockets get.
func RemovedReason(slug string) string { return "You were removed from #" + slug + "." }

// Remove takes user target out of room slug for the room's life, on behalf
// of user by, who must be its owner (its creator) or, with admin set, an
// admin: target's connections to it close with 1008 and RemovedReason,
// the others are told they left, and target cannot enter it again (Join,
// PostVisitor, RoomFor and the invitation link all refuse them). Someone
// the room bars gets ErrNoRoom; another member ErrNotOwner.
func (r *Registry) Remove(slug string, by int64, admin bool, target int64) error {
	rm, err := r.lookup(slug)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	switch {
	case rm.dead || rm.barredLocked(by):
		return ErrNoRoom
	case !admin && (rm.permanent || rm.creator != by):
		return ErrNotOwner
	case target == by:
		return ErrRemoveSelf
	}
	if rm.access.removed == nil {
		rm.access.removed = make(map[int64]bool)
	}
	wasRemoved, wasAllowed := rm.access.removed[target], rm.access.allowed[target]
	rm.access.removed[target] = true
	delete(rm.access.allowed, target)
	if err := r.saveSettingsLocked(rm); err != nil {
		// Not stored: nothing changes, and the owner may try again.
		if !wasRemoved {
			delete(rm.access.removed, target)
		}
		if wasAllowed {
			rm.access.allowed[target] = true
		}
		return err
	}
	rm.removals.Store(true)
	reason := RemovedReason(slug)
	for _, c := range slices.Clone(rm.clients) {
		if c.member.ID == target {
			c.closeFor(EndRemoved, ClosePolicyViolation, reason)
			// Out of the room now, so that Leave (when Serve ends) finds
			// nothing left to do.
			rm.removeClient(c)
			r.forget(c)
		}
	}
	if mem := rm.members[target]; mem != nil {
		r.removeMemberLocked(rm, mem, true)
	}
	return nil
}

// DirectPrefix starts the slug of every direct room; user-made rooms may
// not use it, so that a direct room's slug cannot be taken by anyone else.
const DirectPrefix = "dm-"

// newInviteToken returns 32 random bytes, base64url without padding.
func newInviteToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// makePrivate makes a new room private, admitting only its creator, with a
// fresh invitation token. The room is not yet in the registry.
func (rm *room) makePrivate(creator int64) error {
	tok, err := newInviteToken()
	if err != nil {
		return err
	}
	rm.private = true
	rm.access.allowed = map[int64]bool{creator: true}
	rm.access.invite = tok
	rm.access.inviteHash = inviteHash(tok)
	return nil
}

// barredLocked reports whether user id may not see or enter rm: they were
// removed from it, or it is private and they were not admitted. A dead
// room bars nobody (a joiner looks again). rm.mu must be held.
func (rm *room) barredLocked(id int64) bool {
	if rm.dead {
		return false
	}
	return rm.access.removed[id] || (rm.private && !rm.access.allowed[id])
}

// EnsurePrivate creates private room slug for creator, like Ensure (the
// same caps, and it dies after Grace if nobody joins it). A name in use
// gets ErrNameTaken, whoever holds it, unless it is creator's own private
// room: then nothing changes.
func (r *Registry) EnsurePrivate(slug string, creator Member) error {
	if strings.HasPrefix(slug, DirectPrefix) {
		return ErrNameTaken
	}
	rm, created, err := r.lookupOrCreate(slug, creator, forCreate, func(rm *room) error { return rm.makePrivate(creator.ID) })
	if err != nil {
		return err
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !created {
		if rm.private && rm.access.direct[0].ID == 0 && !rm.barredLocked(creator.ID) {
			return nil
		}
		return ErrNameTaken
	}
	if err := r.createdLocked(rm); err != nil {
		return err
	}
	r.armEmptyLocked(rm)
	return nil
}

// PostVisitorPrivate is PostVisitor for the form of a page that showed
// room slug as private (or direct): a room that is not private (the
// private one ended and a public room of that name was opened since) is
// refused with ErrNoRoom, as one that does not exist is, so that what a
// member meant for a private room never lands in a public one. The
// check and the post are atomic.
func (r *Registry) PostVisitorPrivate(slug string, m Member, text string, mentions ...Member) (Message, error) {
	return r.postVisitor(slug, m, true, text, mentions)
}

// Barred reports whether room slug exists and user id may not see it: the
// handlers then answer as for a room that does not exist.
func (r *Registry) Barred(slug string, id int64) bool {
	rm, err := r.lookup(slug)
	if err != nil {
		return false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.barredLocked(id)
}

// RoomView is a room as one user sees it, for the room page.
type RoomView struct {
	History []Message
	Members []Member
	Owner   int64 // the creator; 0 for a permanent room
	Private bool
	// Direct is set for a direct room; With is the other user then.
	Direct bool
	With   Member
	// Invite is the invitation token of a private, non-direct room.
	Invite string
}

// RoomFor returns room slug as user id sees it; ok is false if the room
// does not exist or bars them.
func (r *Registry) RoomFor(slug string, id int64) (v RoomView, ok bool) {
	rm, err := r.lookup(slug)
	if err != nil {
		return RoomView{}, false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead || rm.barredLocked(id) {
		return RoomView{}, false
	}
	v = RoomView{History: rm.history.slice(), Members: rm.memberList(), Owner: rm.creator, Private: rm.private, Invite: rm.access.invite}
	if d := rm.access.direct; d[0].ID != 0 {
		v.Direct, v.Invite, v.With = true, "", d[0]
		if d[0].ID == id {
			v.With = d[1]
		}
	}
	return v, true
}

// RoomsFor lists the rooms user id sees in the lobby: Rooms, less those
// they were removed from, plus the live private rooms that admit them.
func (r *Registry) RoomsFor(id int64) []RoomInfo {
	r.mu.Lock()
	var rooms []*room
	for _, rm := range r.rooms {
		if !rm.permanent {
			rooms = append(rooms, rm)
		}
	}
	r.mu.Unlock()
	out := make([]RoomInfo, 0, len(r.cfg.Permanent)+len(rooms))
	for _, rm := range r.permanent {
		out = append(out, RoomInfo{Slug: rm.slug, Members: int(rm.nmembers.Load()), Permanent: true})
	}
	n := len(out)
	for _, rm := range rooms {
		if !rm.private && !rm.removals.Load() {
			// Most rooms: public, nobody removed; no lock, as in Rooms.
			out = append(out, RoomInfo{Slug: rm.slug, Members: int(rm.nmembers.Load())})
			continue
		}
		rm.mu.Lock()
		if !rm.dead && !rm.barredLocked(id) {
			info := RoomInfo{Slug: rm.slug, Members: int(rm.nmembers.Load()), Private: rm.private}
			if d := rm.access.direct; d[0].ID != 0 {
				info.Direct, info.With = true, d[0].Name
				if d[0].ID == id {
					info.With = d[1].Name
				}
			}
			out = append(out, info)
		}
		rm.mu.Unlock()
	}
	slices.SortFunc(out[n:], func(a, b RoomInfo) int { return cmp.Compare(a.Slug, b.Slug) })
	return out
}

// AdmitByInvite admits user id to private room slug for the room's life if
// token is its invitation token. It reports false, changing nothing, if
// the room does not exist, is not private, the token is wrong, or the
// user was removed from it.
func (r *Registry) AdmitByInvite(slug string, id int64, token string) bool {
	rm, err := r.lookup(slug)
	if err != nil {
		return false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !r.inviteMatchesLocked(rm, token) || rm.access.removed[id] {
		return false
	}
	if rm.access.allowed[id] {
		return true
	}
	rm.access.allowed[id] = true
	if r.saveSettingsLocked(rm) != nil {
		delete(rm.access.allowed, id) // not stored: not admitted
		return false
	}
	return true
}

// InviteValid reports whether token is the invitation token of live
// private room slug, and id could use it (they were not removed).
func (r *Registry) InviteValid(slug string, id int64, token string) bool {
	rm, err := r.lookup(slug)
	if err != nil {
		return false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return r.inviteMatchesLocked(rm, token) && !rm.access.removed[id]
}

// inviteMatchesLocked compares token with rm's in constant time.
func (r *Registry) inviteMatchesLocked(rm *room, token string) bool {
	if rm.dead || !rm.private {
		return false
	}
	return hashMatches(rm.access.inviteHash, token)
}

// NewInvite gives private room slug a new invitation token, which ends the
// old one, and returns it. Only the room's owner may: an outsider gets
// ErrNoRoom, another member ErrNotOwner. Those already admitted stay.
func (r *Registry) NewInvite(slug string, id int64) (string, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return "", err
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead || rm.barredLocked(id) {
		return "", ErrNoRoom
	}
	if !rm.private || rm.access.direct[0].ID != 0 || rm.creator != id {
		return "", ErrNotOwner
	}
	tok, err := newInviteToken()
	if err != nil {
		return "", err
	}
	old, oldHash := rm.access.invite, rm.access.inviteHash
	rm.access.invite, rm.access.inviteHash = tok, inviteHash(tok)
	if err := r.saveSettingsLocked(rm); err != nil {
		rm.access.invite, rm.access.inviteHash = old, oldHash
		return "", err
	}
	return tok, nil
}

// DirectSlug is the slug of the direct room of users a and b, the same
// whichever asks.
func DirectSlug(a, b int64) string {
	lo, hi := min(a, b), max(a, b)
	return DirectPrefix + strconv.FormatInt(lo, 10) + "-" + strconv.FormatInt(hi, 10)
}

// Direct returns the slug of the direct room of a and b (DirectSlug),
// creating it for a if none lives: a private room that admits exactly the
// two of them, has no invitation link, and dies like any room (after
// Grace if nobody joins it). created tells whether it is new. A user
// removed from it gets ErrNoRoom while it lives.
func (r *Registry) Direct(a, b Member) (slug string, created bool, err error) {
	slug = DirectSlug(a.ID, b.ID)
	setup := func(rm *room) error {
		rm.private = true
		rm.access.allowed = map[int64]bool{a.ID: true, b.ID: true}
		rm.access.direct = [2]Member{a, b}
		return nil
	}
	for {
		rm, created, err := r.lookupOrCreate(slug, a, forDirect, setup)
		if err != nil {
			return "", false, err
		}
		rm.mu.Lock()
		switch {
		case rm.dead:
			rm.mu.Unlock()
			continue // its last member just left: make a new one
		case created:
			if err := r.createdLocked(rm); err != nil {
				rm.mu.Unlock()
				return "", false, err
			}
			r.armEmptyLocked(rm)
		case rm.barredLocked(a.ID), rm.access.direct[0].ID == 0:
			// Barred, or a room under this slug that Direct did not make
			// (a node of an older version may have): never the pair's
			// conversation.
			rm.mu.Unlock()
			return "", false, ErrNoRoom
		}
		rm.mu.Unlock()
		return slug, created, nil
	}
}

// SendUser queues frame to every connection of user id, in whatever room,
// and returns how many took it (a notice; see Client.Send). Connections
// that another node serves (JoinRemote) are left to that node.
func (r *Registry) SendUser(id int64, frame []byte) int {
	r.mu.Lock()
	var clients []*Client
	if u := r.users[id]; u != nil {
		clients = slices.Clone(u.clients)
	}
	r.mu.Unlock()
	n := 0
	for _, c := range clients {
		if !c.remote && c.Send(frame) {
			n++
		}
	}
	return n
}
