package mail

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"natter/mail/mailtest"
)

// silentServer accepts connections and never answers: a hung SMTP server.
func silentServer(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

func TestSendFailsWithinTimeout(t *testing.T) {
	tests := []struct {
		name    string
		port    int
		timeout time.Duration
		reason  string
	}{
		{"server down", mailtest.ClosedPort(t), 2 * time.Second, "connection refused"},
		{"server never answers", silentServer(t), 300 * time.Millisecond, "i/o timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("127.0.0.1", tt.port)
			cfg.ConnectTimeout = tt.timeout
			m := New(cfg, nil)
			closeMailer(t, m)
			start := time.Now()
			err := m.Send(context.Background(), resetMessage)
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Send: err = %v, want one saying %q", err, tt.reason)
			}
			if took := time.Since(start); took > tt.timeout+time.Second {
				t.Errorf("Send took %v with a %v timeout", took, tt.timeout)
			}
		})
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	m := New(testConfig("127.0.0.1", silentServer(t)), nil) // 2 s timeouts
	closeMailer(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if err := m.Send(ctx, resetMessage); !errors.Is(err, context.Canceled) {
		t.Errorf("Send: err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Send took %v after its context was cancelled at 100ms", took)
	}
}

func TestStartTLSIsNeverSkipped(t *testing.T) {
	srv := mailtest.Start(t) // offers no STARTTLS, like a downgrade attack
	for _, user := range []string{"", "natter"} {
		cfg := testConfig(srv.Host(), srv.Port())
		cfg.TLS, cfg.User, cfg.Password = TLSStartTLS, user, "smtp-secret"
		m := New(cfg, nil)
		closeMailer(t, m)
		if err := m.Send(context.Background(), resetMessage); !errors.Is(err, ErrNoStartTLS) {
			t.Errorf("user %q: Send: err = %v, want ErrNoStartTLS", user, err)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages in clear text, want 0", n)
	}
}

func TestEnqueueDelivers(t *testing.T) {
	srv := mailtest.Start(t)
	m := New(testConfig(srv.Host(), srv.Port()), nil)
	closeMailer(t, m)
	if !m.Enqueue(resetMessage) {
		t.Fatal("Enqueue refused the message")
	}
	got := srv.WaitFor(t, resetMessage.To, 5*time.Second)
	if link := got.Link("http://localhost:8080/"); link != resetLink {
		t.Errorf("link = %q, want %q", link, resetLink)
	}
	// The count follows the server's answer, which WaitFor may beat.
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats() != (Stats{Sent: 1}) {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want one sent", m.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEnqueueRetriesThenLogsFailure(t *testing.T) {
	log, logs := newLogger()
	m := New(testConfig("127.0.0.1", mailtest.ClosedPort(t)), log) // 3 attempts, 10 ms backoff
	if !m.Enqueue(resetMessage) {
		t.Fatal("Enqueue refused the message")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range logs.records(t) {
		got = append(got, rec["level"].(string)+" "+rec["msg"].(string))
		if rec["to"] != resetMessage.To {
			t.Errorf("record %v does not name the recipient", rec)
		}
		if err, _ := rec["err"].(string); !strings.Contains(err, "connection refused") {
			t.Errorf("record %v does not give the reason", rec)
		}
	}
	if got := m.Stats(); got != (Stats{Failed: 3, GivenUp: 1}) {
		t.Errorf("Stats = %+v, want 3 failed attempts and 1 given up", got)
	}
	want := []string{"WARN mail not sent: will retry", "WARN mail not sent: will retry", "ERROR mail not sent: giving up"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if out := logs.String(); strings.Contains(out, "q3Zt-8mWc2vX") || strings.Contains(out, "Hello Zo") {
		t.Errorf("the message body reached the log:\n%s", out)
	}
}

func TestFullQueueDropsAndCloseCutsOff(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// Registered first so that it runs last, after the silent server stops.
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	cfg := testConfig("127.0.0.1", silentServer(t))
	cfg.QueueSize, cfg.ConnectTimeout = 1, 10*time.Second
	log, logs := newLogger()
	m := New(cfg, log)

	if !m.Enqueue(resetMessage) { // the worker takes it and hangs on the server
		t.Fatal("first Enqueue refused")
	}
	if m.Enqueue(resetMessage) {
		t.Fatal("second Enqueue accepted into a full queue")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	// Cutting the hung send off at the deadline is what Close is for: no error.
	if err := m.Close(ctx); err != nil {
		t.Errorf("Close: err = %v, want nil", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v with a 200ms deadline", took)
	}
	if m.Enqueue(resetMessage) {
		t.Error("Enqueue accepted a message after Close")
	}
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	var got []string
	for _, rec := range logs.records(t) {
		got = append(got, rec["level"].(string)+" "+rec["msg"].(string))
	}
	want := []string{
		"ERROR mail dropped: queue full",
		"ERROR mail not sent: shutting down", // the hung attempt, cut off by Close
		"ERROR mail dropped: shutting down",  // the memory outbox does not outlive the stop
		"ERROR mail not queued: mailer closed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoHostPrintsTheMail(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	log, logs := newLogger()
	m := New(Config{}, log)
	if err := m.Send(context.Background(), resetMessage); err != nil {
		t.Fatal(err)
	}
	if !m.Enqueue(resetMessage) {
		t.Fatal("Enqueue refused the message")
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := logs.records(t)
	if len(recs) != 2 {
		t.Fatalf("got %d log records, want 2 (Send and Enqueue)", len(recs))
	}
	for _, rec := range recs {
		want := map[string]any{
			"level": "INFO", "msg": "mail not sent: no SMTP server configured; printing it instead",
			"to": resetMessage.To, "subject": resetMessage.Subject, "text": resetMessage.Text,
		}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("log %s = %q, want %q", k, rec[k], v)
			}
		}
	}
}
