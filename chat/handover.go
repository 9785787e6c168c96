package chat

import "sync"

// Handing a room over (several nodes; docs/shared-rooms.md): a node that
// lets a room go gracefully (Close on SIGTERM, Drop) while it still holds
// it stores who is in the room, with a Store that is a HandoverStore, so
// that the node taking the room over (Restore) keeps them as members with
// no connection, waiting out the grace period as on one node after their
// last connection dropped: one who comes back within Grace is not
// announced again, one who does not leaves with the usual notice.

// HandoverStore is a SettingsStore that also keeps, when a node lets a
// room go, who was in it.
type HandoverStore interface {
	// PutHandover stores room's settings with Members and HandedOver set,
	// replacing those stored before, within a short time (best effort: a
	// failure only means the members are announced again when they
	// rejoin). Settings stored later by the next holder carry no members.
	PutHandover(room string, s RoomSettings) error
}

// maxHandoverMembers bounds the members a handover stores; members beyond
// it (in join order) are announced again when they rejoin.
const maxHandoverMembers = 1000

// handoverLocked returns rm's settings with its members for a handover,
// or false if the Store keeps no handover or rm has no member. rm.mu must
// be held.
func (r *Registry) handoverLocked(rm *room) (RoomSettings, bool) {
	if _, ok := r.cfg.Store.(HandoverStore); !ok || len(rm.order) == 0 || rm.dead {
		return RoomSettings{}, false
	}
	s := rm.settingsLocked()
	members := rm.memberList()
	s.Members = members[:min(len(members), maxHandoverMembers)]
	s.HandedOver = r.cfg.Now()
	return s, true
}

// storeHandovers stores each room's handover, all at once, and returns
// when every one is stored or failed.
func (r *Registry) storeHandovers(handovers map[string]RoomSettings) {
	hs, ok := r.cfg.Store.(HandoverStore)
	if !ok {
		return
	}
	var wg sync.WaitGroup
	for slug, s := range handovers {
		wg.Go(func() { _ = hs.PutHandover(slug, s) })
	}
	wg.Wait()
}

// restoreMembersLocked makes the members of a handover members of rm with
// no connection, their grace period running, if the handover is recent
// enough for them to be waiting still (a room's settings keep the members
// of its last handover until the next change; a holder killed since must
// not bring them back). rm.mu must be held.
func (r *Registry) restoreMembersLocked(rm *room, s RoomSettings) {
	if len(s.Members) == 0 || r.cfg.Grace == 0 || len(rm.members) > 0 {
		return
	}
	if age := r.cfg.Now().Sub(s.HandedOver); age < 0 || age > r.cfg.Grace {
		return
	}
	for _, m := range s.Members[:min(len(s.Members), maxHandoverMembers)] {
		if m.ID == 0 || rm.members[m.ID] != nil || rm.barredLocked(m.ID) {
			continue
		}
		u, err := r.holdMembership(m.ID)
		if err != nil {
			return
		}
		mem := rm.addMember(m, u)
		r.armGraceLocked(rm, mem)
	}
	if len(rm.members) > 0 {
		rm.stopEmptyTimer()
	}
	rm.resetDeltas() // a change no frame tells
}
