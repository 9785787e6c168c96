package chat

// Store keeps each room's history outside this process: with several
// nodes, in the broker (docs/shared-rooms.md), so that a node taking a
// room over finds its history, and a node that dies loses no message it
// acknowledged. With a Store (Config.Store), every history entry's state
// is put there before anyone is told of it: a text is numbered, stored,
// and only then fanned out and returned by Post; an edit, a deletion or a
// reaction likewise. An entry that cannot be stored is refused with
// ErrNotStored and changes nothing. Presence notices are stored too, but
// shown even if they could not be (the join or leave happened).
//
// The registry calls a Store with the room's lock held, so each room's
// entries reach it in the room's order, one at a time: a Put costs the
// room one round trip to the broker.
type Store interface {
	// Put stores m, the latest state of entry m.Seq of room, replacing
	// the state stored before; it returns once the entry is stored, or an
	// error. The Message's slices must not be modified.
	Put(room string, m Message) error
	// Purge forgets every entry of room: it was destroyed, or (a
	// permanent room) it emptied and starts again from 1.
	Purge(room string)
}

// storeLocked puts m in the Store, if there is one. rm.mu must be held.
func (r *Registry) storeLocked(rm *room, m Message) error {
	if r.cfg.Store == nil {
		return nil
	}
	if err := r.cfg.Store.Put(rm.slug, m); err != nil {
		return ErrNotStored
	}
	return nil
}

// purgeLocked forgets rm's history in the Store, if there is one, unless
// the registry is closed: a node that stops drops its rooms, which live on
// (another node takes them over from the Store). rm.mu must be held.
func (r *Registry) purgeLocked(rm *room) {
	if r.cfg.Store != nil && !r.isClosed() && !rm.dropping {
		r.cfg.Store.Purge(rm.slug)
	}
}
