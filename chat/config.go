package chat

import (
	"slices"
	"time"
)

// Product defaults, used where a Config field is zero (Grace excepted: see
// Config.Grace).
const (
	DefaultGrace   = 10 * time.Second
	DefaultHistory = 200
	// DefaultHistoryBytes bounds a room's history by the rendered size of
	// its entries, so that a snapshot (and the room page) stays near
	// 256 KB plus the member list even when every message is 2,000
	// characters of links (about 25 KB of HTML each): a member cannot
	// make every connect in the room cost megabytes.
	DefaultHistoryBytes = 256 << 10
	// DefaultQueueLimit is measured (docs/performance.md): a join storm
	// of 1,000 members into one room queues about that many presence
	// frames to the first members before their writers run; entries point
	// at frames the room shares, so a full queue costs about 48 KB.
	DefaultQueueLimit = 2048
	// DefaultQueueBytes bounds the bytes queued for one connection
	// (frames waiting plus the message being written): room for a full
	// snapshot and the presence frames of a 1,000-member join storm
	// (about 700 B each) behind it. A connection past it is evicted.
	DefaultQueueBytes = 2 << 20
	// DefaultUserQueueBytes bounds the bytes queued for all of one user's
	// connections together (a frame shared by two of them counts twice),
	// so 20 sockets that never read hold at most 8 MB between them.
	DefaultUserQueueBytes  = 8 << 20
	DefaultMaxRooms        = 1000
	DefaultMaxRoomsPerUser = 10
	DefaultMaxConnsPerUser = 20
	DefaultMessageRate     = 10
	DefaultMessageBurst    = 20
	// The buckets of the message actions, per user like the message
	// bucket: a person edits, reacts and types far less often than a
	// script would.
	DefaultEditRate    = 2
	DefaultEditBurst   = 10
	DefaultReactRate   = 5
	DefaultReactBurst  = 20
	DefaultTypingRate  = 2
	DefaultTypingBurst = 10
	// DefaultTypingThrottle is the least time between two typing
	// broadcasts about one user in one room: signals in between are
	// absorbed. The page sends at most one signal per this period.
	DefaultTypingThrottle = 2 * time.Second
	// DefaultTypingExpiry is how long a typer stays named after their last
	// signal: three of the page's signals, so one lost signal does not
	// make the line flicker.
	DefaultTypingExpiry = 6 * time.Second
	// DefaultWriteWait bounds every socket write: a peer that cannot take
	// a frame in this time is dead.
	DefaultWriteWait = 10 * time.Second
	// DefaultPingPeriod is below DefaultPongWait, as every PingPeriod
	// must be (see Config.PongWait).
	DefaultPingPeriod = 50 * time.Second
	// DefaultPongWait is how long a reader waits for any frame or pong
	// before treating the peer as gone (a half-open connection).
	DefaultPongWait = 60 * time.Second
	// DefaultMaxFrame caps one incoming message: 2,000 characters of the
	// worst case (4 bytes each, doubled by JSON escaping) plus htmx's
	// headers.
	DefaultMaxFrame = 32 * 1024
)

// Config sets the registry's limits and timing. Zero fields take the
// defaults above, except Grace, for which zero is a meaningful value.
type Config struct {
	// Grace is how long a member whose last connection closed stays in the
	// room, so a reload or a network blip shows no leave/join pair. When
	// the last member goes the room and its history are destroyed at once,
	// so a room dies one Grace after its last connection. Zero removes the
	// member synchronously inside Leave; it is NOT replaced by a default
	// (pass DefaultGrace, or use DefaultConfig). Negative means zero.
	Grace time.Duration
	// History is how many entries a room keeps (a ring).
	History int
	// HistoryBytes caps the rendered size of a room's history: the oldest
	// entries go first once the frames of those kept would pass it (the
	// newest entry is always kept).
	HistoryBytes int
	// QueueLimit is how many frames may wait for one connection's writer;
	// one more evicts the connection as slow (close code 1013).
	QueueLimit int
	// QueueBytes caps the bytes held for one connection: frames waiting
	// and the message its writer is writing. A frame that would pass it
	// evicts the connection (1013), unless nothing is held yet (a single
	// frame larger than the cap still goes out alone).
	QueueBytes int
	// UserQueueBytes caps the bytes held for all connections of one user
	// together, counted like QueueBytes; a frame shared by several of the
	// user's connections counts once for each. A frame that would pass it
	// evicts the user's connection that holds the most (a tab that stopped
	// reading, rather than the one the frame is for).
	UserQueueBytes int
	// MaxRooms caps live user rooms; permanent rooms don't count.
	MaxRooms int
	// MaxRoomsPerUser caps the live rooms one user has created.
	MaxRoomsPerUser int
	// MaxConnsPerUser caps one user's sockets across all rooms.
	MaxConnsPerUser int
	// MessageRate and MessageBurst set each user's token bucket for Post,
	// shared by all of that user's connections and rooms.
	MessageRate  float64
	MessageBurst int
	// EditRate and EditBurst, ReactRate and ReactBurst, TypingRate and
	// TypingBurst set each user's buckets for Edit, React and Typing,
	// shared by all of that user's connections and rooms.
	EditRate    float64
	EditBurst   int
	ReactRate   float64
	ReactBurst  int
	TypingRate  float64
	TypingBurst int
	// TypingThrottle is the least time between two typing broadcasts
	// about one user in one room; TypingExpiry how long a typer stays
	// named after their last signal (both measured with Now; the expiry
	// is then told by a timer of the real clock).
	TypingThrottle time.Duration
	TypingExpiry   time.Duration
	// Permanent lists the rooms that are always listed and never
	// destroyed, in lobby order; when they empty they only lose history.
	Permanent []string
	// WriteWait is the deadline for each socket write.
	WriteWait time.Duration
	// PingPeriod is how often the writer pings an otherwise quiet peer.
	PingPeriod time.Duration
	// PongWait is how long the reader waits for any frame or pong (the
	// read deadline). PingPeriod must be below it, so that a live peer's
	// pong always arrives in time: a PingPeriod that is not is lowered to
	// five sixths of PongWait (the defaults' ratio), leaving the peer a
	// sixth of PongWait to answer.
	PongWait time.Duration
	// MaxFrame caps one incoming message, in bytes; a larger one ends the
	// connection (close code 1009, from the websocket package).
	MaxFrame int
	// Now is the clock for message times and the rate limiter (socket
	// deadlines always use the real clock). Defaults to time.Now.
	Now func() time.Time
	// Store, if set, keeps every room's history outside this process
	// (several nodes; see Store). Nil: the history lives here alone.
	Store Store
}

// DefaultConfig returns Natter's product configuration: every default
// above, a 10 s grace period and the pre-built rooms general and
// programming.
func DefaultConfig() Config {
	return Config{
		Grace:           DefaultGrace,
		History:         DefaultHistory,
		HistoryBytes:    DefaultHistoryBytes,
		QueueLimit:      DefaultQueueLimit,
		QueueBytes:      DefaultQueueBytes,
		UserQueueBytes:  DefaultUserQueueBytes,
		MaxRooms:        DefaultMaxRooms,
		MaxRoomsPerUser: DefaultMaxRoomsPerUser,
		MaxConnsPerUser: DefaultMaxConnsPerUser,
		MessageRate:     DefaultMessageRate,
		MessageBurst:    DefaultMessageBurst,
		EditRate:        DefaultEditRate,
		EditBurst:       DefaultEditBurst,
		ReactRate:       DefaultReactRate,
		ReactBurst:      DefaultReactBurst,
		TypingRate:      DefaultTypingRate,
		TypingBurst:     DefaultTypingBurst,
		TypingThrottle:  DefaultTypingThrottle,
		TypingExpiry:    DefaultTypingExpiry,
		Permanent:       []string{"general", "programming"},
		WriteWait:       DefaultWriteWait,
		PingPeriod:      DefaultPingPeriod,
		PongWait:        DefaultPongWait,
		MaxFrame:        DefaultMaxFrame,
		Now:             time.Now,
	}
}

// withDefaults returns c with zero fields set to their defaults, its
// PingPeriod below its PongWait, and its own copy of Permanent, without
// duplicates.
func (c Config) withDefaults() Config {
	orInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	orDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	c.Grace = max(c.Grace, 0)
	orInt(&c.History, DefaultHistory)
	orInt(&c.HistoryBytes, DefaultHistoryBytes)
	orInt(&c.QueueLimit, DefaultQueueLimit)
	orInt(&c.QueueBytes, DefaultQueueBytes)
	orInt(&c.UserQueueBytes, DefaultUserQueueBytes)
	orInt(&c.MaxRooms, DefaultMaxRooms)
	orInt(&c.MaxRoomsPerUser, DefaultMaxRoomsPerUser)
	orInt(&c.MaxConnsPerUser, DefaultMaxConnsPerUser)
	orInt(&c.MessageBurst, DefaultMessageBurst)
	orRate := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	orRate(&c.MessageRate, DefaultMessageRate)
	orRate(&c.EditRate, DefaultEditRate)
	orInt(&c.EditBurst, DefaultEditBurst)
	orRate(&c.ReactRate, DefaultReactRate)
	orInt(&c.ReactBurst, DefaultReactBurst)
	orRate(&c.TypingRate, DefaultTypingRate)
	orInt(&c.TypingBurst, DefaultTypingBurst)
	orDur(&c.TypingThrottle, DefaultTypingThrottle)
	orDur(&c.TypingExpiry, DefaultTypingExpiry)
	orDur(&c.WriteWait, DefaultWriteWait)
	orDur(&c.PingPeriod, DefaultPingPeriod)
	orDur(&c.PongWait, DefaultPongWait)
	if c.PingPeriod >= c.PongWait {
		c.PingPeriod = max(c.PongWait*5/6, 1) // a ticker needs a positive period
	}
	orInt(&c.MaxFrame, DefaultMaxFrame)
	if c.Now == nil {
		c.Now = time.Now
	}
	var perm []string
	for _, s := range c.Permanent {
		if !slices.Contains(perm, s) {
			perm = append(perm, s)
		}
	}
	c.Permanent = perm
	return c
}
