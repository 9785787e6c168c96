package app_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
)

func TestSmokeChat(t *testing.T) {
	s := apptest.Start(t)
	as := apptest.Dial(t, s.User("alice"), "general")
	bs := apptest.Dial(t, s.User("bob"), "general")
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
		cfg := app.DefaultConfig()
		cfg.Addr, cfg.BaseURL, cfg.LogLevel = "127.0.0.1:0", "", "error"
		cfg.DBPath = filepath.Join(t.TempDir(), "natter.db")
		s, err := app.New(context.Background(), cfg, io.Discard)
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
