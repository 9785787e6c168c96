package cluster_test

import (
	"context"
	"testing"

	"natter/cluster"
	"natter/internal/natstest"
)

// A NATS server that restarts loses what it held in memory: every lease
// and every room's history. The nodes are told they lost their rooms,
// make the bucket and the stream again by themselves, and rooms are
// claimed, watched and stored again.
func TestNATSRestartLosesMemoryAndRecovers(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwners(t, srv.URL(), "a")
	b := startOwners(t, srv.URL(), "b")
	h := openHistory(t, srv.URL(), "a", cluster.HistoryOptions{})
	room, _ := openRoom(t, h, "general")
	put(t, room, 1, "before")
	if got := a.claim(t, "general"); got != "a" {
		t.Fatalf("a claims general: owner %s", got)
	}
	b.waitEvent(t, "owner general a")

	srv.Restart()
	a.waitEvent(t, "lost general")
	b.waitEvent(t, "owner general -")
	waitFor(t, "b to claim general", func() bool {
		owner, err := b.owners.Claim(context.Background(), "general")
		return err == nil && owner == "b"
	})
	a.waitEvent(t, "owner general b") // a watches the bucket made again
	if got := a.claim(t, "general"); got != "b" {
		t.Errorf("a claims general: owner %s, want b", got)
	}

	put(t, room, 2, "after")
	if _, got := openRoom(t, h, "general"); got != "2:after" {
		t.Errorf("general's history after the restart: %q, want 2:after (1 was lost with the server)", got)
	}
	if _, got := openRoom(t, h, "other"); got != "" {
		t.Errorf("another room's history after the restart: %q", got)
	}
}
