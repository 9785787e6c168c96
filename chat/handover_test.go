package chat

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// handoverStore is a settingsStore that also stores handovers.
type handoverStore struct {
	settingsStore
	handovers int
}

func (s *handoverStore) PutHandover(room string, rs RoomSettings) error {
	s.smu.Lock()
	s.handovers++
	fail := s.failSet
	s.smu.Unlock()
	if fail {
		return errors.New("broker away")
	}
	return s.PutSettings(room, rs)
}

// A room handed over by a registry that closes keeps its members on the
// registry that restores it: those who rejoin within the grace period are
// not announced again (their own socket gets the snapshot only, nobody
// else gets anything), the one who does not come back is announced as
// left after the grace period, as on one node.
func TestHandoverKeepsMembersThroughGrace(t *testing.T) {
	store := &handoverStore{}
	a := newHarness(t, Config{Store: store, Grace: time.Minute})
	for i, m := range []Member{alice, bob, carol} {
		drain(a.join("team", m, "s"+string(rune('1'+i))))
	}
	a.post("team", alice, "hello")
	history, _, _ := a.reg.Room("team")
	a.reg.Close()
	got := store.of("team")
	if !slices.Equal(got.Members, []Member{alice, bob, carol}) || got.HandedOver.IsZero() || got.Creator != alice.ID {
		t.Fatalf("stored at Close: %+v", got)
	}

	const grace = 300 * time.Millisecond
	b := newHarness(t, Config{Store: &handoverStore{}, Grace: grace})
	restored := time.Now()
	if err := b.reg.Restore("team", got, history); err != nil {
		t.Fatal(err)
	}
	if _, members, _ := b.reg.Room("team"); !slices.Equal(members, []Member{alice, bob, carol}) {
		t.Fatalf("members after the takeover: %v", members)
	}
	if st := b.reg.Stats(); st.Members != 3 || st.Pending != 3 || st.Rooms != 1 {
		t.Fatalf("after Restore: %+v", st)
	}
	var back []*Client
	for _, m := range []Member{alice, bob} {
		c := b.join("team", m, "s"+m.Name)
		if got, want := drain(c), "team:snap:seqs=1,2,3,4:members=alice,bob,carol|"; got != want {
			t.Fatalf("%s rejoining got %q, want %q", m.Name, got, want)
		}
		back = append(back, c)
	}
	sa, sb := b.pump(back[0]), b.pump(back[1])
	want := "team:msg:5:leave:carol:|team:left:carol:2|"
	waitFor(t, "carol's leave notice", func() bool { return len(sa.text()) >= len(want) && len(sb.text()) >= len(want) })
	if sa.text() != want || sb.text() != want {
		t.Fatalf("alice then got %q, bob %q, want %q", sa.text(), sb.text(), want)
	}
	if since := time.Since(restored); since < grace {
		t.Fatalf("carol left %v after the takeover, before the grace period of %v", since, grace)
	}
	if _, members, _ := b.reg.Room("team"); !slices.Equal(members, []Member{alice, bob}) {
		t.Fatalf("members after the grace period: %v", members)
	}
	if h, _, _ := b.reg.Room("team"); len(h) != 5 || h[4].Kind != KindLeave || h[4].Author != carol {
		t.Fatalf("history after the grace period: %+v", h)
	}
}

// Members stored by a handover older than the grace period (the room's
// next holder was killed since, and its settings still carry them) are
// not brought back; a room restored with none is the same as before.
func TestStaleHandoverBringsNobodyBack(t *testing.T) {
	b := newHarness(t, Config{Store: &handoverStore{}, Grace: time.Minute})
	s := RoomSettings{Creator: alice.ID, Members: []Member{alice, bob}, HandedOver: time.Now().Add(-2 * time.Minute)}
	if err := b.reg.Restore("team", s, nil); err != nil {
		t.Fatal(err)
	}
	if _, members, ok := b.reg.Room("team"); !ok || len(members) != 0 {
		t.Fatalf("members after a stale handover: %v %v", ok, members)
	}
	if got, want := drain(b.join("team", alice, "s1")), "team:snap:seqs=:members=|team:msg:1:join:alice:|team:joined:alice:1|"; got != want {
		t.Fatalf("alice joining got %q, want %q", got, want)
	}
}

// Drop stores the room's members too; one that cannot be stored is only
// lost (the room is dropped all the same).
func TestDropHandsMembersOver(t *testing.T) {
	store := &handoverStore{}
	h := newHarness(t, Config{Store: store, Grace: time.Minute})
	ca, cb := h.join("team", alice, "s1"), h.join("team", bob, "s2")
	drain(ca)
	drain(cb)
	if n := h.reg.Drop("team"); n != 2 {
		t.Fatalf("Drop closed %d connections, want 2", n)
	}
	h.reg.Leave(ca)
	h.reg.Leave(cb)
	if got := store.of("team"); !slices.Equal(got.Members, []Member{alice, bob}) {
		t.Fatalf("stored at Drop: %+v", got)
	}
	store.smu.Lock()
	store.failSet = true
	store.smu.Unlock()
	if err := h.reg.Restore("team", store.of("team"), nil); err != nil {
		t.Fatal(err)
	}
	c := h.join("team", carol, "s3")
	drain(c)
	if n := h.reg.Drop("team"); n != 1 {
		t.Fatalf("Drop with the store away closed %d connections, want 1", n)
	}
	h.reg.Leave(c)
	if _, _, ok := h.reg.Room("team"); ok || store.handovers != 2 {
		t.Fatalf("after a Drop whose handover failed: room kept %v, %d handovers tried", ok, store.handovers)
	}
}
