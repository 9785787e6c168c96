package db

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/internal/pgtest"
	"natter/internal/stallproxy"
)

func pgVersion(t *testing.T, d *DB) int {
	t.Helper()
	var v int
	if err := d.SQL.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Nodes that start at once on an empty database migrate it once, one
// after the other, and all come up; a later start changes nothing.
func TestOpenPostgresNodesMigrateOnce(t *testing.T) {
	url := pgtest.URL(t)
	migs, err := postgresMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	nodes := make([]*DB, 3)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := OpenPostgres(context.Background(), url)
			if err != nil {
				t.Errorf("node %d: %v", i, err)
				return
			}
			nodes[i] = d
		}()
	}
	wg.Wait()
	for _, d := range nodes {
		if d != nil {
			defer d.Close()
		}
	}
	if t.Failed() {
		return
	}
	if _, err := nodes[0].CreateUser(context.Background(), "alice", "alice@example.com", "h"); err != nil {
		t.Fatal(err)
	}
	again := openPostgresAt(t, url)
	var n int
	if err := again.SQL.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(migs) || pgVersion(t, again) != len(migs) {
		t.Errorf("%d migrations recorded, version %d; want each of the %d once", n, pgVersion(t, again), len(migs))
	}
	if u, err := nodes[2].UserByLogin(context.Background(), "alice"); err != nil || u.Username != "alice" {
		t.Errorf("another node reads %+v, %v", u, err)
	}
}

func TestOpenPostgresRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("newer schema", func(t *testing.T) {
		url := pgtest.URL(t)
		d := openPostgresAt(t, url)
		if _, err := d.SQL.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`); err != nil {
			t.Fatal(err)
		}
		_, err := OpenPostgres(ctx, url)
		want := "its schema is version 99, newer than this Natter knows (2); run a newer Natter"
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("error = %v, want it to end %q", err, want)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		u, _ := url.Parse(pgtest.URL(t))
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		u.RawQuery = q.Encode()
		_, err := OpenPostgres(ctx, u.String())
		if err == nil || !strings.Contains(err.Error(), " cannot be written: ") ||
			!strings.HasSuffix(err.Error(), "it is a read-only standby: point NATTER_DATABASE_URL at the primary") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("nobody listening, password hidden", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := OpenPostgres(ctx, "postgres://natter:s3cret@127.0.0.1:1/natter?connect_timeout=2")
		if err == nil {
			t.Fatal("OpenPostgres succeeded with nothing listening")
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
		want := "database postgres://natter:xxxxx@127.0.0.1:1/natter?connect_timeout=2: cannot connect: "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error = %v, want it to start %q", err, want)
		}
	})
	t.Run("password in the query hidden", func(t *testing.T) {
		// pgx takes password and sslpassword (the client key's) from the
		// query as well as from the user part.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := OpenPostgres(ctx, "postgres://natter@127.0.0.1:1/natter?connect_timeout=2&password=s3cret&sslpassword=k3y%21")
		if err == nil {
			t.Fatal("OpenPostgres succeeded with nothing listening")
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "k3y") {
			t.Errorf("the error shows a password: %v", err)
		}
		want := "database postgres://natter@127.0.0.1:1/natter?connect_timeout=2&password=xxxxx&sslpassword=xxxxx: cannot connect: "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error = %v, want it to start %q", err, want)
		}
	})
	t.Run("not a postgres URL", func(t *testing.T) {
		_, err := OpenPostgres(ctx, "mysql://natter:s3cret@db/natter")
		if err == nil || err.Error() != "database mysql://natter:xxxxx@db/natter: want a postgres:// URL" {
			t.Errorf("error = %v", err)
		}
	})
}

// A connection the server ends (a restart, a failover) is a passing write
// fault, and the next statement runs on a new connection.
func TestPostgresWriteFaultRecovers(t *testing.T) {
	ctx := context.Background()
	d := openPostgres(t)
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	other := openPostgresAt(t, pgtest.URL(t))
	if _, err := other.SQL.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, `UPDATE users SET last_seen_at = 0`)
	conn.Close()
	if !d.WriteFault(err) {
		t.Fatalf("a statement on an ended connection: %v, want a write fault", err)
	}
	if d.WriteFault(errors.New("anything")) || d.WriteFault(nil) || d.WriteFault(ErrUsernameTaken) {
		t.Error("a plain error counted as a write fault")
	}
	if err := d.CheckWrite(ctx); err != nil {
		t.Errorf("CheckWrite after the connection ended: %v", err)
	}
}

func TestOutboxStaysInSQLite(t *testing.T) {
	d := openPostgres(t)
	_, err := d.OpenOutbox(t.TempDir() + "/key")
	if err == nil || err.Error() != "db: the mail outbox is kept in each node's SQLite file, not in PostgreSQL" {
		t.Errorf("OpenOutbox on PostgreSQL = %v", err)
	}
	if !d.Shared() || !strings.HasPrefix(d.Name(), "postgres://") {
		t.Errorf("Shared %v, Name %q", d.Shared(), d.Name())
	}
}

// TrimVisitorSessions keeps the most recently saved visitors' sessions and
// every signed-in one.
func TestTrimVisitorSessions(t *testing.T) { eachEngine(t, testTrimVisitorSessions) }

func testTrimVisitorSessions(t *testing.T, d *DB) {
	ctx := context.Background()
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	for i, k := range []string{"v1", "v2", "v3", "v4"} {
		if _, err := d.SQL.Exec(`INSERT INTO `+SessionTable+` (k, v, e) VALUES ($1, $2, $3)`, k, []byte{1}, 100+i); err != nil {
			t.Fatal(err)
		}
	}
	addSession(t, d, "signed-in", alice.ID)
	n, err := d.TrimVisitorSessions(ctx, 2)
	if err != nil || n != 2 {
		t.Fatalf("TrimVisitorSessions = %d, %v; want 2", n, err)
	}
	if got := strings.Join(sessionKeys(t, d), " "); got != "signed-in v3 v4" {
		t.Errorf("sessions left: %s; want signed-in v3 v4", got)
	}
}

// A node cut off from PostgreSQL in the middle of a write transaction
// (a partition, a frozen process: its connection stays open) holds the
// write lock that every node's sign-ups, renames and password changes
// wait for; the server ends such a transaction after a while, so that the
// other nodes write again without waiting for TCP to give up (hours).
func TestStalledNodeReleasesTheWriteLock(t *testing.T) {
	url := pgtest.URL(t)
	network, addr := pgtest.Dial(t, url)
	proxy := stallproxy.Start(t, network, addr)
	cut := openPostgresAt(t, pgtest.Via(t, url, proxy.Addr()))
	other := openPostgresAt(t, url)
	tx, err := cut.beginWrite(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	t.Cleanup(proxy.Resume) // before the rollback and the handles' close
	proxy.Stall()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := other.CreateUser(ctx, "bob", "bob@example.com", "h"); err != nil {
		t.Fatalf("another node's sign-up after %v: %v", time.Since(start).Round(time.Second), err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("another node's sign-up waited %v", took)
	}
}
