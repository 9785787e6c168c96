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

	settings, found, got, err := openBrokerHistory(t, srv, "b").load(context.Background(), "team")
	if err != nil {
		t.Fatal(err)
	}
	if want := (chat.RoomSettings{Creator: 1}); !found || !reflect.DeepEqual(settings, want) {
		t.Errorf("b loads the settings %+v (found %v), want %+v", settings, found, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("b loads\n%+v\nwant\n%+v", got, want)
	}

	reg.Leave(c) // no grace period: the room is destroyed
	_, found, got, err = openBrokerHistory(t, srv, "c").load(context.Background(), "team")
	if err != nil || len(got) != 0 || found {
		t.Errorf("after the room was destroyed: %+v, settings found %v, %v", got, found, err)
	}
}

// A private room taken over through the broker stays private: node b
// restores it from what node a stored, and bars whom a barred.
func TestBrokerHistoryKeepsRoomPrivate(t *testing.T) {
	srv := natstest.Start(t)
	reg := chat.New(chat.Config{Store: openBrokerHistory(t, srv, "a"), Grace: time.Minute}, handlers.Renderer())
	t.Cleanup(reg.Close)
	ana, bo, cy := chat.Member{ID: 1, Name: "ana"}, chat.Member{ID: 2, Name: "bo"}, chat.Member{ID: 3, Name: "cy"}
	if err := reg.EnsurePrivate("den", ana); err != nil {
		t.Fatal(err)
	}
	v, _ := reg.RoomFor("den", ana.ID)
	if !reg.AdmitByInvite("den", bo.ID, v.Invite) {
		t.Fatal("bo was not admitted")
	}
	if _, err := reg.PostVisitor("den", bo, "hi ana"); err != nil {
		t.Fatal(err)
	}

	settings, found, history, err := openBrokerHistory(t, srv, "b").load(context.Background(), "den")
	if err != nil || !found {
		t.Fatalf("b loads: found %v, %v", found, err)
	}
	b := chat.New(chat.Config{Store: openBrokerHistory(t, srv, "b2"), Grace: time.Minute}, handlers.Renderer())
	t.Cleanup(b.Close)
	if err := b.Restore("den", settings, history); err != nil {
		t.Fatal(err)
	}
	if !b.Barred("den", cy.ID) || b.Barred("den", bo.ID) {
		t.Fatal("on b, the room does not bar cy, or bars bo")
	}
	bv, ok := b.RoomFor("den", bo.ID)
	if !ok || !bv.Private || len(bv.History) != 2 || bv.History[1].Text != "hi ana" {
		t.Fatalf("bo's view on b: ok %v, private %v, history %+v", ok, bv.Private, bv.History)
	}
	if !b.InviteValid("den", cy.ID, v.Invite) {
		t.Fatal("the invitation link made on a does not work on b")
	}
}
