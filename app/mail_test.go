package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
