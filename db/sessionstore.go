package db

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStoreClosed is returned by every SessionStore operation after Close.
var ErrStoreClosed = errors.New("db: session store closed")

// storeWait bounds each SessionStore statement, which Fiber's Storage
// interface gives no context: a database that stops answering (a
// partition, a frozen PostgreSQL) fails the request after it rather than
// holding it, and a pooled connection, for good.
const storeWait = 5 * time.Second

// SessionStore keeps the web layer's sessions in SessionTable of the shared
// database. Its methods are the set of Fiber's Storage interface (Get, Set,
// Delete, Reset, Close), so the web layer uses it as one; this package does
// not import Fiber. It runs on either engine: on PostgreSQL the nodes share
// the sessions, so a cookie made on one node signs in on every other.
//
// It is also the store on PostgreSQL, rather than
// github.com/gofiber/storage/postgres: that store opens a pool of its own
// beside this package's, so EndSessions could not delete a user's session
// rows and their links in one transaction; it reads the system clock, not
// the Now seam, so expiry would be tested apart from the rest; and it makes
// its table at start instead of through the migrations.
//
// It replaces github.com/gofiber/storage/sqlite3, which registers the cgo
// driver github.com/mattn/go-sqlite3 that Natter never called: a first build
// compiled C SQLite for nothing and needed a C compiler. The rows are those
// that storage wrote (k the session id, v the data, e the expiry in Unix
// seconds with 0 for never), so sessions made before the switch stay valid.
type SessionStore struct {
	db     *DB
	closed atomic.Bool
	once   sync.Once
	stop   context.CancelFunc
	done   chan struct{}
}

// NewSessionStore returns a store on d's handle and starts deleting expired
// rows every gcEvery (10 minutes when 0); Close stops that. The table comes
// from the migrations.
func (d *DB) NewSessionStore(gcEvery time.Duration) *SessionStore {
	if gcEvery <= 0 {
		gcEvery = 10 * time.Minute
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &SessionStore{db: d, stop: stop, done: make(chan struct{})}
	go s.collect(ctx, gcEvery)
	return s
}

// Get returns the data stored under key, or nil when there is none or it
// has expired (the collector may not have deleted it yet).
func (s *SessionStore) Get(key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrStoreClosed
	}
	if key == "" {
		return nil, nil
	}
	var (
		val []byte
		exp int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), storeWait)
	defer cancel()
	err := s.db.SQL.QueryRowContext(ctx, `SELECT v, e FROM `+SessionTable+` WHERE k = $1`, key).Scan(&val, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if exp != 0 && exp <= s.db.now() {
		return nil, nil
	}
	return val, nil
}

// Set stores val under key for exp (0 or less: until deleted). An empty key
// or value stores nothing, as Fiber's storages do.
func (s *SessionStore) Set(key string, val []byte, exp time.Duration) error {
	if s.closed.Load() {
		return ErrStoreClosed
	}
	if key == "" || len(val) == 0 {
		return nil
	}
	var e int64
	if exp > 0 {
		// Rounded up to the next second: truncating would end it early,
		// and a sub-second lifetime would be stored as already past.
		deadline := s.db.Now().Add(exp)
		e = deadline.Unix()
		if deadline.Nanosecond() != 0 {
			e++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeWait)
	defer cancel()
	_, err := s.db.SQL.ExecContext(ctx, `INSERT INTO `+SessionTable+` (k, v, e) VALUES ($1, $2, $3)
		ON CONFLICT (k) DO UPDATE SET v = excluded.v, e = excluded.e`, key, val, e)
	return err
}

// Delete removes key; a missing key is not an error.
func (s *SessionStore) Delete(key string) error {
	if s.closed.Load() {
		return ErrStoreClosed
	}
	if key == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeWait)
	defer cancel()
	_, err := s.db.SQL.ExecContext(ctx, `DELETE FROM `+SessionTable+` WHERE k = $1`, key)
	return err
}

// Reset deletes every session, live ones included.
func (s *SessionStore) Reset() error {
	if s.closed.Load() {
		return ErrStoreClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeWait)
	defer cancel()
	_, err := s.db.SQL.ExecContext(ctx, `DELETE FROM `+SessionTable)
	return err
}

// Close stops the collector and waits for it. The database stays open: it
// is shared and closed by its owner. Close may be called more than once.
func (s *SessionStore) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.stop()
		<-s.done
	})
	return nil
}

// DeleteExpiredSessions deletes the rows whose expiry has passed and
// reports how many went.
func (d *DB) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := d.SQL.ExecContext(ctx, `DELETE FROM `+SessionTable+` WHERE e != 0 AND e <= $1`, d.now())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// collect deletes expired rows every interval until ctx ends; a sweep in
// progress is cancelled with it, so Close never waits on a stalled query.
func (s *SessionStore) collect(ctx context.Context, every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// An error here (a busy or full disk) is retried at the next
			// tick; expired rows are invisible to Get meanwhile.
			_, _ = s.db.DeleteExpiredSessions(ctx)
		}
	}
}
