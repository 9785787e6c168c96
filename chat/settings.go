package chat

import (
	"crypto/sha256"
	"crypto/subtle"
	"maps"
	"slices"
	"time"
)

// A room's settings travel with it (several nodes; docs/shared-rooms.md):
// who created it, whether it is private or direct, who it admits, who was
// removed from it, and its invitation token's hash. With a Store that is
// also a SettingsStore, a room's settings are stored when it is created
// and on each change, before the change takes effect, and a node taking
// the room over rebuilds it with Restore: a private room never becomes
// public by changing hands.

// RoomSettings is what a room keeps besides its history and members.
type RoomSettings struct {
	Creator int64   `json:"creator,omitempty"`
	Private bool    `json:"private,omitempty"`
	Allowed []int64 `json:"allowed,omitempty"`
	Removed []int64 `json:"removed,omitempty"`
	// InviteHash is the SHA-256 of the invitation token; the token itself
	// stays with the node that made it (after a takeover, its creator
	// makes a new link to see one again; the old one keeps working).
	InviteHash []byte    `json:"invite_hash,omitempty"`
	Direct     [2]Member `json:"direct,omitzero"`
	// Members and HandedOver are set by a handover (HandoverStore): who
	// was in the room when its holder let it go, and when.
	Members    []Member  `json:"members,omitempty"`
	HandedOver time.Time `json:"handed_over,omitzero"`
}

// SettingsStore is a Store that also keeps each room's settings.
type SettingsStore interface {
	// PutSettings stores room's settings, replacing those stored before;
	// it returns once they are stored, or an error. They are forgotten
	// with the room's history (Purge).
	PutSettings(room string, s RoomSettings) error
}

// inviteHash is the hash of an invitation token that a room keeps.
func inviteHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// hashMatches compares token's hash with h in constant time.
func hashMatches(h []byte, token string) bool {
	return len(h) == sha256.Size && subtle.ConstantTimeCompare(inviteHash(token), h) == 1
}

// settingsLocked returns rm's settings. rm.mu must be held.
func (rm *room) settingsLocked() RoomSettings {
	s := RoomSettings{
		Private:    rm.private,
		Allowed:    slices.Sorted(maps.Keys(rm.access.allowed)),
		Removed:    slices.Sorted(maps.Keys(rm.access.removed)),
		InviteHash: rm.access.inviteHash,
		Direct:     rm.access.direct,
	}
	if !rm.permanent {
		s.Creator = rm.creator
	}
	return s
}

// saveSettingsLocked stores rm's settings, if the Store keeps settings.
// rm.mu must be held.
func (r *Registry) saveSettingsLocked(rm *room) error {
	ss, ok := r.cfg.Store.(SettingsStore)
	if !ok {
		return nil
	}
	if err := ss.PutSettings(rm.slug, rm.settingsLocked()); err != nil {
		return ErrNotStored
	}
	return nil
}

// createdLocked stores the settings of rm, which was just created: a room
// whose settings cannot be stored is destroyed at once (another node
// taking it over would not know who it admits) and ErrNotStored returned.
// rm.mu must be held.
func (r *Registry) createdLocked(rm *room) error {
	if err := r.saveSettingsLocked(rm); err != nil {
		r.destroyLocked(rm)
		return err
	}
	return nil
}

// Restore puts room slug, held by another node until now, back together
// here from the settings and history (oldest first) that node stored,
// before anyone joins it: this node has just taken the room over. A user
// room is created (counted against its creator as if they had made it
// here, beyond the caps: it exists already) and dies after Grace unless
// someone joins; a permanent room takes the history if it has none of its
// own. The members of a recent handover (s.Members, HandoverStore) are
// members again, with no connection and their grace period running, so
// that their rejoining is not announced. A room that lives here already
// is left as it is. Errors: ErrClosed.
func (r *Registry) Restore(slug string, s RoomSettings, history []Message) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	rm := r.rooms[slug]
	fresh := rm == nil
	if fresh {
		rm = newRoom(slug, false, s.Creator, &r.cfg)
		rm.private = s.Private
		if len(s.Allowed) > 0 {
			rm.access.allowed = make(map[int64]bool, len(s.Allowed))
			for _, id := range s.Allowed {
				rm.access.allowed[id] = true
			}
		} else if s.Private {
			rm.access.allowed = make(map[int64]bool)
		}
		rm.access.inviteHash = s.InviteHash
		rm.access.direct = s.Direct
		r.userLocked(s.Creator).created++
		r.userRooms++
		r.rooms[slug] = rm
	}
	r.mu.Unlock()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !fresh && (!rm.permanent || rm.seq > 0 || len(rm.members) > 0) {
		return nil
	}
	if len(s.Removed) > 0 {
		rm.access.removed = make(map[int64]bool, len(s.Removed))
		for _, id := range s.Removed {
			rm.access.removed[id] = true
		}
		rm.removals.Store(true)
	}
	for _, m := range history {
		if m.Seq <= rm.seq {
			continue
		}
		m.Room = slug
		rm.history.push(m, len(r.render.Message(slug, m)))
		if len(m.Reactions) > 0 {
			i := rm.history.find(m.Seq)
			size, _ := rm.history.sizes(i)
			rm.history.replace(i, m, size, len(r.render.Reactions(slug, m)))
		}
		rm.seq = m.Seq
	}
	rm.changed()
	r.restoreMembersLocked(rm, s)
	r.armEmptyLocked(rm)
	return nil
}

// Live returns the slugs of the rooms this registry has that hold
// something: every user room, and the permanent rooms with members or
// history (a permanent room is always here, and empty on a node that
// does not hold it).
func (r *Registry) Live() []string {
	r.mu.Lock()
	rooms := make([]*room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		rooms = append(rooms, rm)
	}
	r.mu.Unlock()
	var out []string
	for _, rm := range rooms {
		if rm.live() {
			out = append(out, rm.slug)
		}
	}
	return out
}

// IsLive reports whether room slug is among those Live returns.
func (r *Registry) IsLive(slug string) bool {
	rm, err := r.lookup(slug)
	return err == nil && rm.live()
}

func (rm *room) live() bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return !rm.dead && (!rm.permanent || rm.seq > 0 || len(rm.members) > 0)
}

// MovedReason is the close reason of the sockets of a room that Drop let
// go: the browser reconnects and finds the room where it is held now.
const MovedReason = "The room moved to another server; reconnecting."

// Drop lets room slug go without destroying it: this node no longer holds
// it (another node does, or will, from what the Store holds). Its
// connections close with 1012 and MovedReason, its members leave without
// a notice, and it is forgotten here but not in the Store (with a
// HandoverStore, its members are stored first); a permanent room stays,
// empty. It returns how many connections it closed.
func (r *Registry) Drop(slug string) int {
	rm, err := r.lookup(slug)
	if err != nil {
		return 0
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead {
		return 0
	}
	if s, ok := r.handoverLocked(rm); ok {
		// Best effort, before the members go: refused at once if this
		// node no longer holds the room (the new holder has them).
		_ = r.cfg.Store.(HandoverStore).PutHandover(slug, s)
	}
	clients := slices.Clone(rm.clients)
	for _, c := range clients {
		c.closeFor(EndMoved, CloseServiceRestart, MovedReason)
		// Out of the room now, so that Leave (when Serve ends) finds
		// nothing left to do.
		rm.removeClient(c)
		r.forget(c)
	}
	rm.dropping = true
	defer func() { rm.dropping = false }()
	rm.stopEmptyTimer()
	for _, mem := range slices.Clone(rm.order) {
		mem.stopTimer()
		r.removeMemberLocked(rm, mem, false) // the last one destroys the room
	}
	r.destroyLocked(rm) // a room nobody joined, or a permanent one
	return len(clients)
}
