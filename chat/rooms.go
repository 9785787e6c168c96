package chat

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Rooms and their life: creation, lookup, the lobby, expiry and
// destruction. The room type itself is in room.go.

// RoomInfo is one line of the lobby.
type RoomInfo struct {
	Slug string
	// Members counts members, including those inside their grace period.
	Members   int
	Permanent bool
	// Private rooms are listed only to those they admit (RoomsFor);
	// Direct ones are a direct conversation of two users.
	Private bool
	Direct  bool
	With    string // a direct room's other user, for the user who asks
}

// Ensure makes sure room slug exists, creating it for creator (counted
// against MaxRooms and the creator's MaxRoomsPerUser) without joining it;
// the handler calls it when a user opens the room page, before the socket
// connects. A room that nobody joins is destroyed after Grace (with Grace
// zero, at once but asynchronously: Room may then report it missing). A
// direct room's slug (DirectPrefix) that does not exist is ErrNoRoom:
// only Direct makes those.
func (r *Registry) Ensure(slug string, creator Member) error {
	rm, created, err := r.lookupOrCreate(slug, creator, forCreate, nil)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !created {
		if rm.barredLocked(creator.ID) {
			return ErrNoRoom // a private room is not there for outsiders
		}
		return nil
	}
	if err := r.createdLocked(rm); err != nil {
		return err
	}
	r.armEmptyLocked(rm)
	return nil
}

// lookupMode says what lookupOrCreate does with a room that does not
// exist, and whether it first checks the joiner's connection cap.
type lookupMode uint8

const (
	// forCreate creates the room (Ensure, EnsurePrivate).
	forCreate lookupMode = iota
	// forDirect creates the room, and may create a direct room's slug
	// (Direct, which makes it private before anyone sees it).
	forDirect
	// forJoin checks the joiner's connection cap, then creates the room
	// (Join of a public room's page).
	forJoin
	// forJoinExisting checks the joiner's connection cap and never
	// creates: a room that does not exist is ErrNoRoom (JoinPrivate).
	forJoinExisting
)

// lookupOrCreate returns room slug, creating it for creator if it does not
// exist and mode allows it. A join (forJoin, forJoinExisting) first checks
// the creator's connection cap, so a Join that is bound to fail creates
// nothing. A slug of a direct room (DirectPrefix) is created only by
// Direct: anything else would make a public room under the name of two
// users' conversation, where Direct would then send them. A created room
// has no timer yet: the caller arms one (under the room lock) unless it
// joins the room. setup, if not nil, prepares a new room (makes it
// private) before anyone can see it.
func (r *Registry) lookupOrCreate(slug string, creator Member, mode lookupMode, setup func(*room) error) (rm *room, created bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false, ErrClosed
	}
	u := r.users[creator.ID]
	if (mode == forJoin || mode == forJoinExisting) && u != nil && len(u.clients) >= r.cfg.MaxConnsPerUser {
		return nil, false, ErrTooManyConnections
	}
	if rm := r.rooms[slug]; rm != nil {
		return rm, false, nil
	}
	if mode == forJoinExisting || (mode != forDirect && strings.HasPrefix(slug, DirectPrefix)) {
		return nil, false, ErrNoRoom
	}
	if r.userRooms >= r.cfg.MaxRooms {
		return nil, false, ErrTooManyRooms
	}
	if u != nil && u.created >= r.cfg.MaxRoomsPerUser {
		return nil, false, ErrTooManyRoomsForUser
	}
	rm = newRoom(slug, false, creator.ID, &r.cfg)
	if setup != nil {
		if err := setup(rm); err != nil {
			return nil, false, err
		}
	}
	r.userLocked(creator.ID).created++
	r.userRooms++
	r.rooms[slug] = rm
	return rm, true, nil
}

// lookup returns room slug, or ErrClosed or ErrNoRoom.
func (r *Registry) lookup(slug string) (*room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if rm := r.rooms[slug]; rm != nil {
		return rm, nil
	}
	return nil, ErrNoRoom
}

// Room returns copies of room slug's history (oldest first) and members
// (in join order) for rendering the room page; ok is false if the room
// does not exist. It does not check who asks: the handlers use RoomFor.
func (r *Registry) Room(slug string) (history []Message, members []Member, ok bool) {
	rm, err := r.lookup(slug)
	if err != nil {
		return nil, nil, false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead {
		return nil, nil, false
	}
	return rm.history.slice(), rm.memberList(), true
}

// Rooms lists the public rooms for the lobby: the permanent ones first, in
// Config order, even when empty; then the live public user rooms by slug.
// Private rooms are left out: RoomsFor adds those a user may see.
func (r *Registry) Rooms() []RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RoomInfo, 0, len(r.rooms))
	for _, rm := range r.permanent {
		out = append(out, RoomInfo{Slug: rm.slug, Members: int(rm.nmembers.Load()), Permanent: true})
	}
	n := len(out)
	for _, rm := range r.rooms {
		if !rm.permanent && !rm.private {
			out = append(out, RoomInfo{Slug: rm.slug, Members: int(rm.nmembers.Load())})
		}
	}
	slices.SortFunc(out[n:], func(a, b RoomInfo) int { return cmp.Compare(a.Slug, b.Slug) })
	return out
}

// armEmptyLocked starts the timer that destroys rm after Grace unless
// someone joins it first.
func (r *Registry) armEmptyLocked(rm *room) {
	if rm.permanent || rm.dead || len(rm.members) > 0 || rm.emptyTimer != nil {
		return
	}
	gen := rm.emptyGen
	rm.emptyTimer = time.AfterFunc(r.cfg.Grace, func() { r.expireEmpty(rm, gen) })
}

// expireEmpty is the timer of a room that nobody joined since it was
// created: it destroys the room if that is still so.
func (r *Registry) expireEmpty(rm *room, gen uint64) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead || rm.emptyGen != gen || len(rm.members) > 0 {
		return
	}
	r.destroyLocked(rm)
}

// destroyLocked ends an empty room: a user room leaves the registry (a
// joiner holding it will see dead and look again); a permanent room only
// loses its history and the members removed from it. Calling it twice is
// harmless.
func (r *Registry) destroyLocked(rm *room) {
	rm.typing.reset()
	if rm.permanent {
		r.purgeLocked(rm)
		rm.resetHistory()
		rm.access.removed = nil // a removal lasts while the room lives
		rm.removals.Store(false)
		return
	}
	if rm.dead {
		return
	}
	rm.dead = true
	rm.stopEmptyTimer()
	r.purgeLocked(rm)
	rm.history.reset()
	r.dropRoom(rm)
}

// dropRoom takes a destroyed user room out of the registry and off its
// creator's count.
func (r *Registry) dropRoom(rm *room) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms[rm.slug] == rm {
		delete(r.rooms, rm.slug)
		r.userRooms--
	}
	if u := r.users[rm.creator]; u != nil {
		u.created--
		r.dropIdleLocked(rm.creator, u)
	}
}
