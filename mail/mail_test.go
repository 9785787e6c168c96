package mail

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"natter/internal/testlog"
	"natter/mail/mailtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const resetLink = "http://localhost:8080/password/reset/q3Zt-8mWc2vXhPz_kR4nYb7LdE9sJ0aUfGtHiKoMpQw"

var resetMessage = Message{
	To:      "zoe@example.org",
	ToName:  "Zoë Dupré",
	Subject: "Réinitialiser: reset your Natter password",
	Text:    "Hello Zoë,\n\nTo choose a new password, open this link (valid for one hour):\n" + resetLink + "\n\nIf you did not ask for it, ignore this mail; 1+1=2.\n",
	HTML:    `<p>Hello Zoë,</p>` + "\n" + `<p><a href="` + resetLink + `" style="color:#0a7">Choose a new password</a></p>` + "\n",
}

// logBuffer collects log output written by the worker goroutine.
type logBuffer struct{ testlog.Buffer }

// records decodes the JSON log lines.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(b.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// testConfig points at host:port over plain SMTP with short waits.
func testConfig(host string, port int) Config {
	return Config{
		Host: host, Port: port, From: "Natter <natter@example.org>", TLS: TLSNone,
		ConnectTimeout: 2 * time.Second, SendTimeout: 2 * time.Second,
		Retries: 3, Backoff: 10 * time.Millisecond,
	}
}

// closeMailer stops m at the end of the test.
func closeMailer(t *testing.T, m *Mailer) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestSendDeliversTextAndHTML(t *testing.T) {
	srv := mailtest.Start(t)
	m := New(testConfig(srv.Host(), srv.Port()), nil)
	closeMailer(t, m)

	if err := m.Send(context.Background(), resetMessage); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "zoe@example.org", 5*time.Second)
	if got.From != "natter@example.org" {
		t.Errorf("envelope from = %q, want natter@example.org", got.From)
	}
	if len(got.To) != 1 || got.To[0] != "zoe@example.org" {
		t.Errorf("envelope to = %q, want [zoe@example.org]", got.To)
	}
	checks := []struct{ what, got, want string }{
		{"Subject", got.Subject(), resetMessage.Subject},
		{"text part", got.TextBody(), resetMessage.Text},
		{"HTML part", got.HTMLBody(), resetMessage.HTML},
		{"link", got.Link("http://localhost:8080/password/reset/"), resetLink},
		{"To header", got.Header("To"), "Zoë Dupré <zoe@example.org>"},
		{"From header", got.Header("From"), `"Natter" <natter@example.org>`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.what, c.got, c.want)
		}
	}
	if id := got.Header("Message-ID"); !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID = %q, want one on example.org", id)
	}
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	srv := mailtest.Start(t)
	log, logs := newLogger()
	m := New(testConfig(srv.Host(), srv.Port()), log)

	with := func(f func(*Message)) Message { msg := resetMessage; f(&msg); return msg }
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"CRLF Bcc in address", with(func(m *Message) { m.To = "a@b.example\r\nBcc: x@evil.example" }), ErrBadAddress},
		{"LF Bcc in address", with(func(m *Message) { m.To = "a@b.example\nBcc: x@evil.example" }), ErrBadAddress},
		{"CRLF in name", with(func(m *Message) { m.ToName = "Bob\r\nBcc: x@evil.example" }), ErrBadAddress},
		{"two addresses", with(func(m *Message) { m.To = "a@b.example, x@evil.example" }), ErrBadAddress},
		{"display name in address", with(func(m *Message) { m.To = "Bob <a@b.example>" }), ErrBadAddress},
		{"not an address", with(func(m *Message) { m.To = "bob" }), ErrBadAddress},
		{"empty address", with(func(m *Message) { m.To = "" }), ErrBadAddress},
		{"CRLF in subject", with(func(m *Message) { m.Subject = "Hi\r\nBcc: x@evil.example" }), ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Send(context.Background(), tt.msg); !errors.Is(err, tt.want) {
				t.Errorf("Send: err = %v, want %v", err, tt.want)
			}
			if m.Enqueue(tt.msg) {
				t.Error("Enqueue accepted the message")
			}
		})
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}
	if strings.Contains(logs.String(), resetLink) {
		t.Error("a refused message's body was logged")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Host: "smtp.example.org", From: "natter@example.org"}, ""},
		{Config{Host: "smtp.example.org", From: "Natter <natter@example.org>", TLS: TLSImplicit, Port: 465}, ""},
		{Config{Host: "smtp.example.org", From: "natter@example.org", TLS: "ssl"}, `mail: TLS mode "ssl": want none, starttls or tls`},
		{Config{Host: "smtp.example.org", From: "natter@example.org", Port: 70000}, "mail: port 70000 is not a TCP port"},
		{Config{Host: "smtp.example.org"}, `mail: From "": mail: bad address: mail: no address`},
	}
	for _, tt := range tests {
		got := ""
		if err := tt.cfg.Validate(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Validate(%+v) = %q, want %q", tt.cfg, got, tt.want)
		}
	}
	if p := New(Config{Host: "smtp.example.org"}, nil); p.cfg.Port != 587 || p.cfg.TLS != TLSStartTLS {
		t.Errorf("defaults: port %d, TLS %q; want 587, starttls", p.cfg.Port, p.cfg.TLS)
	} else {
		_ = p.Close(context.Background())
	}
}
