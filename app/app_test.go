package app

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"natter/client"
)

// startServer runs a real Natter on a free loopback port with a database
// in a temp dir, and stops it when the test ends.
func startServer(t *testing.T, edit func(*Config)) *Server {
	t.Helper()
	return startServerLog(t, edit, io.Discard)
}

// startServerLog is startServer with the log written to log.
func startServerLog(t *testing.T, edit func(*Config), log io.Writer) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.BaseURL = ""
	cfg.DBPath = filepath.Join(t.TempDir(), "natter.db")
	cfg.FastHashing = true
	cfg.LogLevel = "warn"
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

func TestSmokeChat(t *testing.T) {
	s := startServer(t, nil)
	alice, _ := client.New(s.BaseURL())
	bob, _ := client.New(s.BaseURL())
	if err := alice.Register("alice", "alice@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Register("bob", "bob@example.com", "staple tuning fork"); err != nil {
		t.Fatal(err)
	}
	as, err := alice.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	bs, err := bob.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if err := as.SendMessage("<script>alert(1)</script>"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	bs.SetReadDeadline(deadline)
	var all []string
	for {
		_, b, err := bs.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v; got %q", err, all)
		}
		all = append(all, string(b))
		if strings.Contains(string(b), "&lt;script&gt;alert(1)&lt;/script&gt;") {
			break
		}
	}
	t.Logf("frames: %q", all)
}

// A stop that comes before the server got to serve still stops it.
func TestImmediateStop(t *testing.T) {
	for i := 0; i < 20; i++ {
		cfg := DefaultConfig()
		cfg.Addr, cfg.BaseURL, cfg.LogLevel = "127.0.0.1:0", "", "error"
		cfg.DBPath = filepath.Join(t.TempDir(), "natter.db")
		s, err := New(context.Background(), cfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Serve did not return after an immediate stop")
		}
	}
}

// The defaults are what the README's configuration table promises.
func TestDefaultConfig(t *testing.T) {
	got := DefaultConfig()
	want := Config{
		Addr: "localhost:8080", DBPath: "natter.db", BaseURL: "",
		SMTPPort: 587, SMTPFrom: "Natter <natter@localhost>", SMTPTLS: "starttls",
		SMTPConnectTimeout: 10 * time.Second, SMTPSendTimeout: 30 * time.Second,
		RoomGrace: 10 * time.Second, History: 200, MessageRate: 10, MessageBurst: 20,
		LogLevel: "info", LogFormat: "text",
	}
	if got != want {
		t.Errorf("DefaultConfig() = %+v\nwant %+v", got, want)
	}
	// The SMTP timeouts reach the mailer.
	if m := got.mailConfig(); m.ConnectTimeout != 10*time.Second || m.SendTimeout != 30*time.Second || m.TLS != "starttls" || m.Port != 587 {
		t.Errorf("mailConfig() = %+v", m)
	}
}
