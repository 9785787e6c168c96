package app_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
	"natter/internal/testenv"
	"natter/internal/testlog"
)

// TestAcceptSurvivesEMFILE lowers this process's descriptor limit until
// accept fails with EMFILE, and checks that the listener waits and
// retries (logging it, with a count) instead of failing, then accepts
// every waiting connection once descriptors are back.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	const clients, spare = 40, 10
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	l := app.NewLimitListener(ln, slog.New(slog.NewTextHandler(&logs, nil)), 1000, 1000, nil)
	defer l.Close()
	// The clients connect first: the kernel completes their handshakes and
	// queues them until the listener accepts.
	for range clients {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}

	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	restore := sync.OnceFunc(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
	defer restore()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		testenv.Missing(t, "cannot count open descriptors: %v", err)
	}
	low := syscall.Rlimit{Cur: uint64(len(fds) + spare), Max: saved.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}

	accepted := make(chan net.Conn, clients)
	failed := make(chan error, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				failed <- err
				return
			}
			accepted <- c
		}
	}()
	const want = `level=WARN msg="accept failed, retrying" err="accept tcp ` // then the address
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "accept4: too many open files") {
		select {
		case err := <-failed:
			t.Fatalf("Accept gave up at the descriptor limit: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no accept failure logged within 3 s; log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Stay at the limit: the listener keeps retrying, and logs at most
	// once a second, with how many failures the line stands for.
	lines := regexp.MustCompile(`msg="accept failed, retrying" .* count=(\d+)`)
	deadline = time.Now().Add(3 * time.Second)
	for len(lines.FindAllString(logs.String(), -1)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no second accept failure line within 3 s:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := lines.FindAllStringSubmatch(logs.String(), -1); m[1][1] == "1" {
		t.Errorf("the second line counts 1 failure; the retries between the two lines were each logged, not counted:\n%s", logs.String())
	}
	restore()

	deadline = time.Now().Add(3 * time.Second)
	for n := 0; n < clients; n++ {
		select {
		case c := <-accepted:
			defer c.Close()
		case err := <-failed:
			t.Fatalf("Accept failed after %d: %v", n, err)
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%d of %d connections accepted within 3 s of descriptors coming back", n, clients)
		}
	}
	l.Close()
	if err := <-failed; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// openIdle opens n connections to addr that send nothing.
func openIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i+1, err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}

// healthzOn sends GET /healthz on an open connection and returns the
// status line, or the read error.
func healthzOn(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// TestConnectionsPerAddress checks the cap on open connections from one
// client address: the 257th is closed at once, the first 256 stay usable,
// and closing one makes room again.
func TestConnectionsPerAddress(t *testing.T) {
	s := apptest.Start(t)
	conns := openIdle(t, s.Addr(), app.MaxConnsPerAddr+1)

	over := conns[app.MaxConnsPerAddr]
	over.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := over.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("connection %d: read %d bytes, %v; want it closed (EOF)", app.MaxConnsPerAddr+1, n, err)
	}
	if line, err := healthzOn(conns[app.MaxConnsPerAddr-1]); line != "HTTP/1.1 200 OK" {
		t.Fatalf("connection %d: %q, %v; want HTTP/1.1 200 OK", app.MaxConnsPerAddr, line, err)
	}
	conns[0].Close()
	// The slot is given back when the server sees the close; poll briefly.
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		line, err := healthzOn(c)
		c.Close()
		if line == "HTTP/1.1 200 OK" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing one: %q, %v; want HTTP/1.1 200 OK", line, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTrustedProxyHasNoAddressCap checks that a trusted proxy, which
// carries every client, is not held to the per-address cap.
func TestTrustedProxyHasNoAddressCap(t *testing.T) {
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.TrustedProxy = "127.0.0.1" }))
	conns := openIdle(t, s.Addr(), app.MaxConnsPerAddr+20)
	if line, err := healthzOn(conns[len(conns)-1]); line != "HTTP/1.1 200 OK" {
		t.Fatalf("connection %d from the proxy: %q, %v; want HTTP/1.1 200 OK", len(conns), line, err)
	}
}

func TestConnsUnder(t *testing.T) {
	for _, tt := range []struct {
		limit uint64
		want  int
	}{
		{1024, 960}, {256, 192}, {129, 65}, {128, 64}, {100, 50}, {1, 1}, {1 << 40, 256 * 1024},
	} {
		if got := app.ConnsUnder(tt.limit); got != tt.want {
			t.Errorf("connsUnder(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"2001:db8:1:2:aaaa::1":      "2001:db8:1:2::",
		"2001:db8:1:2:ffff:ffff::9": "2001:db8:1:2::",
		"2001:db8:1:3::1":           "2001:db8:1:3::",
	} {
		if got := app.AddrKey(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("addrKey(%s) = %s, want %s", in, got, want)
		}
	}
}
