package cluster_test

import (
	"strings"
	"testing"
	"time"

	"natter/chat"
	"natter/cluster"
	"natter/internal/natstest"
)

// The owner forgets an idle member's relayed socket (it dropped the room)
// and the close it sends is lost on the way (NATS restarting): the
// relaying node hears nothing more from the owner, which has none of its
// sockets left and so no heartbeat to send; after the silence allowed it
// asks the owner, which answers that it does not know the socket, and
// the socket closes with 1012, so that the browser reconnects rather than
// staying live with nothing reaching it.
func TestForgottenRelayedSocketIsClosed(t *testing.T) {
	cluster.SetLinkChecks(t, 100*time.Millisecond, 500*time.Millisecond)
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	_, anaScreen := joinRelayed(t, b, "a", "lounge", ana)
	waitFor(t, "ana's snapshot", func() bool { return len(anaScreen.seen()) > 0 })

	cluster.LoseLinkMessages(a.relays, 1000)
	if n := a.reg.Drop("lounge"); n != 1 {
		t.Fatalf("Drop closed %d connections, want ana's", n)
	}
	forgot := time.Now()
	waitFor(t, "ana's socket closed", func() bool { code, _ := anaScreen.closed(); return code != 0 })
	if code, reason := anaScreen.closed(); code != 1012 || reason != "Reconnecting to the other servers." {
		t.Errorf("ana's socket closed with %d %q, want 1012", code, reason)
	}
	if d := time.Since(forgot); d > 2*time.Second {
		t.Errorf("closed %v after the owner forgot it", d)
	}
	if _, relayed := b.Conns(); relayed != 0 {
		t.Errorf("b keeps %d relayed connections", relayed)
	}
}

// A message from the owner lost on the way (the close of one socket, or a
// frame) leaves a gap in the link's numbers: the relaying node closes
// every socket it relays to that owner with 1012 at the next message,
// without waiting for a silence (the owner's other sockets keep the link
// busy), and they reconnect and catch up.
func TestGapOnTheLinkClosesItsSockets(t *testing.T) {
	cluster.SetLinkChecks(t, 100*time.Millisecond, time.Minute)
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	_, anaScreen := joinRelayed(t, b, "a", "lounge", ana)
	_, boScreen := joinRelayed(t, b, "a", "kitchen", bo)
	waitFor(t, "ana's snapshot", func() bool { return len(anaScreen.seen()) > 0 })
	waitFor(t, "bo's snapshot", func() bool { return len(boScreen.seen()) > 0 })

	cluster.LoseLinkMessages(a.relays, 1)
	a.reg.Drop("lounge")
	for who, s := range map[string]*screen{"ana": anaScreen, "bo": boScreen} {
		waitFor(t, who+"'s socket closed", func() bool { code, _ := s.closed(); return code != 0 })
		if code, reason := s.closed(); code != 1012 || reason != "Reconnecting to the other servers." {
			t.Errorf("%s's socket closed with %d %q, want 1012", who, code, reason)
		}
	}
	// bo's connection on the owner was told to end: his member leaves.
	waitFor(t, "bo gone from kitchen on a", func() bool {
		_, members, ok := a.reg.Room("kitchen")
		return !ok || len(members) == 0
	})
}

// An idle link stays open: the owner's heartbeats keep the relaying node
// from taking it as silent. An owner of an older version, which numbers
// nothing and sends no heartbeat, is never checked: its relayed sockets
// stay open however quiet (rolling upgrades).
func TestIdleLinksStayOpen(t *testing.T) {
	cluster.SetLinkChecks(t, 100*time.Millisecond, 400*time.Millisecond)
	srv := natstest.Start(t)
	quiet := chat.Config{PingPeriod: time.Minute, PongWait: 2 * time.Minute}
	a := startOwnerWith(t, srv.URL(), "a", quiet)
	old := startOwnerWith(t, srv.URL(), "old", quiet)
	cluster.AsOlderVersion(old.relays)
	b, _ := startRelay(t, srv.URL(), "b")
	_, anaScreen := joinRelayed(t, b, "a", "lounge", ana)
	_, boScreen := joinRelayed(t, b, "old", "kitchen", bo)
	cyOnA := a.joinLocal(t, "lounge", chat.Member{ID: 3, Name: "cy"})
	diOnOld := old.joinLocal(t, "kitchen", chat.Member{ID: 4, Name: "di"})
	anaScreen.waitFrame(t, "ana", "joined:cy:2")
	boScreen.waitFrame(t, "bo", "joined:di:2")

	time.Sleep(2 * time.Second) // five times the silence allowed
	for who, s := range map[string]*screen{"ana": anaScreen, "bo": boScreen} {
		if code, reason := s.closed(); code != 0 {
			t.Errorf("%s's idle socket closed with %d %q", who, code, reason)
		}
	}
	cyOnA.typed <- []byte("still here")
	diOnOld.typed <- []byte("here too")
	waitFor(t, "cy's post on ana's screen", func() bool { return seenPart(anaScreen, ":text:cy:still here") })
	waitFor(t, "di's post on bo's screen", func() bool { return seenPart(boScreen, ":text:di:here too") })
}

// seenPart reports whether a frame on s ends with part.
func seenPart(s *screen, part string) bool {
	for _, f := range s.seen() {
		if strings.HasSuffix(f, part) {
			return true
		}
	}
	return false
}
