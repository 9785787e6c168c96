package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/db"
)

// command runs `natter args...` against dbPath and returns its output.
func command(t *testing.T, dbPath, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := app.Command(context.Background(), args, func(k string) string {
		if k == "NATTER_DB" {
			return dbPath
		}
		return ""
	}, strings.NewReader(stdin), &out, io.Discard)
	return out.String(), err
}

func TestVersionCommand(t *testing.T) {
	out, err := command(t, "", "", "version")
	if err != nil {
		t.Fatal(err)
	}
	// Test binaries carry no VCS stamp; a built natter names its commit.
	want := regexp.MustCompile(`^natter \S+, commit ([0-9a-f]{12}(\+changes)?|unknown), go1\.\d+(\.\d+)? linux/amd64\n$`)
	if !want.MatchString(out) {
		t.Errorf("version = %q", out)
	}
}

// A backup taken while the server is signing people up is a consistent,
// openable database holding every account committed before it began.
func TestBackupDuringSignups(t *testing.T) {
	s := apptest.Start(t)
	dbPath := s.Config.DBPath
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var signedUp []string // in the order their sign-ups returned
	// Nine sign-ups from one address stay under the sign-up limit.
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, _ := client.New(s.BaseURL())
				name := fmt.Sprintf("w%du%d", w, i)
				if err := c.Register(name, name+"@example.com", "plum-kettle-orbit-42"); err != nil {
					t.Errorf("register %s: %v", name, err)
					return
				}
				mu.Lock()
				signedUp = append(signedUp, name)
				mu.Unlock()
			}
		}()
	}
	// Let the burst get going, then back up in the middle of it.
	for {
		mu.Lock()
		n := len(signedUp)
		mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := slices.Clone(signedUp)
	mu.Unlock()
	dest := filepath.Join(t.TempDir(), "backup.db")
	out, err := command(t, dbPath, "", "backup", dest)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if out != "backed up "+dbPath+" to "+dest+"\n" {
		t.Errorf("output = %q", out)
	}

	b, err := db.Open(context.Background(), dest)
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer b.Close()
	var n int
	var check string
	if err := b.SQL.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := b.SQL.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	if n < len(before) {
		t.Errorf("backup holds %d accounts; %d had signed up before it started", n, len(before))
	}
	for _, name := range before {
		if _, err := b.UserByLogin(context.Background(), name); err != nil {
			t.Errorf("%s signed up before the backup began but is missing from it: %v", name, err)
		}
	}

	// A second backup to the same file is refused, and the first is intact.
	before2, _ := os.ReadFile(dest)
	_, err = command(t, dbPath, "", "backup", dest)
	if err == nil || err.Error() != "backup "+dest+": the file exists; choose a new name (a backup never overwrites)" {
		t.Errorf("backup over an existing file: %v", err)
	}
	after, _ := os.ReadFile(dest)
	if !bytes.Equal(before2, after) {
		t.Error("the existing backup was changed")
	}
}

func TestBackupErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.db")
	if _, err := command(t, missing, "", "backup", filepath.Join(dir, "b.db")); err == nil ||
		err.Error() != "database "+missing+": no such file or directory" {
		t.Errorf("missing database: %v", err)
	}
	if _, err := command(t, missing, "", "backup"); err == nil ||
		err.Error() != "backup needs one argument, the file to write: natter backup FILE" {
		t.Errorf("no argument: %v", err)
	}
}

func TestUserCommands(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "natter.db")
	out, err := command(t, dbPath, "violet-anchor-pasta-7\n", "user", "create", "carol", "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if out != "created user carol (id 1, carol@example.com)\n" {
		t.Errorf("create: %q", out)
	}

	refusals := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"violet-anchor-pasta-7\n", []string{"user", "create", "Carol", "c2@example.com"}, "the user name Carol is taken"},
		{"violet-anchor-pasta-7\n", []string{"user", "create", "dave", "CAROL@example.com"}, "an account with the address CAROL@example.com already exists"},
		{"violet-anchor-pasta-7\n", []string{"user", "create", "d", "d@example.com"}, "user name: A user name needs at least 3 characters."},
		{"violet-anchor-pasta-7\n", []string{"user", "create", "dave", "not-an-address"}, "email: Enter a valid email address, such as name@example.com."},
		{"password\n", []string{"user", "create", "dave", "dave@example.com"}, "password refused: "},
		{"", []string{"user", "create", "dave", "dave@example.com"}, "no password on standard input (type it, or: echo 'the password' | natter user ...)"},
		{"x\n", []string{"user", "create", "dave"}, "usage: natter user create NAME EMAIL (the password is read from standard input)"},
		{"x\n", []string{"user", "delete", "dave"}, `unknown user subcommand "delete": use create or password`},
		{"violet-anchor-pasta-7\n", []string{"user", "password", "nobody"}, "no account is named nobody"},
	}
	for _, r := range refusals {
		out, err := command(t, dbPath, r.stdin, r.args...)
		if err == nil || !strings.HasPrefix(err.Error(), r.want) || out != "" {
			t.Errorf("%v: out %q, err %v; want error %q", r.args, out, err, r.want)
		}
	}

	// The server accepts the account, then the new password, and the old
	// password's session ends.
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.DBPath = dbPath }))
	c, _ := client.New(s.BaseURL())
	if err := c.Login("carol", "violet-anchor-pasta-7"); err != nil {
		t.Fatalf("sign in with the created account: %v", err)
	}
	out, err = command(t, dbPath, "mango-tundra-violin-3\n", "user", "password", "CAROL")
	if err != nil {
		t.Fatal(err)
	}
	if out != "password changed for carol; their sessions have ended\n" {
		t.Errorf("password: %q", out)
	}
	res, err := c.Get("/rooms")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusSeeOther || res.Location != "/login?next=%2Frooms" {
		t.Errorf("old session after the password change: %d to %q, want 303 to the sign-in page", res.Status, res.Location)
	}
	fresh, _ := client.New(s.BaseURL())
	if err := fresh.Login("carol", "violet-anchor-pasta-7"); err == nil {
		t.Error("the old password still signs in")
	}
	if err := fresh.Login("carol", "mango-tundra-violin-3"); err != nil {
		t.Errorf("the new password does not sign in: %v", err)
	}
	var hashes int
	raw, _ := sql.Open("sqlite", dbPath)
	defer raw.Close()
	_ = raw.QueryRow(`SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$%'`).Scan(&hashes)
	if hashes != 1 {
		t.Errorf("argon2id hashes stored: %d, want 1", hashes)
	}
}

// From the stop signal on, /readyz answers 503 while the node keeps
// serving everything else for the drain delay.
func TestReadyzDrains(t *testing.T) {
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.DrainDelay = 2 * time.Second }))
	base := s.BaseURL()
	if st, body := status(t, base+"/readyz"); st != 200 || body != "ready\n" {
		t.Fatalf("readyz before the stop: %d %q", st, body)
	}
	done := make(chan error, 1)
	go func() { done <- s.Stop() }()
	deadline := time.Now().Add(time.Second)
	for {
		st, body := status(t, base+"/readyz")
		if st == 503 && body == "draining\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the stop: %d %q, want 503 draining", st, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, _ := status(t, base+"/healthz"); st != 200 {
		t.Errorf("healthz while draining: %d, want 200", st)
	}
	if st, _ := status(t, base+"/login"); st != 200 {
		t.Errorf("sign-in page while draining: %d, want 200", st)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
}

func status(t *testing.T, url string) (int, string) {
	t.Helper()
	st, _, body := apptest.Get(t, url)
	return st, body
}

// NATTER_LOG_FORMAT=json writes one JSON object per line.
func TestJSONLogs(t *testing.T) {
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.LogFormat = "json" }))
	buf := s.Log
	status(t, s.BaseURL()+"/healthz")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("log: %q", buf.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"time":"`) || !strings.HasSuffix(l, "}") {
			t.Errorf("not a JSON line: %q", l)
		}
	}
	if !strings.Contains(buf.String(), `"msg":"natter listening"`) {
		t.Errorf("no listening line in %q", buf.String())
	}
}
