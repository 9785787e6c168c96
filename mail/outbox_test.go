package mail_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"natter/db"
	"natter/internal/testlog"
	"natter/mail"
	"natter/mail/mailtest"
)

// These tests run the Mailer on the real outbox: a SQLite file in a temp
// dir, through the same two conversions app makes (mail may not import db,
// so the adapter lives with whoever wires them).
type outbox struct{ *db.Outbox }

func (o outbox) AddMail(ctx context.Context, m mail.Stored, max int) (bool, error) {
	return o.Outbox.AddMail(ctx, db.OutboxMail(m), max)
}

func (o outbox) NextMail(ctx context.Context) (mail.Stored, bool, error) {
	m, ok, err := o.Outbox.NextMail(ctx)
	return mail.Stored(m), ok, err
}

const link = "http://localhost:8080/password/reset/q3Zt-8mWc2vXhPz_kR4nYb7LdE9sJ0aUfGtHiKoMpQw"

func message(to string) mail.Message {
	return mail.Message{
		To: to, ToName: "Zoë", Subject: "Reset your Natter password",
		Text: "Open " + link + "\n", HTML: `<p><a href="` + link + `">Choose a new password</a></p>`,
	}
}

// run is one "process": the database at path and a Mailer on it, sending
// to port. stop closes both, as app does at shutdown.
type run struct {
	db   *db.DB
	box  *db.Outbox
	m    *mail.Mailer
	logs *testlog.Buffer
}

func start(t *testing.T, path string, port int, edit func(*mail.Config)) *run {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	box, err := d.OpenOutbox(path + "-mailkey")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mail.Config{
		Host: "127.0.0.1", Port: port, From: "Natter <natter@example.org>", TLS: mail.TLSNone,
		ConnectTimeout: 2 * time.Second, SendTimeout: 2 * time.Second,
		Retries: 1000, Backoff: 20 * time.Millisecond,
		Outbox: outbox{box},
	}
	if edit != nil {
		edit(&cfg)
	}
	logs := &testlog.Buffer{}
	r := &run{db: d, box: box, m: mail.New(cfg, slog.New(slog.NewTextHandler(logs, nil))), logs: logs}
	t.Cleanup(func() { r.stop(t, 5*time.Second) })
	return r
}

// stop closes the Mailer within wait, then the database; a second call
// does nothing.
func (r *run) stop(t *testing.T, wait time.Duration) {
	t.Helper()
	if r.db == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.m.Close(ctx); err != nil {
		t.Errorf("Mailer.Close: %v", err)
	}
	if err := r.db.Close(); err != nil {
		t.Errorf("db.Close: %v", err)
	}
	r.db = nil
}

// waitUntil polls cond every 5 ms and fails the test after 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within 5 s: %s", what)
		}
	}
}

func count(t *testing.T, d *db.Outbox) int {
	t.Helper()
	n, err := d.CountMail(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func attempts(t *testing.T, d *db.Outbox) int {
	t.Helper()
	m, ok, err := d.NextMail(context.Background())
	if err != nil || !ok {
		t.Fatalf("NextMail: %v, %v", ok, err)
	}
	return m.Attempts
}

func TestMailQueuedWhileSMTPIsDownIsSentAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "natter.db")
	first := start(t, path, mailtest.ClosedPort(t), nil)
	if !first.m.Enqueue(message("zoe@example.org")) {
		t.Fatal("Enqueue refused the message")
	}
	waitUntil(t, "a failed attempt", func() bool { return attempts(t, first.box) >= 1 })
	first.stop(t, 2*time.Second)
	if !strings.Contains(first.logs.String(), `msg="mail left in the outbox for the next start" mails=1`) {
		t.Errorf("the stop did not log the mail kept for later:\n%s", first.logs.String())
	}

	srv := mailtest.Start(t)
	second := start(t, path, srv.Port(), nil)
	got := srv.WaitFor(t, "zoe@example.org", 5*time.Second)
	if l := got.Link("http://localhost:8080/"); l != link {
		t.Errorf("link = %q, want %q", l, link)
	}
	if s := got.Subject(); s != "Reset your Natter password" {
		t.Errorf("subject = %q", s)
	}
	waitUntil(t, "the sent mail leaves the outbox", func() bool { return count(t, second.box) == 0 })
	second.stop(t, 2*time.Second)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
}

func TestMailWhoseLinkExpiredIsNotSentAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "natter.db")
	first := start(t, path, mailtest.ClosedPort(t), nil)
	expires := time.Now().Add(300 * time.Millisecond)
	expiring := message("zoe@example.org")
	expiring.Expires = expires
	if !first.m.Enqueue(expiring) {
		t.Fatal("Enqueue refused the message")
	}
	waitUntil(t, "a failed attempt", func() bool { return attempts(t, first.box) >= 1 })
	first.stop(t, 2*time.Second)
	time.Sleep(time.Until(expires)) // the link dies while Natter is down

	srv := mailtest.Start(t)
	second := start(t, path, srv.Port(), nil)
	// A fresh mail after it shows the worker has been through the outbox.
	if !second.m.Enqueue(message("max@example.org")) {
		t.Fatal("Enqueue refused the fresh message")
	}
	srv.WaitFor(t, "max@example.org", 5*time.Second)
	waitUntil(t, "the expired mail leaves the outbox", func() bool { return count(t, second.box) == 0 })
	second.stop(t, 2*time.Second)
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].To[0] != "max@example.org" {
		t.Errorf("server received %d messages (first to %v), want only the one to max@example.org", len(msgs), msgs[0].To)
	}
	if !strings.Contains(second.logs.String(), `msg="mail dropped: expired before it could be sent" to=zoe@example.org`) {
		t.Errorf("the dropped mail is not logged:\n%s", second.logs.String())
	}
}

func TestStopDuringASlowSendKeepsTheMail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "natter.db")
	srv := mailtest.Start(t)
	srv.SetDelay(time.Minute) // slower than any timeout here
	first := start(t, path, srv.Port(), func(c *mail.Config) { c.SendTimeout = time.Minute })
	if !first.m.Enqueue(message("zoe@example.org")) {
		t.Fatal("Enqueue refused the message")
	}
	waitUntil(t, "the server holding the mail", func() bool { return srv.Holding() == 1 })
	began := time.Now()
	first.stop(t, 200*time.Millisecond) // Close must return nil: checked in stop
	if took := time.Since(began); took > time.Second {
		t.Errorf("stop took %v with a 200ms deadline", took)
	}
	logs := first.logs.String()
	for _, want := range []string{
		`msg="mail not sent: shutting down" to=zoe@example.org`,
		`msg="mail left in the outbox for the next start" mails=1`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}

	srv.SetDelay(0)
	second := start(t, path, srv.Port(), nil)
	srv.WaitFor(t, "zoe@example.org", 5*time.Second)
	waitUntil(t, "the sent mail leaves the outbox", func() bool { return count(t, second.box) == 0 })
}

func TestOutboxIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "natter.db")
	r := start(t, path, mailtest.ClosedPort(t), func(c *mail.Config) { c.QueueSize = 2; c.Backoff = time.Minute })
	for i, want := range []bool{true, true, false} {
		if got := r.m.Enqueue(message("zoe@example.org")); got != want {
			t.Errorf("Enqueue #%d = %v, want %v", i+1, got, want)
		}
	}
	if n := count(t, r.box); n != 2 {
		t.Errorf("outbox holds %d mails, want 2", n)
	}
	if !strings.Contains(r.logs.String(), `msg="mail dropped: queue full" to=zoe@example.org`) {
		t.Errorf("the refused mail is not logged:\n%s", r.logs.String())
	}
}
