package chat

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoomDestroyedOneGraceAfterLastLeave(t *testing.T) {
	const grace = 100 * time.Millisecond
	h := newHarness(t, Config{Grace: grace})
	c := h.join("r", alice, "s1")
	h.post("r", alice, "hello")
	// Taken before the call that arms the grace timer: measured from
	// after it, a slow call made the room seem to go early.
	left := time.Now()
	h.reg.Leave(c)

	if _, _, ok := h.reg.Room("r"); !ok {
		t.Fatal("room gone right after Leave; want it kept for the grace period")
	}
	want := Stats{Rooms: 1, Members: 1, Pending: 1, Users: 1}
	if got := h.reg.Stats(); got != want {
		t.Errorf("Stats inside grace = %+v, want %+v", got, want)
	}
	waitFor(t, "room destroyed", func() bool { _, _, ok := h.reg.Room("r"); return !ok })
	if elapsed := time.Since(left); elapsed < grace {
		t.Errorf("room destroyed %v after the last Leave, before the %v grace", elapsed, grace)
	}
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Errorf("Stats after destruction = %+v, want all zero", got)
	}
	if got := h.reg.Rooms(); len(got) != 0 {
		t.Errorf("Rooms() = %v, want none", got)
	}
}

func TestEnsuredRoomNobodyJoinsDies(t *testing.T) {
	const grace = 50 * time.Millisecond
	h := newHarness(t, Config{Grace: grace})
	created := time.Now() // before Ensure arms the timer, as above
	if err := h.reg.Ensure("r", alice); err != nil {
		t.Fatal(err)
	}
	if got, want := h.reg.Rooms(), []RoomInfo{{Slug: "r"}}; !slices.Equal(got, want) {
		t.Fatalf("Rooms() = %v, want %v", got, want)
	}
	waitFor(t, "room destroyed", func() bool { _, _, ok := h.reg.Room("r"); return !ok })
	if elapsed := time.Since(created); elapsed < grace {
		t.Errorf("room destroyed %v after Ensure, before the %v grace", elapsed, grace)
	}
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Errorf("Stats = %+v, want all zero", got)
	}
}

func TestEnsuredRoomJoinedInTimeSurvives(t *testing.T) {
	const grace = 50 * time.Millisecond
	h := newHarness(t, Config{Grace: grace})
	if err := h.reg.Ensure("r", alice); err != nil {
		t.Fatal(err)
	}
	h.join("r", alice, "s1")
	time.Sleep(3 * grace)
	if _, members, ok := h.reg.Room("r"); !ok || !slices.Equal(members, []Member{alice}) {
		t.Errorf("Room(r) = %v, %v; want alive with alice", members, ok)
	}
}

func TestReconnectInsideGraceIsSilent(t *testing.T) {
	const grace = 100 * time.Millisecond
	h := newHarness(t, Config{Grace: grace})
	a := h.join("r", alice, "s1")
	b := h.join("r", bob, "s2")
	h.post("r", alice, "hello")
	drain(a)
	drain(b)

	h.reg.Leave(a)
	a = h.join("r", alice, "s1")
	if got, want := drain(a), "r:snap:seqs=1,2,3:members=alice,bob|"; got != want {
		t.Errorf("reconnected client got %q, want %q", got, want)
	}
	time.Sleep(2 * grace) // the cancelled timer's time passes
	if got := drain(b); got != "" {
		t.Errorf("other member saw %q after a reconnect inside grace, want nothing", got)
	}
	if got, want := h.reg.Stats(), (Stats{Rooms: 1, Members: 2, Connections: 2, Users: 2, Sessions: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestSecondTabIsSilent(t *testing.T) {
	h := newHarness(t, Config{}) // Grace 0: a leave takes effect inside Leave
	tab1 := h.join("r", alice, "s1")
	b := h.join("r", bob, "s2")
	drain(tab1)
	drain(b)

	tab2 := h.join("r", alice, "s1")
	if got, want := drain(tab2), "r:snap:seqs=1,2:members=alice,bob|"; got != want {
		t.Errorf("second tab got %q, want %q", got, want)
	}
	h.reg.Leave(tab1)
	for name, c := range map[string]*Client{"bob": b, "alice's second tab": tab2} {
		if got := drain(c); got != "" {
			t.Errorf("%s saw %q, want nothing", name, got)
		}
	}
	h.reg.Leave(tab2)
	if got, want := drain(b), "r:msg:3:leave:alice:|r:left:alice:1|"; got != want {
		t.Errorf("after alice's last tab, bob got %q, want %q", got, want)
	}
}

func TestLeaveIsIdempotentAndFreesEverything(t *testing.T) {
	h := newHarness(t, Config{Permanent: []string{"general"}})
	var clients []*Client
	for _, m := range []Member{alice, bob, carol} {
		clients = append(clients, h.join("general", m, "s"+m.Name), h.join("r-"+m.Name, m, "s"+m.Name))
	}
	if got, want := h.reg.Stats(), (Stats{Rooms: 3, Members: 6, Connections: 6, Users: 3, Sessions: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	for _, c := range clients {
		h.reg.Leave(c)
		h.reg.Leave(c)
	}
	h.reg.Leave(nil)
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Errorf("Stats after every Leave = %+v, want all zero", got)
	}
}

// TestLastLeaveRacesJoin: with Grace 0 the last Leave destroys the room
// while a Join may hold it; the joiner must always end up in a live room.
func TestLastLeaveRacesJoin(t *testing.T) {
	h := newHarness(t, Config{})
	for i := range 500 {
		a := h.join("r", alice, "s1")
		var b *Client
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; h.reg.Leave(a) }()
		go func() { defer wg.Done(); <-start; b = h.join("r", bob, "s2") }()
		close(start)
		wg.Wait()

		_, members, ok := h.reg.Room("r")
		if !ok || !slices.Equal(members, []Member{bob}) || b.Room() != "r" {
			t.Fatalf("iteration %d: Room(r) = %v, %v; want alive with only bob", i, members, ok)
		}
		if got := drain(b); !strings.HasPrefix(got, "r:snap:") {
			t.Fatalf("iteration %d: joiner's first frame is %q, want the snapshot", i, got)
		}
		h.reg.Leave(b)
		if got := h.reg.Stats(); got != (Stats{}) {
			t.Fatalf("iteration %d: Stats = %+v, want all zero", i, got)
		}
	}
}

// TestEverythingAtOnce runs joins, posts, sends, evictions, session
// closes and leaves concurrently over a few rooms with a short grace
// period; nothing may deadlock or panic, and once everyone has left the
// registry must be empty again.
func TestEverythingAtOnce(t *testing.T) {
	h := newHarness(t, Config{Grace: 2 * time.Millisecond, QueueLimit: 8, MessageRate: 1e9, MessageBurst: 1 << 30, Permanent: []string{"general"}})
	rooms := []string{"general", "r1", "r2"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			m := Member{ID: int64(10 + g%5), Name: "m"} // members share IDs: tabs
			for i := range 300 {
				slug := rooms[(g+i)%len(rooms)]
				c, err := h.reg.Join(slug, m, "s"+strconv.Itoa(g%3))
				if err != nil {
					t.Errorf("Join: %v", err)
					return
				}
				if i%2 == 0 {
					h.pump(c)
				}
				if _, err := h.reg.Post(slug, m, "hi"); err != nil && !errors.Is(err, ErrNotMember) && !errors.Is(err, ErrNoRoom) {
					t.Errorf("Post: %v", err)
				}
				c.Send([]byte("note|"))
				if i%50 == 0 {
					h.reg.CloseSession("s"+strconv.Itoa(i%3), CloseNormal, "")
				}
				h.reg.Leave(c)
			}
		})
	}
	wg.Wait()
	waitFor(t, "an empty registry", func() bool { return h.reg.Stats() == Stats{} })
}
