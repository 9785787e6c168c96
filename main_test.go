package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"natter/app/apptest"
	"natter/internal/testenv"
)

// TestMain lets a test run the real main() in a child process (the child
// is this test binary with NATTER_TEST_MAIN set), to check exit status and
// stderr the way a user sees them.
func TestMain(m *testing.M) {
	if os.Getenv("NATTER_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// env builds a getenv from pairs.
func env(pairs ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestRunServesAndStops(t *testing.T) {
	addr := freeAddr(t)
	dbPath := filepath.Join(t.TempDir(), "natter.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env("NATTER_ADDR", addr, "NATTER_DB", dbPath, "NATTER_BASE_URL", "http://"+addr), nil, &stdout, io.Discard)
	}()

	base := "http://" + addr
	waitHealthy(t, base+"/healthz", done)

	res := get(t, base+"/")
	if res.status != http.StatusOK || !strings.Contains(res.body, "Chat for your team, on your own server.") {
		t.Errorf("GET /: status %d, body lacks the landing heading", res.status)
	}
	css := regexp.MustCompile(`href="(/assets/app\.css\?v=[0-9a-f]{16})"`).FindStringSubmatch(res.body)
	if css == nil {
		t.Fatalf("landing page links no versioned stylesheet")
	}
	asset := get(t, base+css[1])
	if asset.status != http.StatusOK || asset.header.Get("Content-Type") != "text/css; charset=utf-8" ||
		asset.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || len(asset.body) < 1000 {
		t.Errorf("GET %s: status %d, type %q, cache %q, %d bytes", css[1], asset.status,
			asset.header.Get("Content-Type"), asset.header.Get("Cache-Control"), len(asset.body))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15 s of cancel")
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Errorf("database file: %v", err)
	}
	if !strings.Contains(stdout.String(), "msg=stopped") {
		t.Errorf("log lacks the stop line:\n%s", stdout.String())
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	notSQLite := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notSQLite, []byte("shopping list: milk, eggs, and a much longer line of text than a header"), 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad grace", nil, []string{"NATTER_ROOM_GRACE", "soon"}, `invalid -room-grace ($NATTER_ROOM_GRACE) "soon": want a duration from 0s to 24h, such as 10s or 2m`},
		{"bad history flag", []string{"-history", "0"}, nil, `invalid -history ($NATTER_HISTORY) "0": want a whole number from 1 to 100000`},
		{"bad tls", nil, []string{"NATTER_SMTP_TLS", "ssl"}, `invalid -smtp-tls ($NATTER_SMTP_TLS) "ssl": want one of none, starttls, tls`},
		{"bad base url", nil, []string{"NATTER_BASE_URL", "localhost:8080"}, `invalid -base-url ($NATTER_BASE_URL) "localhost:8080": want an absolute http or https URL such as https://chat.example.com`},
		{"bad smtp timeout", nil, []string{"NATTER_SMTP_SEND_TIMEOUT", "0s"}, `invalid -smtp-send-timeout ($NATTER_SMTP_SEND_TIMEOUT) "0s": want a duration above 0s and at most 1h, such as 10s`},
		{"bad rate", nil, []string{"NATTER_MESSAGE_RATE", "-1"}, `invalid -message-rate ($NATTER_MESSAGE_RATE) "-1": want a number above 0, such as 10 or 0.5`},
		{"bad addr", nil, []string{"NATTER_ADDR", "8080"}, `invalid -addr ($NATTER_ADDR) "8080": want host:port, such as localhost:8080 or :8080`},
		{"not sqlite", nil, []string{"NATTER_DB", notSQLite, "NATTER_ADDR", "127.0.0.1:0"}, "database " + notSQLite + ": the file is not a SQLite database"},
		{"missing folder", nil, []string{"NATTER_DB", "/nonexistent/dir/natter.db", "NATTER_ADDR", "127.0.0.1:0"}, "database /nonexistent/dir/natter.db: folder /nonexistent/dir does not exist"},
		{"port in use", nil, []string{"NATTER_ADDR", busy.Addr().String(), "NATTER_DB", filepath.Join(t.TempDir(), "n.db")}, "cannot listen on " + busy.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, env(tt.env...), nil, io.Discard, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("run error = %v\nwant prefix %q", err, tt.want)
			}
		})
	}
	b, _ := os.ReadFile(notSQLite)
	if string(b) != "shopping list: milk, eggs, and a much longer line of text than a header" {
		t.Errorf("the non-SQLite file was changed: %q", b)
	}
}

// TestMainExitsWithOneLine runs the real binary's main: a bad setting ends
// it with status 1 and one line on stderr.
func TestMainExitsWithOneLine(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-history", "many")
	cmd.Env = append(os.Environ(), "NATTER_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	want := `natter: invalid -history ($NATTER_HISTORY) "many": want a whole number from 1 to 100000` + "\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q\nwant   %q", stderr.String(), want)
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url string) response {
	t.Helper()
	st, header, body := apptest.Get(t, url)
	return response{st, header, body}
}

// waitHealthy polls /healthz until it answers 200.
func waitHealthy(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		default:
		}
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("server not healthy within 15 s")
}

// TestSurvivesDescriptorLimit runs the real binary with 256 file
// descriptors and opens 400 idle connections to it: more than it has
// descriptors. Natter used to stop with "accept4: too many open files";
// now it holds connections below its limit, says so in the log, stays up,
// and answers again once they close.
func TestSurvivesDescriptorLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		testenv.Missing(t, "prlimit (util-linux) not installed: cannot run Natter under a low descriptor limit")
	}
	const fdLimit, idle = 256, 400
	addr := freeAddr(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "natter.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(prlimit, "--nofile="+strconv.Itoa(fdLimit)+":"+strconv.Itoa(fdLimit), os.Args[0])
	cmd.Env = append(os.Environ(), "NATTER_TEST_MAIN=1", "NATTER_ADDR="+addr,
		"NATTER_DB="+filepath.Join(dir, "natter.db"), "NATTER_BASE_URL=http://"+addr, "NATTER_LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done, exited := make(chan error, 1), make(chan struct{})
	go func() {
		done <- cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	waitHealthy(t, base+"/healthz", done)

	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	// 256 less 64 kept for the database, mail and the listener.
	const want = "open connection limit reached: new connections wait until others close\" component=listener limit=192"
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("Natter ended with %d idle connections at %d descriptors: %v\n%s", idle, fdLimit, err, b)
		default:
		}
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q within 5 s:\n%s", want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitHealthy(t, base+"/healthz", done)

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("exit after SIGTERM: %v\n%s", err, b)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	b, _ := os.ReadFile(logPath)
	if strings.Contains(string(b), "too many open files") {
		t.Errorf("the log shows descriptors ran out:\n%s", b)
	}
}

// TestMainRefusesReadOnlyDatabase starts the real binary on a database it
// cannot write: it stops at once with one line saying so, instead of
// serving forms that all fail.
func TestMainRefusesReadOnlyDatabase(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to make a file read-only for this process (chattr +i; root ignores chmod)")
	}
	path := filepath.Join(t.TempDir(), "natter.db")
	// A first run creates the database.
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env("NATTER_DB", path, "NATTER_ADDR", addr, "NATTER_BASE_URL", "http://"+addr), nil, io.Discard, io.Discard)
	}()
	waitHealthy(t, "http://"+addr+"/healthz", done)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		testenv.Missing(t, "chattr +i: %v %s", err, out)
	}
	defer exec.Command("chattr", "-i", path).Run()

	// Bounded: a Natter that does not refuse would serve until killed.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "NATTER_TEST_MAIN=1", "NATTER_DB="+path, "NATTER_ADDR=127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, stderr.String())
	}
	want := "natter: database " + path + " cannot be written: attempt to write a readonly database (8); check the free space and the permissions of the file, its folder and its -wal and -shm files\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q\nwant   %q", stderr.String(), want)
	}
}

// The commands run through the real main: one line out and status 0, or
// one line on stderr and status 1.
func TestMainCommands(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "natter.db")
	tests := []struct {
		args           []string
		stdin          string
		code           int
		stdout, stderr string
	}{
		{[]string{"user", "create", "erin", "erin@example.com"}, "lunar-otter-basket-9\n", 0, "created user erin (id 1, erin@example.com)\n", ""},
		{[]string{"user", "create", "erin", "e2@example.com"}, "lunar-otter-basket-9\n", 1, "", "natter: the user name erin is taken\n"},
		{[]string{"user", "password", "erin"}, "", 1, "", "natter: no password on standard input (type it, or: echo 'the password' | natter user ...)\n"},
		{[]string{"backup", dbPath}, "", 1, "", "natter: backup " + dbPath + ": the file exists; choose a new name (a backup never overwrites)\n"},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], tt.args...)
		cmd.Env = append(os.Environ(), "NATTER_TEST_MAIN=1", "NATTER_DB="+dbPath)
		cmd.Stdin = strings.NewReader(tt.stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || stdout.String() != tt.stdout || stderr.String() != tt.stderr {
			t.Errorf("natter %v: status %d, stdout %q, stderr %q\nwant %d, %q, %q", tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
}
