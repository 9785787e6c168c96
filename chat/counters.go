package chat

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Counters are running totals since the registry started, for metrics.
// Unlike Stats, which says what the registry holds now, they only grow.
type Counters struct {
	Posted        int64 // chat messages posted (notices not counted)
	Deliveries    int64 // frames queued to connections (one per connection per event)
	SnapshotBytes int64 // bytes of snapshots queued to joining connections
	// Evictions counts connections closed as too slow, by which limit
	// they passed: "queue frames", "queue bytes" or "user bytes".
	Evictions map[string]int64
	// Ended counts connections that Serve ended, by reason (the End*
	// constants: evicted, ping timeout, signed out, ...).
	Ended map[string]int64
}

// The limits an eviction names in Counters.Evictions.
const (
	evictFrames    = "queue frames"
	evictBytes     = "queue bytes"
	evictUserBytes = "user bytes"
)

// counters are the registry's Counters as they are counted: atomics on
// the hot paths, a small map (a fixed set of reasons) for the rest.
type counters struct {
	posted, deliveries, snapshotBytes atomic.Int64

	mu        sync.Mutex
	evictions map[string]int64
	ended     map[string]int64
}

func (k *counters) evicted(why string) {
	k.mu.Lock()
	if k.evictions == nil {
		k.evictions = map[string]int64{}
	}
	k.evictions[why]++
	k.mu.Unlock()
}

func (k *counters) endedFor(reason string) {
	k.mu.Lock()
	if k.ended == nil {
		k.ended = map[string]int64{}
	}
	k.ended[reason]++
	k.mu.Unlock()
}

// Counters returns the totals so far.
func (r *Registry) Counters() Counters {
	k := &r.count
	k.mu.Lock()
	defer k.mu.Unlock()
	return Counters{
		Posted:        k.posted.Load(),
		Deliveries:    k.deliveries.Load(),
		SnapshotBytes: k.snapshotBytes.Load(),
		Evictions:     maps.Clone(k.evictions),
		Ended:         maps.Clone(k.ended),
	}
}
