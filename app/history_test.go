package app

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"natter/chat"
	"natter/cluster"
	"natter/handlers"
	"natter/internal/natstest"
)

// openBrokerHistory connects a node to srv and returns its history store.
func openBrokerHistory(t *testing.T, srv *natstest.Server, node string) *brokerHistory {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := cluster.Connect(context.Background(), srv.URL(), node, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h, err := cluster.NewHistory(context.Background(), conn, cluster.HistoryOptions{}, log)
	if err != nil {
		t.Fatal(err)
	}
	return newBrokerHistory(h, log)
}

// What one node's registry stores in the broker, a node taking the room
// over loads as the same messages, each in its latest state; the room's
// destruction purges them.
func TestBrokerHistoryRoundTrip(t *testing.T) {
	srv := natstest.Start(t)
	store := openBrokerHistory(t, srv, "a")
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	reg := chat.New(chat.Config{Store: store, Now: func() time.Time { return at }}, handlers.Renderer())
	t.Cleanup(reg.Close)
	ana, bo := chat.Member{ID: 1, Name: "ana"}, chat.Member{ID: 2, Name: "bo"}
	c, err := reg.Join("team", ana, "s1")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { _, err := reg.Post("team", ana, "hello @bo", bo); return err },
		func() error { _, err := reg.Post("team", ana, "second"); return err },
		func() error { _, err := reg.Edit("team", ana, 2, "hello @bo!", bo); return err },
		func() error { _, err := reg.React("team", bo, 2, "🎉"); return err },
		func() error { return reg.Delete("team", ana, false, 3) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	want, _, _ := reg.Room("team")
	if len(want) != 3 {
		t.Fatalf("the room holds %d entries, want 3", len(want))
	}

	got, err := openBrokerHistory(t, srv, "b").load(context.Background(), "team")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("b loads\n%+v\nwant\n%+v", got, want)
	}

	reg.Leave(c) // no grace period: the room is destroyed
	got, err = openBrokerHistory(t, srv, "c").load(context.Background(), "team")
	if err != nil || len(got) != 0 {
		t.Errorf("after the room was destroyed: %+v, %v", got, err)
	}
}
