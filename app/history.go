package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"natter/chat"
	"natter/cluster"
)

// The registry's Store when rooms are shared through NATS (shared.go).

// storeTimeout bounds one put or purge of a room's history in the broker;
// a post waits for it.
const storeTimeout = 5 * time.Second

// brokerHistory is chat's Store on the history stream (cluster.History):
// each room this node holds writes its entries, chat Messages as JSON,
// through a RoomHistory of its own, opened when the node takes the room
// over (load) or at its first entry.
type brokerHistory struct {
	h   *cluster.History
	log *slog.Logger
	// holds, if set, tells whether this node holds a room: only then may
	// it write or purge the room's history. purged, if set, is told of a
	// room whose history was purged (it was destroyed).
	holds  func(slug string) bool
	purged func(slug string)
	// ready, if set, tells whether this node holds room slug and restored
	// it: only then may it store a handover (PutHandover).
	ready func(slug string) bool
	// notHeld, if set, is told (in a goroutine of its own) of a room whose
	// write was refused because this node does not hold it; unknown, of a
	// room whose write failed (the broker may have it all the same: a put
	// whose answer never came).
	notHeld, unknown func(slug string)

	mu    sync.Mutex
	rooms map[string]*cluster.RoomHistory
}

func newBrokerHistory(h *cluster.History, log *slog.Logger) *brokerHistory {
	return &brokerHistory{h: h, log: log, rooms: make(map[string]*cluster.RoomHistory)}
}

// load opens room slug's history for this node, which has just claimed
// the room, and returns the settings and entries its previous owner
// stored, oldest first; found is false if it stored no settings (nobody
// made the room, or a permanent room).
func (b *brokerHistory) load(ctx context.Context, slug string) (settings chat.RoomSettings, found bool, _ []chat.Message, _ error) {
	rh, entries, err := b.h.Open(ctx, slug)
	if err != nil {
		return settings, false, nil, err
	}
	out := make([]chat.Message, 0, len(entries))
	for _, e := range entries {
		if e.Seq == cluster.SettingsSeq {
			if err := json.Unmarshal(e.Data, &settings); err != nil {
				return settings, false, nil, fmt.Errorf("the settings of room %s cannot be read (%v)", slug, err)
			}
			found = true
			continue
		}
		var m chat.Message
		if err := json.Unmarshal(e.Data, &m); err != nil || m.Seq != e.Seq {
			return settings, false, nil, fmt.Errorf("the history of room %s: entry %d cannot be read (%v)", slug, e.Seq, err)
		}
		out = append(out, m)
	}
	b.mu.Lock()
	b.rooms[slug] = rh
	b.mu.Unlock()
	return settings, found, out, nil
}

// room returns the RoomHistory of slug, opening it if this node has not.
func (b *brokerHistory) room(ctx context.Context, slug string) (*cluster.RoomHistory, error) {
	b.mu.Lock()
	rh := b.rooms[slug]
	b.mu.Unlock()
	if rh != nil {
		return rh, nil
	}
	rh, _, err := b.h.Open(ctx, slug)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if had := b.rooms[slug]; had != nil {
		return had, nil
	}
	b.rooms[slug] = rh
	return rh, nil
}

// errNotHeld refuses to write the history of a room held elsewhere.
var errNotHeld = errors.New("the room is not held by this node")

// mayWrite reports whether this node may write room slug's history.
func (b *brokerHistory) mayWrite(slug string) bool { return b.holds == nil || b.holds(slug) }

// forget closes this node's handle on room slug's history: another node
// holds the room now.
func (b *brokerHistory) forget(slug string) {
	b.mu.Lock()
	delete(b.rooms, slug)
	b.mu.Unlock()
}

// Put stores m in the broker and returns once it is there (chat.Store).
func (b *brokerHistory) Put(slug string, m chat.Message) error {
	return b.put(slug, m, func(ctx context.Context, rh *cluster.RoomHistory, data []byte) error {
		return rh.Put(ctx, m.Seq, data)
	})
}

// PutSettings stores the room's settings in the broker and returns once
// they are there (chat.SettingsStore).
func (b *brokerHistory) PutSettings(slug string, rs chat.RoomSettings) error {
	return b.put(slug, rs, func(ctx context.Context, rh *cluster.RoomHistory, data []byte) error {
		return rh.PutSettings(ctx, data)
	})
}

// handoverTimeout bounds the store of a room's members when this node
// lets the room go (PutHandover): a shutdown waits for it.
const handoverTimeout = time.Second

// PutHandover stores the room's settings with its members, when this node
// lets a room go that it holds and restored (chat.HandoverStore), within
// handoverTimeout. It is refused for a room not ready here: a copy that
// is being dropped because it may not be what the broker has must not
// overwrite the settings. A failure is not a write of unknown outcome
// (nothing is told to anyone): the members are only announced again when
// they rejoin.
func (b *brokerHistory) PutHandover(slug string, rs chat.RoomSettings) error {
	if !b.mayWrite(slug) || (b.ready != nil && !b.ready(slug)) {
		return errNotHeld
	}
	ctx, cancel := context.WithTimeout(context.Background(), handoverTimeout)
	defer cancel()
	rh, err := b.room(ctx, slug)
	if err == nil {
		var data []byte
		if data, err = json.Marshal(rs); err == nil {
			err = rh.PutSettings(ctx, data)
		}
	}
	if err != nil {
		b.log.Warn("NATS: a room's members were not stored for the node taking it over; they are announced again when they rejoin", "room", slug, "err", err)
	}
	return err
}

// put stores v, as JSON, in room slug's history with store, if this node
// holds the room, within storeTimeout.
func (b *brokerHistory) put(slug string, v any, store func(context.Context, *cluster.RoomHistory, []byte) error) error {
	if !b.mayWrite(slug) {
		if b.notHeld != nil {
			// Called under the room's lock: the room is dropped after.
			go b.notHeld(slug)
		}
		return errNotHeld
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	rh, err := b.room(ctx, slug)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := store(ctx, rh, data); err != nil {
		if b.unknown != nil {
			go b.unknown(slug) // called under the room's lock
		}
		return err
	}
	return nil
}

// Purge forgets the room's history in the broker (chat.Store). A purge
// that fails is logged: the entries stay behind, bounded as any room's,
// until a room of that name is destroyed again.
func (b *brokerHistory) Purge(slug string) {
	if !b.mayWrite(slug) {
		b.forget(slug) // another node's now: what it holds stays
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	b.mu.Lock()
	rh := b.rooms[slug]
	delete(b.rooms, slug)
	b.mu.Unlock()
	var err error
	if rh == nil {
		rh, _, err = b.h.Open(ctx, slug)
	}
	if err == nil {
		err = rh.Purge(ctx)
	}
	if err != nil {
		b.log.Warn("NATS: a destroyed room's history was not purged", "room", slug, "err", err)
	}
	if b.purged != nil {
		b.purged(slug)
	}
}
