package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Room history in the broker (docs/shared-rooms.md): the owner of a room
// stores each history entry (a message, a notice) in the JetStream
// stream historyStream, in memory, never on disk, and acknowledges a post
// only once the stream has it; a node that takes a room over (its owner
// died or stopped) rebuilds the room's history from it.
//
// Each entry has a subject of its own, natter.history.<slug>.<seq>, and
// the stream keeps one message per subject: a new state of an entry (an
// edit, a deletion, a reaction) replaces the old one, so the stream holds
// each entry's latest state only. The stream's own limits are per stream,
// not per room, so each room's bound (entries and bytes, like one node's
// ring) is kept by its owner, the only node that writes the room: it
// knows what the room holds and deletes the oldest entries past the
// bound.

// historyStream is the stream of room histories.
const historyStream = "natter_history"

// historyPrefix starts every history subject.
const historyPrefix = "natter.history."

// loadWait bounds each batch read while loading a room's history.
const loadWait = 5 * time.Second

// The bounds of one room's history, as one node's (chat.DefaultHistory,
// chat.DefaultHistoryBytes).
const (
	DefaultHistoryEntries = 200
	DefaultHistoryBytes   = 256 << 10
)

// HistoryOptions bound each room's history in the stream.
type HistoryOptions struct {
	// Entries is how many entries a room keeps; zero means
	// DefaultHistoryEntries.
	Entries int
	// Bytes caps the size of a room's entries' data (the newest entry is
	// kept whatever its size); zero means DefaultHistoryBytes.
	Bytes int
}

// History is the stream of every room's history.
type History struct {
	js     jetstream.JetStream
	cfg    jetstream.StreamConfig // the stream's, to make it again
	stream jetstream.Stream       // by name: still good once made again
	opts   HistoryOptions
	log    *slog.Logger
}

// Entry is one history entry as the stream holds it: its number in the
// room (chat's Message.Seq) and its latest state, encoded by the owner.
type Entry struct {
	Seq  uint64
	Data []byte
}

// NewHistory opens (creating or updating it if needed) the stream of room
// histories on conn.
func NewHistory(ctx context.Context, conn *Conn, opts HistoryOptions, log *slog.Logger) (*History, error) {
	if opts.Entries <= 0 {
		opts.Entries = DefaultHistoryEntries
	}
	if opts.Bytes <= 0 {
		opts.Bytes = DefaultHistoryBytes
	}
	h := &History{js: conn.js, opts: opts, log: log, cfg: jetstream.StreamConfig{
		Name:              historyStream,
		Description:       "Natter: the history of every room, one message per entry's latest state",
		Subjects:          []string{historyPrefix + ">"},
		Storage:           jetstream.MemoryStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
	}}
	stream, err := h.ensure(ctx)
	if err != nil {
		return nil, err
	}
	h.stream = stream
	conn.onReconnect(func() {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		defer cancel()
		if _, err := h.ensure(ctx); err != nil {
			log.Warn("NATS: after reconnecting", "err", err)
		}
	})
	return h, nil
}

// ensure makes the stream, or checks that it is there as configured. A
// server that restarted has lost it, and every room's history with it:
// their owners still hold their rings.
func (h *History) ensure(ctx context.Context) (jetstream.Stream, error) {
	stream, err := h.js.CreateOrUpdateStream(ctx, h.cfg)
	if err != nil {
		return nil, fmt.Errorf("NATS: the stream %s: %w", historyStream, err)
	}
	return stream, nil
}

// RoomHistory is one room's history, as its owner writes it. Its methods
// are safe for concurrent use, and one write ends before the next starts.
type RoomHistory struct {
	h    *History
	slug string

	mu    sync.Mutex
	held  []stored // the room's entries in the stream, by Seq
	bytes int      // the sum of their sizes
}

// stored is where one entry is in the stream, and its size.
type stored struct {
	seq    uint64 // the entry's Seq
	msgSeq uint64 // the stream's sequence number of its message
	size   int
}

// Open loads room slug's history, oldest first, for the node that owns
// the room now (it must write the room's history only through the
// RoomHistory returned).  The room's settings, if stored, come first, as
// entry SettingsSeq.
func (h *History) Open(ctx context.Context, slug string) (*RoomHistory, []Entry, error) {
	if err := checkSlug(slug); err != nil {
		return nil, nil, err
	}
	entries, held, err := h.load(ctx, slug)
	if isStreamGone(err) {
		// Lost with a server that restarted: the room has no history.
		_, err = h.ensure(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("NATS: loading the history of room %s: %w", slug, err)
	}
	r := &RoomHistory{h: h, slug: slug, held: held}
	for _, s := range held {
		r.bytes += s.size
	}
	return r, entries, nil
}

// load reads the room's messages through a consumer of its own.
func (h *History) load(ctx context.Context, slug string) ([]Entry, []stored, error) {
	cons, err := h.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     historyPrefix + slug + ".*",
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // gone even if the delete below fails
	})
	if err != nil {
		return nil, nil, err
	}
	name := cons.CachedInfo().Name
	defer h.stream.DeleteConsumer(context.WithoutCancel(ctx), name)
	var entries []Entry
	var held []stored
	for pending := cons.CachedInfo().NumPending; pending > 0; {
		batch, err := cons.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(loadWait))
		if err != nil {
			return nil, nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, nil, err
			}
			pending = md.NumPending
			seq, ok := entrySeq(m.Subject(), slug)
			if !ok {
				h.log.Warn("NATS: a history message with a bad subject", "subject", m.Subject())
				continue
			}
			entries = append(entries, Entry{Seq: seq, Data: m.Data()})
			if seq != SettingsSeq { // the settings are not bounded with the entries
				held = append(held, stored{seq: seq, msgSeq: md.Sequence.Stream, size: len(m.Data())})
			}
		}
		if err := batch.Error(); err != nil {
			return nil, nil, err
		}
		if n == 0 {
			return nil, nil, errors.New("the stream sent nothing")
		}
	}
	// The stream holds them in the order they were last written (an edit
	// moves an entry to the end): put them in the room's order.
	slices.SortFunc(entries, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	slices.SortFunc(held, func(a, b stored) int { return cmp.Compare(a.seq, b.seq) })
	return entries, held, nil
}

// entrySeq reads the entry's Seq from its subject.
func entrySeq(subject, slug string) (uint64, bool) {
	rest, ok := strings.CutPrefix(subject, historyPrefix+slug+".")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	return seq, err == nil
}

// SettingsSeq numbers the room's settings (PutSettings) among the
// entries Open returns: they come first.
const SettingsSeq = 0

// settingsSubject is the subject of room slug's settings.
func settingsSubject(slug string) string {
	return historyPrefix + slug + "." + strconv.FormatUint(SettingsSeq, 10)
}

// PutSettings stores the room's settings (who it admits: chat's
// RoomSettings, encoded by the owner), replacing those stored before,
// and returns once the stream has them. They are kept apart from the
// bound of the entries, and purged with them.
func (r *RoomHistory) PutSettings(ctx context.Context, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := nats.NewMsg(settingsSubject(r.slug))
	m.Data = data
	_, err := r.h.js.PublishMsg(ctx, m)
	if isStreamGone(err) {
		if _, err = r.h.ensure(ctx); err == nil {
			r.held, r.bytes = nil, 0
			_, err = r.h.js.PublishMsg(ctx, m)
		}
	}
	if err != nil {
		return fmt.Errorf("NATS: storing the settings of room %s: %w", r.slug, err)
	}
	return nil
}

// Put stores the latest state of entry seq and returns once the stream
// has it (an error, never a pretence, when it could not be stored); a
// state stored earlier for seq is replaced. Then, if the room holds more
// than its bound, the oldest entries are deleted from the stream.
func (r *RoomHistory) Put(ctx context.Context, seq uint64, data []byte) error {
	if seq == 0 {
		return errors.New("cluster: a history entry numbered 0")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := nats.NewMsg(historyPrefix + r.slug + "." + strconv.FormatUint(seq, 10))
	m.Data = data
	ack, err := r.h.js.PublishMsg(ctx, m)
	if isStreamGone(err) {
		// Lost with a server that restarted: made again, and with it the
		// room's entries are gone.
		if _, err = r.h.ensure(ctx); err == nil {
			r.held, r.bytes = nil, 0
			ack, err = r.h.js.PublishMsg(ctx, m)
		}
	}
	if err != nil {
		return fmt.Errorf("NATS: storing message %d of room %s: %w", seq, r.slug, err)
	}
	r.record(stored{seq: seq, msgSeq: ack.Sequence, size: len(data)})
	r.trim(ctx)
	return nil
}

// record notes where entry s is now. r.mu must be held.
func (r *RoomHistory) record(s stored) {
	i, found := slices.BinarySearchFunc(r.held, s.seq, func(e stored, seq uint64) int { return cmp.Compare(e.seq, seq) })
	if found {
		// The stream dropped the entry's previous message itself.
		r.bytes -= r.held[i].size
		r.held[i] = s
	} else {
		r.held = slices.Insert(r.held, i, s)
	}
	r.bytes += s.size
}

// trim deletes the oldest entries while the room holds more than its
// bound, keeping the newest. One that cannot be deleted now is tried
// again after the next Put. r.mu must be held.
func (r *RoomHistory) trim(ctx context.Context) {
	o := r.h.opts
	for len(r.held) > o.Entries || (r.bytes > o.Bytes && len(r.held) > 1) {
		old := r.held[0]
		err := r.h.stream.DeleteMsg(ctx, old.msgSeq)
		// The server answering that it cannot delete the message means it
		// holds no such message (it was purged meanwhile): gone all the same.
		if err != nil && !errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
			r.h.log.Warn("NATS: an old history entry was not deleted", "room", r.slug, "seq", old.seq, "err", err)
			return
		}
		r.held = r.held[1:]
		r.bytes -= old.size
	}
}

// Purge deletes the room's whole history from the stream: the room is
// destroyed.
func (r *RoomHistory) Purge(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.h.purge(ctx, r.slug); err != nil {
		return err
	}
	r.held, r.bytes = nil, 0
	return nil
}

// purge deletes room slug's whole history from the stream.
func (h *History) purge(ctx context.Context, slug string) error {
	err := h.stream.Purge(ctx, jetstream.WithPurgeSubject(historyPrefix+slug+".*"))
	if isStreamGone(err) {
		_, err = h.ensure(ctx) // nothing left to purge
	}
	if err != nil {
		return fmt.Errorf("NATS: purging the history of room %s: %w", slug, err)
	}
	return nil
}
