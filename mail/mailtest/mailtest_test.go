package mailtest

import (
	"net"
	"net/smtp"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// nested is a mixed > alternative message with base64 and quoted-printable
// parts, a Q-encoded subject and a text/plain attachment after the bodies.
const nested = "From: Natter <natter@example.org>\r\n" +
	"To: zoe@example.org\r\n" +
	"Subject: =?UTF-8?q?R=C3=A9initialiser?= le mot de passe\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	// base64 of "Zoë, open https://natter.example/password/reset/abc_-9.\nBye\n", wrapped.
	"Wm/Dqywgb3BlbiBodHRwczovL25hdHRlci5leGFtcGxlL3Bhc3N3b3JkL3Jlc2V0L2Fi\r\n" +
	"Y18tOS4KQnllCg==\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"<p><a href=3D\"https://natter.example/password/reset/abc_-9\">Reset</a> a very=\r\n" +
	" long line</p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; name=notes.txt\r\n" +
	"Content-Disposition: attachment\r\n" +
	"\r\n" +
	"not the body\r\n" +
	"--outer--\r\n"

func TestServerReceivesAndParses(t *testing.T) {
	s := Start(t)
	if s.Addr() != net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())) || s.Host() != "127.0.0.1" || s.Port() == 0 {
		t.Fatalf("Addr %q, Host %q, Port %d do not agree", s.Addr(), s.Host(), s.Port())
	}
	rcpts := []string{"zoe@example.org", "bob@example.org"}
	if err := smtp.SendMail(s.Addr(), nil, "natter@example.org", rcpts, []byte(nested)); err != nil {
		t.Fatal(err)
	}
	got := s.WaitFor(t, "bob@example.org", 5*time.Second)
	if got.From != "natter@example.org" || !slices.Equal(got.To, rcpts) {
		t.Errorf("envelope = %q -> %q", got.From, got.To)
	}
	checks := []struct{ what, got, want string }{
		{"Subject", got.Subject(), "Réinitialiser le mot de passe"},
		{"text", got.TextBody(), "Zoë, open https://natter.example/password/reset/abc_-9.\nBye\n"},
		{"HTML", got.HTMLBody(), `<p><a href="https://natter.example/password/reset/abc_-9">Reset</a> a very long line</p>`},
		{"Link", got.Link("https://natter.example/password/reset/"), "https://natter.example/password/reset/abc_-9"},
		{"missing Link", got.Link("https://evil.example/"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.what, c.got, c.want)
		}
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("Messages() has %d, want 1", n)
	}
}

func TestPlainMessageWithoutMIME(t *testing.T) {
	r := Received{Raw: []byte("Subject: hi\r\n\r\nopen http://localhost:8080/x?y=1 now\r\n")}
	if got := r.TextBody(); got != "open http://localhost:8080/x?y=1 now\n" {
		t.Errorf("TextBody = %q", got)
	}
	if got := r.HTMLBody(); got != "" {
		t.Errorf("HTMLBody = %q, want empty", got)
	}
	if got := r.Link("http://localhost:8080/"); got != "http://localhost:8080/x?y=1" {
		t.Errorf("Link = %q", got)
	}
}

func TestDelayHoldsTheSender(t *testing.T) {
	s := Start(t)
	s.SetDelay(300 * time.Millisecond)
	start := time.Now()
	msg := []byte("Subject: slow\r\n\r\nbody\r\n")
	if err := smtp.SendMail(s.Addr(), nil, "a@example.org", []string{"b@example.org"}, msg); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("send took %v, want at least the 300ms delay", took)
	}
	if got := s.WaitFor(t, "b@example.org", time.Second).Subject(); got != "slow" {
		t.Errorf("Subject = %q", got)
	}
}

// A test that ends at once (before the server goroutine has started) still
// stops the server.
func TestImmediateCleanup(t *testing.T) {
	for i := 0; i < 200; i++ {
		t.Run("", func(t *testing.T) { Start(t) })
	}
}

// Count, WaitCount and Settle read the server's own count of messages, by
// recipient or in all.
func TestCountWaitCountSettle(t *testing.T) {
	s := Start(t)
	if n := s.Settle("", 0, 20*time.Millisecond); n != 0 {
		t.Fatalf("Settle on a fresh server = %d, want 0", n)
	}
	send := func(to ...string) {
		go smtp.SendMail(s.Addr(), nil, "natter@example.org", to, []byte("Subject: hi\r\n\r\nhi\r\n"))
	}
	send("zoe@example.org", "bob@example.org")
	send("zoe@example.org")
	if n := s.WaitCount("zoe@example.org", 2, 5*time.Second); n != 2 {
		t.Fatalf("WaitCount(zoe, 2) = %d", n)
	}
	if n, all := s.Count("bob@example.org"), s.Count(""); n != 1 || all != 2 {
		t.Errorf("Count(bob) = %d, Count(\"\") = %d; want 1 and 2", n, all)
	}
	if n := s.WaitCount("nobody@example.org", 1, 20*time.Millisecond); n != 0 {
		t.Errorf("WaitCount(nobody) = %d after its timeout, want 0", n)
	}
	send("ann@example.org")
	if n := s.Settle("", 2, 5*time.Second); n != 3 {
		t.Errorf("Settle(\"\", 2) = %d, want 3 as soon as the third mail came", n)
	}
}
