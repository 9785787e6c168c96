package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/db"
	"natter/mail"
)

// A stop while the SMTP server is too slow to take a mail is a normal stop
// (main exits 0), and the mail waits in the database for the next start.
// It used to end in "natter: context deadline exceeded" and status 1.
func TestStopWithSlowSMTPIsNotAFailure(t *testing.T) {
	s := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.LogLevel = "info"
		c.SMTPSendTimeout = 2 * time.Second
	}))
	srv, cfg, logs := s.Mail, s.Config, s.Log
	srv.SetDelay(time.Minute) // slower than any timeout here

	if !s.Deps().Mailer.Enqueue(mail.Message{To: "zoe@example.org", Subject: "Reset your Natter password", Text: "a link\n"}) {
		t.Fatal("Enqueue refused the message")
	}
	for end := time.Now().Add(5 * time.Second); srv.Holding() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the SMTP server got no mail within 5 s")
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Stop() }()
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

// A person asks for a reset link while the SMTP server is down and is told
// a mail is on its way; Natter restarts before the server is back. The mail
// must still come, with a link that works.
func TestResetMailAskedWhileSMTPIsDownArrivesAfterARestart(t *testing.T) {
	// Both runs serve on one address, as a real restart does.
	s := apptest.Start(t, apptest.SMTPDown(), apptest.Config(func(c *app.Config) { c.LogLevel = "error" }))
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
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	s.Config.SMTPPort = s.Mail.Port()
	s.Restart()
	got := s.Mail.WaitFor(t, "zoe@example.org", 5*time.Second)
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
func queuedAttempts(t *testing.T, s *apptest.Server) string {
	t.Helper()
	box, err := s.DB().OpenOutbox(s.Config.DBPath + "-mailkey")
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
