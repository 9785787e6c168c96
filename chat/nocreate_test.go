package chat

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// A private room's page asks not to create its room (JoinPrivate,
// JoinRemotePrivate, PostVisitorPrivate): after a restart ended it, its
// members are refused as for a room that vanished, and nothing appears
// in the lobby.
func TestPrivateJoinNeverCreatesTheRoom(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	for name, join := range map[string]func() (*Client, error){
		"JoinPrivate":       func() (*Client, error) { return h.reg.JoinPrivate("den", alice, "sa") },
		"JoinRemotePrivate": func() (*Client, error) { return h.reg.JoinRemotePrivate("den", alice, "sa", nil, "b/1") },
	} {
		if c, err := join(); c != nil || err != ErrNoRoom {
			t.Errorf("%s of a room that does not exist = %v, %v; want ErrNoRoom", name, c, err)
		}
	}
	if _, err := h.reg.PostVisitorPrivate("den", alice, "still here?"); err != ErrNoRoom {
		t.Errorf("PostVisitorPrivate to a room that does not exist = %v, want ErrNoRoom", err)
	}
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Errorf("Stats after the refusals = %+v, want all zero: nothing made", got)
	}
	if got := h.reg.RoomsFor(bob.ID); len(got) != 0 {
		t.Errorf("bob's lobby = %v, want no room", got)
	}
}

// The hint refuses a public room of the private room's name (the private
// one ended, and someone opened a public one since): a member's page that
// shows a private room never joins it, nor posts to it.
func TestPrivateJoinRefusesAPublicRoomOfThatName(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute, Permanent: []string{"general"}})
	b := h.join("den", bob, "sb") // public
	drain(b)
	for _, slug := range []string{"den", "general"} {
		if _, err := h.reg.JoinPrivate(slug, alice, "sa"); err != ErrNoRoom {
			t.Errorf("JoinPrivate of public room %s = %v, want ErrNoRoom", slug, err)
		}
		if _, err := h.reg.JoinRemotePrivate(slug, alice, "sa", nil, "b/1"); err != ErrNoRoom {
			t.Errorf("JoinRemotePrivate of public room %s = %v, want ErrNoRoom", slug, err)
		}
		if _, err := h.reg.PostVisitorPrivate(slug, alice, "for the private room"); err != ErrNoRoom {
			t.Errorf("PostVisitorPrivate to public room %s = %v, want ErrNoRoom", slug, err)
		}
	}
	if got := drain(b); got != "" {
		t.Errorf("the public room's member got %q, want nothing", got)
	}
	if got, want := h.reg.Stats(), (Stats{Rooms: 1, Members: 1, Connections: 1, Users: 1, Sessions: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v: bob alone", got, want)
	}
}

// A private or direct room that lives is joined and posted to with the
// hint as without it; an outsider is still refused.
func TestPrivateJoinOfALivePrivateRoom(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	if err := h.reg.EnsurePrivate("den", alice); err != nil {
		t.Fatal(err)
	}
	a, err := h.reg.JoinPrivate("den", alice, "sa")
	if err != nil {
		t.Fatalf("JoinPrivate of alice's private room: %v", err)
	}
	if got, want := drain(a), "den:snap:seqs=:members=|den:msg:1:join:alice:|den:joined:alice:1|"; got != want {
		t.Errorf("alice's socket got %q, want %q", got, want)
	}
	if _, err := h.reg.PostVisitorPrivate("den", alice, "hello"); err != nil {
		t.Fatalf("PostVisitorPrivate to alice's private room: %v", err)
	}
	if got, want := drain(a), "den:msg:2:text:alice:hello|"; got != want {
		t.Errorf("alice's socket got %q, want %q", got, want)
	}
	if _, err := h.reg.JoinPrivate("den", bob, "sb"); err != ErrNoRoom {
		t.Errorf("outsider JoinPrivate = %v, want ErrNoRoom", err)
	}
	if _, err := h.reg.PostVisitorPrivate("den", bob, "let me in"); err != ErrNoRoom {
		t.Errorf("outsider PostVisitorPrivate = %v, want ErrNoRoom", err)
	}

	slug, created, err := h.reg.Direct(alice, bob)
	if err != nil || !created {
		t.Fatalf("Direct = %q, %v, %v", slug, created, err)
	}
	bd, err := h.reg.JoinRemotePrivate(slug, bob, "sb", nil, "b/1")
	if err != nil {
		t.Fatalf("JoinRemotePrivate of bob's direct room: %v", err)
	}
	h.reg.Leave(bd)
	h.reg.Leave(a)
}

// A direct room's slug is made by Direct only: a join or a post to one
// that does not exist creates nothing (else it would be a public room, and
// Direct would send the two users there); Direct then makes the real one.
func TestDirectSlugIsNotCreatedByOthers(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	slug := DirectSlug(alice.ID, bob.ID)
	if _, err := h.reg.Join(slug, carol, "sc"); err != ErrNoRoom {
		t.Errorf("carol's Join of %s = %v, want ErrNoRoom", slug, err)
	}
	if err := h.reg.Ensure(slug, carol); err != ErrNoRoom {
		t.Errorf("carol's Ensure of %s = %v, want ErrNoRoom", slug, err)
	}
	if _, err := h.reg.JoinRemote(slug, alice, "sa", nil, "b/1"); err != ErrNoRoom {
		t.Errorf("alice's JoinRemote of %s = %v, want ErrNoRoom", slug, err)
	}
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Fatalf("Stats = %+v, want all zero: nothing made", got)
	}
	got, created, err := h.reg.Direct(bob, alice)
	if got != slug || !created || err != nil {
		t.Fatalf("Direct = %q, %v, %v; want %s, created", got, created, err, slug)
	}
	if _, err := h.reg.Join(slug, carol, "sc"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("carol's Join of the direct room = %v, want ErrNoRoom", err)
	}
	want := []RoomInfo{{Slug: slug, Private: true, Direct: true, With: "bob"}}
	if got := h.reg.RoomsFor(alice.ID); !slices.Equal(got, want) {
		t.Errorf("alice's lobby = %v, want %v", got, want)
	}
	if got := h.reg.RoomsFor(carol.ID); len(got) != 0 {
		t.Errorf("carol's lobby = %v, want none", got)
	}
}

// A room under a direct slug that Direct did not make (restored from
// settings an older node stored) is never taken for the two users'
// conversation.
func TestDirectRefusesARoomItDidNotMake(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	slug := DirectSlug(alice.ID, bob.ID)
	if err := h.reg.Restore(slug, RoomSettings{Creator: carol.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if got, created, err := h.reg.Direct(alice, bob); got != "" || created || err != ErrNoRoom {
		t.Errorf("Direct over carol's public room = %q, %v, %v; want ErrNoRoom", got, created, err)
	}
}
