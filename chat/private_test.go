package chat

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPrivateRoomBarsOutsidersAsIfMissing(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	if err := h.reg.EnsurePrivate("secret", alice); err != nil {
		t.Fatal(err)
	}
	a := h.join("secret", alice, "sa")
	drain(a)

	if _, err := h.reg.Join("secret", bob, "sb"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("outsider Join = %v, want ErrNoRoom", err)
	}
	if _, err := h.reg.PostVisitor("secret", bob, "hi"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("outsider PostVisitor = %v, want ErrNoRoom", err)
	}
	if err := h.reg.Ensure("secret", bob); !errors.Is(err, ErrNoRoom) {
		t.Errorf("outsider Ensure = %v, want ErrNoRoom", err)
	}
	if err := h.reg.EnsurePrivate("secret", bob); !errors.Is(err, ErrNameTaken) {
		t.Errorf("outsider EnsurePrivate = %v, want ErrNameTaken", err)
	}
	if _, ok := h.reg.RoomFor("secret", bob.ID); ok {
		t.Error("RoomFor(outsider) ok, want as missing")
	}
	if !h.reg.Barred("secret", bob.ID) || h.reg.Barred("secret", alice.ID) || h.reg.Barred("nowhere", bob.ID) {
		t.Error("Barred: want true for the outsider only")
	}
	if got := h.reg.Rooms(); len(got) != 0 {
		t.Errorf("Rooms() = %v, want the private room left out", got)
	}
	if got := h.reg.RoomsFor(bob.ID); len(got) != 0 {
		t.Errorf("RoomsFor(outsider) = %v, want none", got)
	}
	if got, want := h.reg.RoomsFor(alice.ID), []RoomInfo{{Slug: "secret", Members: 1, Private: true}}; !slices.Equal(got, want) {
		t.Errorf("RoomsFor(owner) = %v, want %v", got, want)
	}
	if got := drain(a); got != "" {
		t.Errorf("the member's socket got %q from the outsider's tries, want nothing", got)
	}
}

func TestInviteAdmitsAndNewInviteEndsOld(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	if err := h.reg.EnsurePrivate("secret", alice); err != nil {
		t.Fatal(err)
	}
	h.join("secret", alice, "sa")
	v, _ := h.reg.RoomFor("secret", alice.ID)
	old := v.Invite
	if len(old) != 43 {
		t.Fatalf("invite token %q: want 32 bytes in base64url (43 characters)", old)
	}
	if h.reg.AdmitByInvite("secret", bob.ID, old[:42]+"x") && old[42] != 'x' {
		t.Error("a wrong token admitted bob")
	}
	if !h.reg.AdmitByInvite("secret", bob.ID, old) {
		t.Fatal("the room's token did not admit bob")
	}
	h.join("secret", bob, "sb")
	if _, err := h.reg.NewInvite("secret", bob.ID); !errors.Is(err, ErrNotOwner) {
		t.Errorf("NewInvite by a member = %v, want ErrNotOwner", err)
	}
	if _, err := h.reg.NewInvite("secret", carol.ID); !errors.Is(err, ErrNoRoom) {
		t.Errorf("NewInvite by an outsider = %v, want ErrNoRoom", err)
	}
	tok, err := h.reg.NewInvite("secret", alice.ID)
	if err != nil || tok == old {
		t.Fatalf("NewInvite = %q, %v; want a new token", tok, err)
	}
	if h.reg.AdmitByInvite("secret", carol.ID, old) {
		t.Error("the old token still admits after a new one was made")
	}
	if !h.reg.AdmitByInvite("secret", carol.ID, tok) {
		t.Error("the new token does not admit")
	}
	if h.reg.Barred("secret", bob.ID) {
		t.Error("bob, admitted with the old token, was barred by the new one")
	}
}

func TestPrivateRoomVanishesWithLastMember(t *testing.T) {
	h := newHarness(t, Config{Grace: 20 * time.Millisecond})
	if err := h.reg.EnsurePrivate("secret", alice); err != nil {
		t.Fatal(err)
	}
	c := h.join("secret", alice, "sa")
	h.reg.Leave(c)
	waitFor(t, "room gone", func() bool { _, _, ok := h.reg.Room("secret"); return !ok })
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Errorf("Stats = %+v, want all zero", got)
	}
	// The name is free again, and public for whoever takes it now.
	if err := h.reg.Ensure("secret", bob); err != nil {
		t.Fatalf("Ensure after the private room ended: %v", err)
	}
	if h.reg.Barred("secret", carol.ID) {
		t.Error("the new room of that name still bars others")
	}
}

func TestRemoveClosesSocketsAndBarsReentry(t *testing.T) {
	h := newHarness(t, Config{}) // no grace: the room ends with alice's Leave
	a := h.join("r", alice, "sa")
	b1, b2 := h.join("r", bob, "sb1"), h.join("r", bob, "sb2")
	sa, sb1, sb2 := h.pump(a), h.pump(b1), h.pump(b2)
	waitFor(t, "bob's join seen", func() bool { return strings.Contains(sa.text(), "r:joined:bob:2|") })

	if err := h.reg.Remove("r", carol.ID, false, bob.ID); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Remove by a non-owner = %v, want ErrNotOwner", err)
	}
	if err := h.reg.Remove("r", alice.ID, false, alice.ID); !errors.Is(err, ErrRemoveSelf) {
		t.Errorf("Remove of oneself = %v, want ErrRemoveSelf", err)
	}
	if err := h.reg.Remove("r", alice.ID, false, bob.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*fakeSocket{sb1, sb2} {
		waitFor(t, "bob's close frame", func() bool { return len(s.closeFrames()) > 0 })
		if got := s.closeFrames(); !slices.Equal(got, []string{"1008 You were removed from #r."}) {
			t.Errorf("bob's close frames = %q", got)
		}
	}
	waitFor(t, "alice told", func() bool { return strings.Contains(sa.text(), "r:left:bob:1|") })
	if b1.Cause() != EndRemoved {
		t.Errorf("cause = %q, want %q", b1.Cause(), EndRemoved)
	}
	h.reg.Leave(b1) // as Serve does: nothing left to undo
	h.reg.Leave(b2)
	if _, members, _ := h.reg.Room("r"); !slices.Equal(members, []Member{alice}) {
		t.Errorf("members = %v, want alice only", members)
	}
	if _, err := h.reg.Join("r", bob, "sb3"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("re-Join = %v, want ErrNoRoom", err)
	}
	if _, err := h.reg.PostVisitor("r", bob, "back"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("re-post = %v, want ErrNoRoom", err)
	}
	if got := h.reg.RoomsFor(bob.ID); len(got) != 0 {
		t.Errorf("RoomsFor(removed) = %v, want none", got)
	}
	if got := h.reg.Stats(); got.Connections != 1 || got.Members != 1 || got.Sessions != 1 {
		t.Errorf("Stats = %+v, want alice's one connection only", got)
	}
	// The bar goes with the room: a new room of that name admits bob.
	h.reg.Leave(a)
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Fatalf("Stats after the last Leave = %+v, want all zero", got)
	}
	h.reg.Leave(h.join("r", bob, "sb4"))
}

func TestDirectRoomOfTwoAndUserNotice(t *testing.T) {
	h := newHarness(t, Config{Grace: 20 * time.Millisecond})
	b := h.join("general", bob, "sb") // bob is elsewhere
	drain(b)

	slug, created, err := h.reg.Direct(alice, bob)
	if err != nil || !created || slug != "dm-1-2" {
		t.Fatalf("Direct = %q, %v, %v; want dm-1-2, created", slug, created, err)
	}
	if n := h.reg.SendUser(bob.ID, []byte("notice|")); n != 1 {
		t.Errorf("SendUser reached %d connections, want 1", n)
	}
	if got := drain(b); got != "notice|" {
		t.Errorf("bob's socket in another room got %q", got)
	}
	if again, created, err := h.reg.Direct(bob, alice); again != slug || created || err != nil {
		t.Errorf("Direct from bob = %q, %v, %v; want the same room", again, created, err)
	}
	a := h.join(slug, alice, "sa")
	bd := h.join(slug, bob, "sb2")
	if _, err := h.reg.Join(slug, carol, "sc"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("carol joins the direct room: %v", err)
	}
	v, _ := h.reg.RoomFor(slug, bob.ID)
	if !v.Direct || v.With != alice || v.Invite != "" {
		t.Errorf("RoomFor(bob) = %+v, want direct with alice, no invitation", v)
	}
	want := []RoomInfo{{Slug: slug, Members: 2, Private: true, Direct: true, With: "alice"}, {Slug: "general", Members: 1}}
	if got := h.reg.RoomsFor(bob.ID); !slices.Equal(got, want) {
		t.Errorf("RoomsFor(bob) = %v, want %v", got, want)
	}
	if _, err := h.reg.NewInvite(slug, alice.ID); !errors.Is(err, ErrNotOwner) {
		t.Errorf("NewInvite on a direct room = %v, want ErrNotOwner", err)
	}

	// Gone with its last member, and with it every trace.
	h.reg.Leave(a)
	h.reg.Leave(bd)
	h.reg.Leave(b)
	waitFor(t, "all gone", func() bool { return h.reg.Stats() == (Stats{}) })
	if _, ok := h.reg.RoomFor(slug, alice.ID); ok {
		t.Error("the direct room outlived its members")
	}
}

func TestRemovalFromPermanentRoomEndsWhenItEmpties(t *testing.T) {
	h := newHarness(t, Config{Permanent: []string{"general"}})
	a, b := h.join("general", alice, "sa"), h.join("general", bob, "sb")
	if err := h.reg.Remove("general", alice.ID, false, bob.ID); !errors.Is(err, ErrNotOwner) {
		t.Errorf("a member removes in a permanent room: %v, want ErrNotOwner", err)
	}
	if err := h.reg.Remove("general", alice.ID, true, bob.ID); err != nil {
		t.Fatalf("an admin removes in a permanent room: %v", err)
	}
	h.reg.Leave(b)
	if _, err := h.reg.Join("general", bob, "sb2"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("re-Join while the room lives = %v, want ErrNoRoom", err)
	}
	h.reg.Leave(a) // the room empties: its history and removals end
	h.reg.Leave(h.join("general", bob, "sb3"))
}
