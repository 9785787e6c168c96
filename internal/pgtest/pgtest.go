// Package pgtest gives tests a real PostgreSQL. URL returns the address of
// a new, empty schema for one test, dropped when the test ends, on the
// server NATTER_TEST_DATABASE_URL names (CI starts one) or, without it, on
// a throwaway cluster this test binary starts itself with Debian's
// PostgreSQL (initdb and postgres on a temp dir, a unix socket only, as
// the postgres user when run as root). Main stops that cluster once the
// tests are done. Without either, URL skips the test, or fails it under CI
// (internal/testenv.Missing).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"natter/internal/testenv"
)

// EnvURL names the variable that points the tests at a running server:
// a URL of a database the user may create schemas in.
const EnvURL = "NATTER_TEST_DATABASE_URL"

var (
	mu      sync.Mutex
	cluster *server // started by the first URL without EnvURL
	failed  error   // why it could not start; every test then says so
)

// Main runs the tests and then stops the cluster URL started, if any.
// Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if cluster != nil {
		cluster.stop()
		cluster = nil
	}
	return code
}

// URL returns the URL of a new schema on a real PostgreSQL (the
// connection's search_path names it), which is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	base, err := serverURL()
	if err != nil {
		testenv.Missing(t, "PostgreSQL: %v", err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("PostgreSQL at %s: %v", redact(base), err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Dial returns where the server of url listens, for a proxy in front of
// it: ("unix", the socket's path) when its host is a directory, else
// ("tcp", host:port).
func Dial(t testing.TB, pgURL string) (network, address string) {
	t.Helper()
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	host, port := q.Get("host"), q.Get("port")
	if host == "" {
		host = u.Hostname()
	}
	if port == "" {
		port = u.Port()
	}
	if port == "" {
		port = "5432"
	}
	if filepath.IsAbs(host) {
		return "unix", filepath.Join(host, ".s.PGSQL."+port)
	}
	return "tcp", net.JoinHostPort(host, port)
}

// Via returns url with its server at addr (host:port) instead: through a
// proxy that Dial's address is behind.
func Via(t testing.TB, pgURL, addr string) string {
	t.Helper()
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("host")
	q.Del("port")
	u.RawQuery = q.Encode()
	u.Host = addr
	return u.String()
}

// serverURL is EnvURL, or the URL of the cluster this binary started.
func serverURL() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if cluster == nil && failed == nil {
		cluster, failed = start()
	}
	if failed != nil {
		return "", failed
	}
	return cluster.url, nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// server is a cluster started by this binary.
type server struct {
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	url  string
}

// binDir finds Debian's PostgreSQL programs: on PATH, or the newest
// /usr/lib/postgresql/N/bin.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("not installed (apt-get install postgresql), and %s is not set", EnvURL)
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// start makes a cluster in a temp dir and starts it on a unix socket
// there, with durability off (the data lives as long as the tests).
func start() (*server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "natter-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, done: make(chan struct{})}
	// PostgreSQL refuses to run as root: then it runs as the postgres
	// user Debian's package made, owning the dir.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "natter", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	s.cmd.Dir = dir
	s.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// If this binary dies without Main's stop (a test timeout), the
		// server goes with it.
		Pdeathsig: syscall.SIGQUIT,
	}
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		log.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	go func() {
		s.cmd.Wait()
		log.Close()
		close(s.done)
	}()
	s.url = "postgres://natter@/postgres?host=" + url.QueryEscape(dir) + "&sslmode=disable"
	if err := s.waitReady(30 * time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		s.stop()
		return nil, fmt.Errorf("%v; its log:\n%s", err, b)
	}
	return s, nil
}

// waitReady polls until the server answers a query.
func (s *server) waitReady(limit time.Duration) error {
	db, err := sql.Open("pgx", s.url)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return errors.New("postgres exited at start")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not answer within %s: %v", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts the server down (fast: clients are disconnected) and removes
// its files.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}
