package chat

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// settingsStore is a fakeStore that also keeps each room's last settings.
type settingsStore struct {
	fakeStore
	smu      sync.Mutex
	settings map[string]RoomSettings
	failSet  bool
}

func (s *settingsStore) PutSettings(room string, rs RoomSettings) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.failSet {
		return errors.New("broker away")
	}
	if s.settings == nil {
		s.settings = make(map[string]RoomSettings)
	}
	s.settings[room] = rs
	return nil
}

func (s *settingsStore) of(room string) RoomSettings {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.settings[room]
}

// A private room's settings are stored at its creation and at each change,
// and a registry restoring the room from them and its history keeps it
// private: the same members admitted, the removed one barred, the
// invitation link still good, the history and numbering as they were.
func TestRestoreKeepsPrivateRoomPrivate(t *testing.T) {
	store := &settingsStore{}
	a := newHarness(t, Config{Store: store, Grace: time.Minute})
	if err := a.reg.EnsurePrivate("den", alice); err != nil {
		t.Fatal(err)
	}
	v, _ := a.reg.RoomFor("den", alice.ID)
	if !a.reg.AdmitByInvite("den", bob.ID, v.Invite) || !a.reg.AdmitByInvite("den", carol.ID, v.Invite) {
		t.Fatal("the invitation did not admit bob and carol")
	}
	c := a.join("den", alice, "s1")
	drain(c)
	a.post("den", alice, "one")
	a.post("den", alice, "two")
	if err := a.reg.Remove("den", alice.ID, false, carol.ID); err != nil {
		t.Fatal(err)
	}
	got := store.of("den")
	want := RoomSettings{Creator: alice.ID, Private: true, Allowed: []int64{1, 2}, Removed: []int64{3}, InviteHash: inviteHash(v.Invite)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored settings %+v, want %+v", got, want)
	}
	history, _, _ := a.reg.Room("den")

	b := newHarness(t, Config{Store: &settingsStore{}, Grace: time.Minute})
	if err := b.reg.Restore("den", got, history); err != nil {
		t.Fatal(err)
	}
	dave := Member{ID: 4, Name: "dave"}
	if !b.reg.Barred("den", dave.ID) || !b.reg.Barred("den", carol.ID) || b.reg.Barred("den", bob.ID) {
		t.Fatal("after the takeover, the room does not bar dave and carol, or bars bob")
	}
	if _, err := b.reg.Join("den", dave, "s4"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("an outsider joining the restored room: %v, want ErrNoRoom", err)
	}
	if b.reg.AdmitByInvite("den", carol.ID, v.Invite) {
		t.Fatal("the removed member came back by the invitation")
	}
	if !b.reg.AdmitByInvite("den", dave.ID, v.Invite) {
		t.Fatal("the invitation made before the takeover no longer admits")
	}
	bv, ok := b.reg.RoomFor("den", bob.ID)
	if !ok || !bv.Private || bv.Owner != alice.ID || bv.Invite != "" {
		t.Fatalf("bob's view: ok %v, private %v, owner %d, invite %q", ok, bv.Private, bv.Owner, bv.Invite)
	}
	if !slices.Equal(seqsOf(bv.History), seqsOf(history)) || bv.History[1].Text != "one" || bv.History[2].Text != "two" {
		t.Fatalf("restored history %v, want %v", bv.History, history)
	}
	cb := b.join("den", bob, "s2")
	drain(cb)
	// Numbering goes on: bob's arrival is the next entry, then his text.
	if m := b.post("den", bob, "three"); m.Seq != history[len(history)-1].Seq+2 {
		t.Fatalf("the next message is numbered %d after %d", m.Seq, history[len(history)-1].Seq)
	}
	if tok, err := b.reg.NewInvite("den", alice.ID); err != nil || !b.reg.InviteValid("den", 5, tok) || b.reg.InviteValid("den", 5, v.Invite) {
		t.Fatalf("a new link after the takeover: %v", err)
	}
	if err := b.reg.Remove("den", alice.ID, false, bob.ID); err != nil {
		t.Fatalf("the creator removing a member after the takeover: %v", err)
	}
}

// A room whose settings cannot be stored is not created, and a change of
// them that cannot be stored does not happen.
func TestSettingsNotStoredChangeNothing(t *testing.T) {
	store := &settingsStore{}
	h := newHarness(t, Config{Store: store, Grace: time.Minute})
	if err := h.reg.EnsurePrivate("den", alice); err != nil {
		t.Fatal(err)
	}
	v, _ := h.reg.RoomFor("den", alice.ID)
	store.smu.Lock()
	store.failSet = true
	store.smu.Unlock()
	if err := h.reg.EnsurePrivate("other", alice); !errors.Is(err, ErrNotStored) {
		t.Fatalf("EnsurePrivate with the store away: %v", err)
	}
	if _, _, ok := h.reg.Room("other"); ok {
		t.Fatal("the room whose settings were not stored exists")
	}
	if _, err := h.reg.Join("public", bob, "s2"); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Join creating a room with the store away: %v", err)
	}
	if h.reg.AdmitByInvite("den", bob.ID, v.Invite) || !h.reg.Barred("den", bob.ID) {
		t.Fatal("bob was admitted though it was not stored")
	}
	if _, err := h.reg.NewInvite("den", alice.ID); !errors.Is(err, ErrNotStored) || !h.reg.InviteValid("den", bob.ID, v.Invite) {
		t.Fatalf("NewInvite with the store away: %v, or the old link stopped working", err)
	}
}

// Drop lets a room go that another node holds now: its sockets close with
// 1012, nobody is told of a leave, the Store keeps its history, and the
// room can be restored here later as any other.
func TestDropKeepsTheStoredRoom(t *testing.T) {
	store := &settingsStore{}
	h := newHarness(t, Config{Store: store, Grace: time.Minute})
	ca, cb := h.join("team", alice, "s1"), h.join("team", bob, "s2")
	sa, sb := h.pump(ca), h.pump(cb)
	h.post("team", alice, "hello")
	history, _, _ := h.reg.Room("team")
	if n := h.reg.Drop("team"); n != 2 {
		t.Fatalf("Drop closed %d connections, want 2", n)
	}
	want := []string{"1012 " + MovedReason}
	waitFor(t, "both sockets closed", func() bool { return len(sa.closeFrames()) == 1 && len(sb.closeFrames()) == 1 })
	if !slices.Equal(sa.closeFrames(), want) || !slices.Equal(sb.closeFrames(), want) {
		t.Fatalf("close frames %q and %q, want %q", sa.closeFrames(), sb.closeFrames(), want)
	}
	h.reg.Leave(ca) // what Serve does when the socket ends: nothing left
	h.reg.Leave(cb)
	if _, _, ok := h.reg.Room("team"); ok {
		t.Fatal("the dropped room is still here")
	}
	if st := h.reg.Stats(); st.Rooms != 0 || st.Members != 0 || st.Connections != 0 {
		t.Fatalf("after Drop: %+v", st)
	}
	puts, purges := store.got()
	if len(purges) != 0 || len(puts) != 3 {
		t.Fatalf("the store saw puts %q and purges %q, want the 3 entries and no purge", puts, purges)
	}
	if strings.Contains(sa.text(), "left") {
		t.Fatalf("alice saw %q", sa.text())
	}
	if err := h.reg.Restore("team", store.of("team"), history); err != nil {
		t.Fatal(err)
	}
	if got, _, ok := h.reg.Room("team"); !ok || !slices.Equal(seqsOf(got), []uint64{1, 2, 3}) {
		t.Fatalf("restored after Drop: %v %v", ok, got)
	}
}
