package chat

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestFanOutReachesOnlyTheRoom(t *testing.T) {
	h := newHarness(t, Config{})
	a1 := h.join("a", alice, "s1")
	if got, want := drain(a1), "a:snap:seqs=:members=|a:msg:1:join:alice:|a:joined:alice:1|"; got != want {
		t.Fatalf("first joiner got %q, want %q", got, want)
	}
	b1 := h.join("a", bob, "s2")
	if got, want := drain(b1), "a:snap:seqs=1:members=alice|a:msg:2:join:bob:|a:joined:bob:2|"; got != want {
		t.Fatalf("second joiner got %q, want %q", got, want)
	}
	if got, want := drain(a1), "a:msg:2:join:bob:|a:joined:bob:2|"; got != want {
		t.Fatalf("first member saw %q, want %q", got, want)
	}
	c1 := h.join("b", carol, "s3")
	drain(c1)

	clients := map[string]*Client{"alice": a1, "bob": b1, "carol": c1}
	tests := []struct {
		room string
		from Member
		text string
		want map[string]string // frames each client receives
	}{
		{"a", alice, "hi", map[string]string{"alice": "a:msg:3:text:alice:hi|", "bob": "a:msg:3:text:alice:hi|"}},
		{"a", bob, "yo", map[string]string{"alice": "a:msg:4:text:bob:yo|", "bob": "a:msg:4:text:bob:yo|"}},
		{"b", carol, "alone", map[string]string{"carol": "b:msg:2:text:carol:alone|"}},
	}
	for _, tt := range tests {
		before := h.rend.calls.Load()
		h.post(tt.room, tt.from, tt.text)
		if n := h.rend.calls.Load() - before; n != 1 {
			t.Errorf("post %q rendered %d times, want once", tt.text, n)
		}
		for name, c := range clients {
			if got := drain(c); got != tt.want[name] {
				t.Errorf("post %q in %s: %s got %q, want %q", tt.text, tt.room, name, got, tt.want[name])
			}
		}
	}
}

func TestHistoryIsBounded(t *testing.T) {
	h := newHarness(t, Config{History: 3})
	h.join("r", alice, "s1") // the join notice is seq 1
	for i := 1; i <= 5; i++ {
		h.post("r", alice, fmt.Sprintf("m%d", i)) // seqs 2..6
	}
	history, members, ok := h.reg.Room("r")
	if !ok {
		t.Fatal("Room: not found")
	}
	if got, want := seqsOf(history), []uint64{4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("history seqs = %v, want %v", got, want)
	}
	var texts []string
	for _, m := range history {
		texts = append(texts, m.Text)
	}
	if want := []string{"m3", "m4", "m5"}; !slices.Equal(texts, want) {
		t.Errorf("history texts = %v, want %v", texts, want)
	}
	if want := []Member{alice}; !slices.Equal(members, want) {
		t.Errorf("members = %v, want %v", members, want)
	}
	b := h.join("r", bob, "s2")
	if got, want := drain(b), "r:snap:seqs=4,5,6:members=alice|r:msg:7:join:bob:|r:joined:bob:2|"; got != want {
		t.Errorf("late joiner got %q, want %q", got, want)
	}
}

func TestContinued(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}
	h := newHarness(t, Config{Now: clock.Now})
	h.join("r", alice, "s1")
	steps := []struct {
		name    string
		from    Member
		after   time.Duration
		join    bool // the step is bob joining (a notice), not a post
		want    bool
		wantSeq uint64
	}{
		{name: "first text after a notice", from: alice, want: false, wantSeq: 2},
		{name: "same author soon after", from: alice, after: time.Minute, want: true, wantSeq: 3},
		{name: "exactly five minutes later", from: alice, after: 5 * time.Minute, want: true, wantSeq: 4},
		{name: "just over five minutes later", from: alice, after: 5*time.Minute + time.Nanosecond, want: false, wantSeq: 5},
		{name: "bob joins", from: bob, join: true},
		{name: "text after another member's notice", from: bob, want: false, wantSeq: 7},
		{name: "another author", from: alice, want: false, wantSeq: 8},
		{name: "back to the same author", from: alice, want: true, wantSeq: 9},
	}
	for _, s := range steps {
		clock.Advance(s.after)
		if s.join {
			h.join("r", s.from, "s2")
			continue
		}
		m := h.post("r", s.from, s.name)
		if m.Continued != s.want || m.Seq != s.wantSeq || m.Kind != KindText || !m.Sent.Equal(clock.Now()) {
			t.Errorf("%s: got seq %d continued %v kind %s sent %v, want seq %d continued %v kind text sent %v",
				s.name, m.Seq, m.Continued, m.Kind, m.Sent, s.wantSeq, s.want, clock.Now())
		}
	}
}

func TestRoomsListsPermanentFirst(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, Permanent: []string{"general", "programming", "general"}})
	for _, slug := range []string{"zeta", "alpha"} {
		if err := h.reg.Ensure(slug, alice); err != nil {
			t.Fatalf("Ensure(%q): %v", slug, err)
		}
	}
	h.join("zeta", bob, "s2")
	h.join("programming", carol, "s3")
	want := []RoomInfo{
		{Slug: "general", Permanent: true},
		{Slug: "programming", Members: 1, Permanent: true},
		{Slug: "alpha"},
		{Slug: "zeta", Members: 1},
	}
	if got := h.reg.Rooms(); !slices.Equal(got, want) {
		t.Errorf("Rooms() = %v, want %v", got, want)
	}
}

func TestPermanentRoomEmptiesButStays(t *testing.T) {
	h := newHarness(t, Config{Permanent: []string{"general"}})
	c := h.join("general", alice, "s1")
	h.post("general", alice, "hello")
	h.reg.Leave(c)
	history, members, ok := h.reg.Room("general")
	if !ok || len(history) != 0 || len(members) != 0 {
		t.Fatalf("Room(general) = %v, %v, %v; want empty and ok", history, members, ok)
	}
	if got, want := h.reg.Rooms(), []RoomInfo{{Slug: "general", Permanent: true}}; !slices.Equal(got, want) {
		t.Errorf("Rooms() = %v, want %v", got, want)
	}
	c = h.join("general", bob, "s2")
	if got, want := drain(c), "general:snap:seqs=:members=|general:msg:1:join:bob:|general:joined:bob:1|"; got != want {
		t.Errorf("next joiner got %q, want %q (history gone, numbering restarted)", got, want)
	}
}

func TestPostErrors(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour})
	if err := h.reg.Ensure("quiet", alice); err != nil {
		t.Fatal(err)
	}
	c := h.join("busy", bob, "s2")
	h.join("busy", carol, "s3")
	h.reg.Leave(c) // bob is now inside his grace period

	tests := []struct {
		name string
		room string
		from Member
		want error
	}{
		{"no such room", "nowhere", alice, ErrNoRoom},
		{"room nobody joined", "quiet", alice, ErrNotMember},
		{"not a member", "busy", alice, ErrNotMember},
		{"member inside grace", "busy", bob, nil},
		{"connected member", "busy", carol, nil},
	}
	for _, tt := range tests {
		if _, err := h.reg.Post(tt.room, tt.from, "x"); !errors.Is(err, tt.want) {
			t.Errorf("%s: Post error = %v, want %v", tt.name, err, tt.want)
		}
	}
	h.reg.Close()
	if _, err := h.reg.Post("busy", carol, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: Post error = %v, want %v", err, ErrClosed)
	}
}

func TestRateLimitIsPerUserAcrossRooms(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}
	h := newHarness(t, Config{MessageRate: 1, MessageBurst: 3, Now: clock.Now})
	h.join("a", alice, "s1")
	h.join("b", alice, "s2")
	h.join("a", bob, "s3")
	steps := []struct {
		room string
		from Member
		want error
	}{
		{"a", alice, nil},
		{"b", alice, nil},
		{"a", alice, nil},
		{"b", alice, ErrRateLimited}, // burst of 3 spent, across rooms
		{"a", alice, ErrRateLimited},
		{"a", bob, nil}, // bob has his own bucket
	}
	for i, s := range steps {
		if _, err := h.reg.Post(s.room, s.from, "x"); !errors.Is(err, s.want) {
			t.Errorf("step %d: Post(%s, %s) error = %v, want %v", i, s.room, s.from.Name, err, s.want)
		}
	}
	clock.Advance(time.Second)
	if _, err := h.reg.Post("b", alice, "x"); err != nil {
		t.Errorf("one second later: Post error = %v, want nil", err)
	}
	if _, err := h.reg.Post("b", alice, "x"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("then: Post error = %v, want %v", err, ErrRateLimited)
	}
}

func TestCaps(t *testing.T) {
	type step struct {
		join bool // Join, else Ensure
		room string
		who  Member
		want error
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"rooms", Config{Grace: time.Hour, MaxRooms: 2, Permanent: []string{"general"}}, []step{
			{false, "x", alice, nil},
			{true, "y", bob, nil},
			{false, "z", carol, ErrTooManyRooms},
			{true, "z", carol, ErrTooManyRooms},
			{true, "x", carol, nil},       // existing rooms can still be joined
			{true, "general", carol, nil}, // permanent rooms don't count
		}},
		{"rooms per user", Config{Grace: time.Hour, MaxRoomsPerUser: 2}, []step{
			{false, "x", alice, nil},
			{true, "y", alice, nil},
			{false, "z", alice, ErrTooManyRoomsForUser},
			{true, "z", alice, ErrTooManyRoomsForUser},
			{true, "z", bob, nil},
			{true, "z", alice, nil}, // joining someone else's room is fine
		}},
		{"connections per user", Config{Grace: time.Hour, MaxConnsPerUser: 2}, []step{
			{true, "x", alice, nil},
			{true, "x", alice, nil},
			{true, "y", alice, ErrTooManyConnections},
			{true, "x", alice, ErrTooManyConnections},
			{true, "x", bob, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			for i, s := range tt.steps {
				var err error
				if s.join {
					_, err = h.reg.Join(s.room, s.who, "s")
				} else {
					err = h.reg.Ensure(s.room, s.who)
				}
				if !errors.Is(err, s.want) {
					t.Errorf("step %d (%s %s by %s): error = %v, want %v", i, map[bool]string{true: "join", false: "ensure"}[s.join], s.room, s.who.Name, err, s.want)
				}
			}
		})
	}
}

func TestConnectionCapFreesOnLeave(t *testing.T) {
	h := newHarness(t, Config{MaxConnsPerUser: 1})
	c := h.join("x", alice, "s1")
	if _, err := h.reg.Join("y", alice, "s1"); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("second Join error = %v, want %v", err, ErrTooManyConnections)
	}
	h.reg.Leave(c)
	h.join("y", alice, "s1")
}

func TestCloseCodeFor(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{ErrClosed, CloseServiceRestart},
		{ErrTooManyRooms, CloseTryAgainLater},
		{ErrRateLimited, CloseTryAgainLater},
		{ErrTooManyConnections, ClosePolicyViolation},
		{ErrTooManyRoomsForUser, ClosePolicyViolation},
		{fmt.Errorf("wrapped: %w", ErrClosed), CloseServiceRestart},
	}
	for _, tt := range tests {
		if got := CloseCodeFor(tt.err); got != tt.want {
			t.Errorf("CloseCodeFor(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestPostVisitor(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}
	h := newHarness(t, Config{Grace: time.Hour, MessageRate: 1, MessageBurst: 2, Now: clock.Now})
	c := h.join("busy", carol, "s3")
	if _, err := h.reg.PostVisitor("nowhere", alice, "x"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("no such room: error = %v, want %v", err, ErrNoRoom)
	}
	// alice has no connection in the room and still reaches its members;
	// her first post makes her a member without a connection, announced
	// like any join, so the member list shows who wrote.
	for i, want := range []error{nil, nil, ErrRateLimited} {
		if _, err := h.reg.PostVisitor("busy", alice, fmt.Sprint("v", i)); !errors.Is(err, want) {
			t.Errorf("visitor post %d: error = %v, want %v", i, err, want)
		}
	}
	if got, want := drain(c), "busy:snap:seqs=:members=|busy:msg:1:join:carol:|busy:joined:carol:1|busy:msg:2:join:alice:|busy:joined:alice:2|busy:msg:3:text:alice:v0|busy:msg:4:text:alice:v1|"; got != want {
		t.Errorf("carol received %q\nwant %q", got, want)
	}
	if st := h.reg.Stats(); st.Users != 2 || st.Members != 2 || st.Pending != 1 {
		t.Errorf("after visitor posts: %+v, want alice a pending member", st)
	}
	if _, members, _ := h.reg.Room("busy"); len(members) != 2 || members[1] != alice {
		t.Errorf("members = %v, want carol and alice", members)
	}
}

func TestPostVisitorMembershipEndsAfterGrace(t *testing.T) {
	h := newHarness(t, Config{Grace: 20 * time.Millisecond})
	c := h.join("busy", carol, "s3")
	if _, err := h.reg.PostVisitor("busy", alice, "hello"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's leave", func() bool { _, m, _ := h.reg.Room("busy"); return len(m) == 1 })
	if got, want := drain(c), "busy:snap:seqs=:members=|busy:msg:1:join:carol:|busy:joined:carol:1|busy:msg:2:join:alice:|busy:joined:alice:2|busy:msg:3:text:alice:hello|busy:msg:4:leave:alice:|busy:left:alice:1|"; got != want {
		t.Errorf("carol received %q\nwant %q", got, want)
	}
	// Connecting inside the grace period keeps her without a new notice.
	if _, err := h.reg.PostVisitor("busy", alice, "again"); err != nil {
		t.Fatal(err)
	}
	a := h.join("busy", alice, "s1")
	time.Sleep(40 * time.Millisecond) // past the grace: the connection holds her
	if _, m, _ := h.reg.Room("busy"); len(m) != 2 {
		t.Errorf("members = %v, want carol and alice", m)
	}
	h.reg.Leave(a)
}

func TestPostVisitorKeepsItsBucketAcrossMemberships(t *testing.T) {
	// With Grace zero a visitor's membership ends with each post, and the
	// user's record with it: the bucket must not start full again.
	clock := &fakeClock{now: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}
	h := newHarness(t, Config{MessageRate: 1, MessageBurst: 2, Now: clock.Now})
	h.join("busy", carol, "s3")
	for i, want := range []error{nil, nil, ErrRateLimited} {
		if _, err := h.reg.PostVisitor("busy", alice, fmt.Sprint("v", i)); !errors.Is(err, want) {
			t.Errorf("visitor post %d: error = %v, want %v", i, err, want)
		}
	}
	if st := h.reg.Stats(); st.Members != 1 || st.Users != 1 {
		t.Errorf("Stats = %+v, want only carol (alice left at once)", st)
	}
}
