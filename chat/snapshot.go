package chat

// Snapshots: what a joiner gets first, rendered once per room state and
// brought up to date from the delta log (see the package doc).

// snapshotLocked returns what a joiner of rm gets first: a snapshot and
// the frames fanned out since it was rendered (tail), which together show
// the room as it is now. The snapshot of the room's current version is
// rendered once and shared. Rendering happens without the room lock, so a
// big history does not stall the room's posts; concurrent joiners wait
// for the one that renders instead of rendering too. A joiner whose
// render raced with the room (or who waited for one) gets that snapshot
// with the frames fanned out meanwhile, from the room's delta log; if the
// log no longer holds them all, it renders under the lock, so a joiner of
// a busy room is never starved. ok is false if the room died while
// unlocked. rm.mu must be held; it is held again on return.
func (r *Registry) snapshotLocked(rm *room) (snap []byte, tail [][]byte, ok bool) {
	raced := false
	for {
		if rm.dead {
			return nil, nil, false
		}
		if rm.snap != nil && rm.snapVer == rm.version {
			return rm.snap, nil, true
		}
		if len(rm.snap) >= shareSnapshotMin {
			// A big room's join storm: share the last snapshot, brought
			// up to date by the log, rather than render one per joiner.
			if tail, ok := rm.deltasSince(rm.snapVer); ok {
				return rm.snap, tail, true
			}
		}
		if raced {
			if rm.snap != nil {
				if tail, ok := rm.deltasSince(rm.snapVer); ok {
					return rm.snap, tail, true
				}
			}
			rm.snap, rm.snapVer = r.render.Snapshot(rm.slug, rm.history.slice(), rm.memberList()), rm.version
			return rm.snap, nil, true
		}
		raced = true
		if rm.rendering != nil {
			wait := rm.rendering // another joiner is rendering
			rm.mu.Unlock()
			<-wait
			rm.mu.Lock()
			continue
		}
		ver, history, members := rm.version, rm.history.slice(), rm.memberList()
		done := make(chan struct{})
		rm.rendering = done
		rm.mu.Unlock()
		snap := r.render.Snapshot(rm.slug, history, members)
		rm.mu.Lock()
		close(done)
		rm.rendering = nil
		if _, ok := rm.deltasSince(ver); ok && !rm.dead {
			rm.snap, rm.snapVer = snap, ver
		}
	}
}

// shareSnapshotMin is the snapshot size from which a joiner gets the
// last snapshot and the log's frames after it instead of a new render:
// in a join storm every join changes the room, and rendering (and
// holding until written) a snapshot per joiner cost megabytes a second.
const shareSnapshotMin = 32 << 10

// delta is a frame fanned out to a room and the room's version after it.
type delta struct {
	ver   uint64
	frame []byte
}

// The delta log's bounds: a joiner gets at most this much after the
// shared snapshot; past it, the snapshot is rendered again.
const (
	maxDeltas     = 32
	maxDeltaBytes = 64 << 10
)

// logDelta records frame, just fanned out, as the delta to the current
// version. rm.mu must be held.
func (rm *room) logDelta(frame []byte) {
	rm.deltas = append(rm.deltas, delta{rm.version, frame})
	rm.deltaBytes += len(frame)
	for len(rm.deltas) > maxDeltas || (rm.deltaBytes > maxDeltaBytes && len(rm.deltas) > 0) {
		rm.deltaBase = rm.deltas[0].ver
		rm.deltaBytes -= len(rm.deltas[0].frame)
		rm.deltas[0] = delta{} // don't pin the frame
		rm.deltas = rm.deltas[1:]
	}
}

// resetDeltas empties the delta log after a change that no frame tells
// (or to free it): only a view of the current version is up to date.
// rm.mu must be held.
func (rm *room) resetDeltas() {
	rm.deltas, rm.deltaBytes, rm.deltaBase = nil, 0, rm.version
}

// deltasSince returns the frames that bring a view of version ver (a
// snapshot) up to the current version, and whether the log holds them.
// rm.mu must be held.
func (rm *room) deltasSince(ver uint64) ([][]byte, bool) {
	if ver == rm.version {
		return nil, true
	}
	n := len(rm.deltas)
	if ver < rm.deltaBase || n == 0 || rm.deltas[n-1].ver != rm.version {
		return nil, false // too old, or a change not told (yet)
	}
	i := 0
	for i < n && rm.deltas[i].ver <= ver {
		i++
	}
	// ver must be a version the log passes through, not one inside an
	// event (between its changes and its fan-out).
	if ver != rm.deltaBase && (i == 0 || rm.deltas[i-1].ver != ver) {
		return nil, false
	}
	tail := make([][]byte, 0, n-i)
	for _, d := range rm.deltas[i:] {
		tail = append(tail, d.frame)
	}
	return tail, true
}
