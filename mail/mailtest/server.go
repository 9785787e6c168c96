// Package mailtest runs a real SMTP server on loopback for tests: it accepts
// every message without authentication or TLS and keeps it for the test to
// read, so tests follow a reset link from a mail that really went over SMTP.
package mailtest

import (
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Server is an in-process SMTP server on 127.0.0.1. It is safe for
// concurrent use.
type Server struct {
	smtp *smtp.Server
	addr *net.TCPAddr

	mu       sync.Mutex
	messages []Received
	delay    time.Duration
	holding  int           // messages whose data SetDelay's wait is holding
	closing  chan struct{} // closed at cleanup to cut delays short
}

// Start listens on a free loopback port and serves until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{addr: l.Addr().(*net.TCPAddr), closing: make(chan struct{})}
	s.smtp = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{server: s}, nil
	}))
	s.smtp.Domain = "localhost"
	s.smtp.AllowInsecureAuth = true
	s.smtp.ReadTimeout = 10 * time.Second // a stuck client cannot hold cleanup forever
	s.smtp.WriteTimeout = 10 * time.Second
	s.smtp.MaxMessageBytes = 10 << 20

	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.smtp.Serve(l) // returns ErrServerClosed after Close
	}()
	t.Cleanup(func() {
		close(s.closing)
		_ = s.smtp.Close()
		// Close only closes listeners Serve has registered; a test that ends
		// before Serve got that far would leave it accepting forever.
		_ = l.Close()
		<-served
	})
	return s
}

// ClosedPort is a loopback port where nothing listens: an SMTP server
// that is down.
func ClosedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr.String() }

// Host is "127.0.0.1", for an SMTP host setting.
func (s *Server) Host() string { return s.addr.IP.String() }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.addr.Port }

// SetDelay makes the server wait d before accepting each message's data: a
// slow SMTP server, to show that requests do not wait on mail.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Holding reports how many messages the server has read and is holding
// back under SetDelay: a sender that is waiting on it right now.
func (s *Server) Holding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holding
}

// Messages returns a copy of every message received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.messages...)
}

// WaitFor returns the first message whose envelope recipients include to
// (compared exactly, as the sender wrote it), polling until timeout; then it
// fails the test.
func (s *Server) WaitFor(t testing.TB, to string, timeout time.Duration) Received {
	t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		for _, m := range s.Messages() {
			for _, rcpt := range m.To {
				if rcpt == to {
					return m
				}
			}
		}
		if time.Now().After(end) {
			t.Fatalf("mailtest: no message to %q within %v (%d received)", to, timeout, len(s.Messages()))
			return Received{}
		}
	}
}

// Count is how many messages received so far list to among their envelope
// recipients; to "" counts every message.
func (s *Server) Count(to string) int {
	n := 0
	for _, m := range s.Messages() {
		if to == "" || slices.Contains(m.To, to) {
			n++
		}
	}
	return n
}

// WaitCount waits until Count(to) reaches n, or timeout passes, and
// returns the count (the test judges it).
func (s *Server) WaitCount(to string, n int, timeout time.Duration) int {
	for end := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		if got := s.Count(to); got >= n || time.Now().After(end) {
			return got
		}
	}
}

// Settle waits until Count(to) is no longer n, or quiet has passed with
// none more, and returns the count: how a test gives mail it expects not to
// come the chance to come, without sleeping the whole wait when it does.
func (s *Server) Settle(to string, n int, quiet time.Duration) int {
	for end := time.Now().Add(quiet); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if got := s.Count(to); got != n {
			return got
		}
	}
	return s.Count(to)
}

func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding--
}

// session collects one SMTP transaction.
type session struct {
	server *Server
	from   string
	to     []string
}

func (c *session) Reset() { c.from, c.to = "", nil }

func (c *session) Logout() error { return nil }

func (c *session) Mail(from string, _ *smtp.MailOptions) error {
	c.from = from
	return nil
}

func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.to = append(c.to, to)
	return nil
}

func (c *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := c.server
	s.mu.Lock()
	delay := s.delay
	s.holding++
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			s.release()
			return &smtp.SMTPError{Code: 421, Message: "shutting down"}
		}
	}
	s.release()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, Received{From: c.from, To: append([]string(nil), c.to...), Raw: raw})
	return nil
}
