package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/client"
	"natter/db"
	"natter/mail"
	"natter/mail/mailtest"
)

// lockedBuffer is a log sink written by the server while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A stop while the SMTP server is too slow to take a mail is a normal stop
// (main exits 0), and the mail waits in the database for the next start.
// It used to end in "natter: context deadline exceeded" and status 1.
func TestStopWithSlowSMTPIsNotAFailure(t *testing.T) {
	srv := mailtest.Start(t)
	srv.SetDelay(time.Minute) // slower than any timeout here
	cfg := DefaultConfig()
	cfg.Addr, cfg.BaseURL, cfg.LogLevel, cfg.FastHashing = "127.0.0.1:0", "", "info", true
	cfg.DBPath = filepath.Join(t.TempDir(), "natter.db")
	cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS = srv.Host(), srv.Port(), mail.TLSNone
	cfg.SMTPSendTimeout = 2 * time.Second
	logs := &lockedBuffer{}
	s, err := New(context.Background(), cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	if !s.mailer.Enqueue(mail.Message{To: "zoe@example.org", Subject: "Reset your Natter password", Text: "a link\n"}) {
		t.Fatal("Enqueue refused the message")
	}
	for end := time.Now().Add(5 * time.Second); srv.Holding() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the SMTP server got no mail within 5 s")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v after a stop with mail in flight, want nil (exit status 0)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return within 15 s of the stop")
	}
	if want := `msg="mail left in the outbox for the next start" component=mail mails=1`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
	d, err := db.Open(context.Background(), cfg.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	box, err := d.OpenOutbox(cfg.DBPath + "-mailkey")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := box.CountMail(context.Background()); err != nil || n != 1 {
		t.Errorf("outbox after the stop: %d mails (%v), want 1", n, err)
	}
}

// runServer serves cfg until the returned stop is called; stop reports
// Serve's error.
func runServer(t *testing.T, cfg Config) (*Server, func() error) {
	t.Helper()
	s, err := New(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	var serr error
	stop := func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	t.Cleanup(func() { stop() })
	return s, stop
}

// A person asks for a reset link while the SMTP server is down and is told
// a mail is on its way; Natter restarts before the server is back. The mail
// must still come, with a link that works.
func TestResetMailAskedWhileSMTPIsDownArrivesAfterARestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // both runs serve here, as a real restart does
	ln.Close()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := down.Addr().(*net.TCPAddr).Port
	down.Close()

	cfg := DefaultConfig()
	cfg.Addr, cfg.BaseURL, cfg.LogLevel, cfg.FastHashing = addr, "http://"+addr, "error", true
	cfg.DBPath = filepath.Join(t.TempDir(), "natter.db")
	cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS = "127.0.0.1", downPort, mail.TLSNone

	s, stop := runServer(t, cfg)
	zoe, _ := client.New(s.BaseURL())
	if err := zoe.Register("zoe", "zoe@example.org", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	res, err := client.New(s.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	page, err := res.Submit("/password/forgot", "/password/forgot", url.Values{"email": {"zoe@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `data-testid="forgot-sent"`) {
		t.Fatalf("forgot form: status %d, no \"sent\" message", page.Status)
	}
	for end := time.Now().Add(5 * time.Second); !strings.Contains(queuedAttempts(t, s), "attempts=1"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no failed attempt within 5 s")
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	smtp := mailtest.Start(t)
	cfg.SMTPPort = smtp.Port()
	s, _ = runServer(t, cfg)
	got := smtp.WaitFor(t, "zoe@example.org", 5*time.Second)
	link := got.Link(s.BaseURL() + "/password/reset/")
	if link == "" {
		t.Fatalf("the mail holds no reset link:\n%s", got.TextBody())
	}
	open, _ := client.New(s.BaseURL())
	form, err := open.Get(strings.TrimPrefix(link, s.BaseURL()))
	if err == nil && form.Status == http.StatusSeeOther {
		form, err = open.Get(form.Location)
	}
	if err != nil || form.Status != http.StatusOK || !strings.Contains(form.Body, "Choose a new password") {
		t.Errorf("the link from the mail does not open the new-password form")
	}
}

// queuedAttempts describes the first mail waiting in s's outbox, for polling,
// and checks that it expires with its link.
func queuedAttempts(t *testing.T, s *Server) string {
	t.Helper()
	box, err := s.DB().OpenOutbox(s.cfg.DBPath + "-mailkey")
	if err != nil {
		t.Fatal(err)
	}
	m, ok, err := box.NextMail(context.Background())
	if err != nil || !ok {
		return ""
	}
	if want := time.Now().Add(time.Hour); m.Expires.Before(want.Add(-time.Minute)) || m.Expires.After(want) {
		t.Errorf("queued reset mail expires %v, want its link's expiry, about %v", m.Expires, want)
	}
	return fmt.Sprintf("attempts=%d", m.Attempts)
}
