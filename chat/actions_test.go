package chat

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEditDeleteReact(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.join("a", alice, "s1")
	b := h.join("a", bob, "s2")
	m1 := h.post("a", alice, "draft")
	m2 := h.post("a", alice, "more")
	drain(a)
	drain(b)

	tests := []struct {
		name string
		do   func() error
		err  error
		want string // the frames every member gets
	}{
		{"bob edits alice's", func() error { _, err := b.Edit(m1.Seq, "x"); return err }, ErrNotAuthor, ""},
		{"unknown seq", func() error { _, err := a.Edit(99, "x"); return err }, ErrNoMessage, ""},
		{"a notice", func() error { _, err := a.Edit(1, "x"); return err }, ErrNoMessage, ""},
		{"alice edits", func() error { _, err := a.Edit(m1.Seq, "final"); return err }, nil, "a:update:3:edited:final:continued=false|"},
		{"bob reacts", func() error { _, err := b.React(m1.Seq, "👍"); return err }, nil, "a:reactions:3:👍=bob|"},
		{"alice reacts", func() error { _, err := a.React(m1.Seq, "👍"); return err }, nil, "a:reactions:3:👍=bob+alice|"},
		{"alice adds another", func() error { _, err := a.React(m1.Seq, "🎉"); return err }, nil, "a:reactions:3:👍=bob+alice,🎉=alice|"},
		{"bob toggles his off", func() error { _, err := b.React(m1.Seq, "👍"); return err }, nil, "a:reactions:3:👍=alice,🎉=alice|"},
		{"bob deletes alice's", func() error { return b.Delete(m1.Seq, false) }, ErrCannotDelete, ""},
		// The next message was grouped under the deleted one: it is sent
		// again, ungrouped.
		{"alice deletes", func() error { return a.Delete(m1.Seq, false) }, nil, "a:update:3:deleted::continued=false|a:update:4:text:more:continued=false|"},
		{"deleted: no edit", func() error { _, err := a.Edit(m1.Seq, "back"); return err }, ErrNoMessage, ""},
		{"deleted: no reaction", func() error { _, err := b.React(m1.Seq, "👍"); return err }, ErrNoMessage, ""},
		{"an admin deletes", func() error { return b.Delete(m2.Seq, true) }, nil, "a:update:4:deleted::continued=false|"},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.err) {
			t.Fatalf("%s: err %v, want %v", tt.name, err, tt.err)
		}
		for name, c := range map[string]*Client{"alice": a, "bob": b} {
			if got := drain(c); got != tt.want {
				t.Errorf("%s: %s got %q, want %q", tt.name, name, got, tt.want)
			}
		}
	}
	history, _, _ := h.reg.Room("a")
	for _, m := range history {
		if m.Seq == m1.Seq && (!m.Deleted || m.Text != "" || m.Reactions != nil) {
			t.Errorf("the history keeps the deleted message as %+v", m)
		}
	}
	// A new message does not continue a deleted one.
	if m := h.post("a", alice, "again"); m.Continued {
		t.Error("a message continued a deleted one")
	}
}

func TestOwnerDeletesInTheirRoomOnly(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute}) // Ensure's room waits for its joiner
	if err := h.reg.Ensure("mine", carol); err != nil {
		t.Fatal(err)
	}
	h.join("mine", carol, "s1")
	h.join("mine", bob, "s2")
	h.join("general", carol, "s3")
	m := h.post("mine", bob, "hello")
	if err := h.reg.Delete("mine", carol, false, m.Seq); err != nil {
		t.Errorf("the owner could not delete: %v", err)
	}
	g := h.post("mine", bob, "again")
	if err := h.reg.Delete("mine", alice, false, g.Seq); !errors.Is(err, ErrCannotDelete) {
		t.Errorf("someone else deleted: %v", err)
	}
	perm, err := h.reg.Post("general", carol, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.reg.Delete("general", bob, false, perm.Seq); !errors.Is(err, ErrCannotDelete) {
		t.Errorf("in a permanent room nobody is the owner: %v", err)
	}
}

func TestPrivateRoomActionsAreNotThere(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	if err := h.reg.EnsurePrivate("hidden", alice); err != nil {
		t.Fatal(err)
	}
	h.join("hidden", alice, "s1")
	m := h.post("hidden", alice, "secret")
	for _, err := range []error{
		h.reg.Delete("hidden", bob, true, m.Seq),
		func() error { _, err := h.reg.React("hidden", bob, m.Seq, "👍"); return err }(),
		func() error { _, err := h.reg.MessageFor("hidden", bob.ID, m.Seq); return err }(),
	} {
		if !errors.Is(err, ErrNoRoom) {
			t.Errorf("an outsider got %v, want ErrNoRoom", err)
		}
	}
}

func TestActionLimits(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	h := newHarness(t, Config{Now: clock.Now, EditRate: 1, EditBurst: 2, ReactRate: 1, ReactBurst: 3})
	h.join("a", alice, "s1")
	m := h.post("a", alice, "x")
	for i := range 2 {
		if _, err := h.reg.Edit("a", alice, m.Seq, "y"); err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
	}
	if _, err := h.reg.Edit("a", alice, m.Seq, "z"); !errors.Is(err, ErrEditRateLimited) || ErrorKindOf(err) != RateLimited {
		t.Errorf("third edit: %v", err)
	}
	for i := range 3 {
		if _, err := h.reg.React("a", alice, m.Seq, "👍"); err != nil {
			t.Fatalf("reaction %d: %v", i, err)
		}
	}
	if _, err := h.reg.React("a", alice, m.Seq, "👍"); !errors.Is(err, ErrReactRateLimited) {
		t.Errorf("fourth reaction: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := h.reg.Edit("a", alice, m.Seq, "w"); err != nil {
		t.Errorf("an edit a second later: %v", err)
	}
}

func TestReactionKindsAreCapped(t *testing.T) {
	h := newHarness(t, Config{ReactBurst: 100})
	h.join("a", alice, "s1")
	m := h.post("a", alice, "x")
	for i := range MaxReactionKinds {
		if _, err := h.reg.React("a", alice, m.Seq, string(rune(0x1F600+i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.reg.React("a", alice, m.Seq, "🚀"); !errors.Is(err, ErrTooManyEmoji) {
		t.Errorf("emoji %d: %v", MaxReactionKinds+1, err)
	}
	if _, err := h.reg.React("a", alice, m.Seq, "😀"); err != nil {
		t.Errorf("toggling an existing one: %v", err)
	}
}

// The history's byte bound counts what an action changed: an edit that
// makes a message bigger pushes the oldest out; a deletion frees its text.
func TestActionsKeepTheHistoryBound(t *testing.T) {
	h := newHarness(t, Config{HistoryBytes: 220})
	h.join("a", alice, "s1") // the join notice: "a:msg:1:join:alice:|", 20 bytes
	m2 := h.post("a", alice, strings.Repeat("x", 50))
	h.post("a", alice, strings.Repeat("y", 50))
	if _, err := h.reg.Edit("a", alice, m2.Seq, strings.Repeat("z", 100)); err != nil {
		t.Fatal(err)
	}
	history, _, _ := h.reg.Room("a")
	if got := seqsOf(history); len(got) != 2 || got[0] != 2 {
		t.Fatalf("after the edit the history holds %v, want [2 3]: 160 bytes grew to 225, so the join notice went", got)
	}
	rm, _ := h.reg.lookup("a")
	rm.mu.Lock()
	before := rm.history.bytes
	rm.mu.Unlock()
	if err := h.reg.Delete("a", alice, false, m2.Seq); err != nil {
		t.Fatal(err)
	}
	rm.mu.Lock()
	after := rm.history.bytes
	rm.mu.Unlock()
	// The edited text's frame gives way to the tombstone's, and the next
	// message, no longer grouped under it, is charged its new frame.
	want := before - len("a:update:2:edited:"+strings.Repeat("z", 100)+":continued=false|") + len("a:update:2:deleted::continued=false|") -
		len("a:msg:3:text:alice:"+strings.Repeat("y", 50)+"|") + len("a:update:3:text:"+strings.Repeat("y", 50)+":continued=false|")
	if after != want {
		t.Errorf("history bytes %d after the deletion, want %d", after, want)
	}
}

func TestTyping(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	h := newHarness(t, Config{Now: clock.Now})
	a := h.join("a", alice, "s1")
	b := h.join("a", bob, "s2")
	c := h.join("a", carol, "s3")
	drain(a)
	drain(b)
	drain(c)
	want := func(step string, frames map[*Client]string) {
		t.Helper()
		for cl, w := range frames {
			if got := drain(cl); got != w {
				t.Errorf("%s: %s got %q, want %q", step, cl.Member().Name, got, w)
			}
		}
	}

	if err := b.Typing(); err != nil {
		t.Fatal(err)
	}
	want("bob types", map[*Client]string{a: "a:typing:bob|", b: "a:typing:|", c: "a:typing:bob|"})
	clock.Advance(time.Second)
	_ = b.Typing() // already named: his expiry moves to 7 s
	want("bob types on", map[*Client]string{a: "", b: "", c: ""})
	_ = c.Typing()
	want("carol types", map[*Client]string{a: "a:typing:bob+carol|", b: "a:typing:carol|", c: "a:typing:bob|"})

	// Bob's message takes him off, with the message.
	if _, err := b.Post("hi"); err != nil {
		t.Fatal(err)
	}
	want("bob posts", map[*Client]string{a: "a:msg:4:text:bob:hi|a:typing:carol|", b: "a:msg:4:text:bob:hi|a:typing:carol|", c: "a:msg:4:text:bob:hi|a:typing:|"})
	// Named 1 s ago: absorbed until 2 s have passed.
	_ = b.Typing()
	want("bob again within 2 s", map[*Client]string{a: "", b: "", c: ""})
	clock.Advance(time.Second)
	_ = b.Typing()
	want("bob again after 2 s", map[*Client]string{a: "a:typing:carol+bob|", b: "a:typing:carol|", c: "a:typing:bob|"})

	// Carol's last signal was at 1 s: she expires at 7 s, bob (at 2 s) at 8 s.
	rm, _ := h.reg.lookup("a")
	clock.Advance(4*time.Second + 999*time.Millisecond) // 6.999 s
	h.reg.expireTyping(rm, rm.typing.gen)
	want("before 7 s", map[*Client]string{a: "", b: "", c: ""})
	clock.Advance(time.Millisecond)
	h.reg.expireTyping(rm, rm.typing.gen)
	want("at 7 s", map[*Client]string{a: "a:typing:bob|", b: "a:typing:|", c: "a:typing:bob|"})
	clock.Advance(time.Second)
	h.reg.expireTyping(rm, rm.typing.gen)
	want("at 8 s", map[*Client]string{a: "a:typing:|", b: "a:typing:|", c: "a:typing:|"})

	// Three others or more read alike: one frame for all those views.
	d := h.join("a", dave, "s4")
	clock.Advance(3 * time.Second)
	for _, cl := range []*Client{a, b, c} {
		_ = cl.Typing()
	}
	for _, cl := range []*Client{a, b, c, d} {
		drain(cl)
	}
	before := h.rend.calls.Load()
	_ = d.Typing()
	if n := h.rend.calls.Load() - before; n != 1 {
		t.Errorf("four typers took %d renders, want 1", n)
	}
	want("four typers", map[*Client]string{a: "a:typing:alice+bob+carol+dave|", d: "a:typing:alice+bob+carol+dave|"})
	// A joiner gets the line, as they see it, after the snapshot: for a
	// typer's second tab, the others are three, "several people" as for
	// everyone.
	d2 := h.join("a", dave, "s5")
	if got := drain(d2); !strings.HasSuffix(got, "|a:typing:alice+bob+carol+dave|") {
		t.Errorf("a second tab of a typer got %q", got)
	}
}

func TestTypingFloodIsRefused(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	h := newHarness(t, Config{Now: clock.Now, TypingBurst: 3})
	a := h.join("a", alice, "s1")
	for range 3 {
		if err := a.Typing(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Typing(); !errors.Is(err, ErrTypingRateLimited) {
		t.Errorf("fourth signal at once: %v", err)
	}
	if err := h.reg.Typing("a", bob); !errors.Is(err, ErrNotMember) {
		t.Errorf("a signal from outside the room: %v", err)
	}
}

func TestMentionNotices(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	a := h.join("a", alice, "s1")
	b := h.join("b", bob, "s2")                             // bob is elsewhere only
	c := h.join("a", carol, "s3")                           // carol is here
	c2 := h.join("b", carol, "s4")                          // and elsewhere
	d := h.join("b", dave, "s5")                            // dave is elsewhere, but
	if err := h.reg.EnsurePrivate("p", alice); err != nil { // p does not admit him
		t.Fatal(err)
	}
	h.join("p", alice, "s6")
	for _, cl := range []*Client{a, b, c, c2, d} {
		drain(cl)
	}
	if _, err := a.Post("hi", bob, carol, alice); err != nil {
		t.Fatal(err)
	}
	if got := drain(b); got != "a:mentioned:3:alice|" {
		t.Errorf("bob got %q", got)
	}
	if got := drain(c2); got != "" {
		t.Errorf("carol, who is in the room, got %q elsewhere", got)
	}
	if _, err := h.reg.Post("p", alice, "psst", dave); err != nil {
		t.Fatal(err)
	}
	if got := drain(d); got != "" {
		t.Errorf("dave got %q from a private room he may not enter", got)
	}
}

// A joiner whose snapshot was being rendered while a message was deleted
// does not get the old snapshot (with the text) followed by the
// tombstone: the deleted text reaches no one after the deletion.
func TestDeletedTextReachesNoJoiner(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	h.join("a", alice, "s1")
	m := h.post("a", alice, "secret")
	var once sync.Once
	h.rend.beforeSnap = func() {
		once.Do(func() {
			if err := h.reg.Delete("a", alice, false, m.Seq); err != nil {
				t.Error(err)
			}
		})
	}
	b := h.join("a", bob, "s2")
	if got, want := drain(b), "a:snap:seqs=1,2:members=alice|a:msg:3:join:bob:|a:joined:bob:2|"; got != want {
		t.Errorf("the joiner got %q, want %q: a snapshot rendered after the deletion", got, want)
	}
}

// A typer whose last connection leaves is taken off the line at once, not
// after the expiry: the room would otherwise say "bob is typing…" of
// someone who closed the tab. A second tab keeps him on it.
func TestTyperWhoLeavesIsTakenOff(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	h := newHarness(t, Config{Now: clock.Now, Grace: time.Hour})
	a := h.join("a", alice, "s1")
	b1 := h.join("a", bob, "s2")
	b2 := h.join("a", bob, "s3")
	drain(a)
	if err := b1.Typing(); err != nil {
		t.Fatal(err)
	}
	if got := drain(a); got != "a:typing:bob|" {
		t.Fatalf("alice got %q, want bob typing", got)
	}
	h.reg.Leave(b1)
	if got := drain(a); got != "" {
		t.Errorf("bob closed one of two tabs: alice got %q, want nothing", got)
	}
	h.reg.Leave(b2)
	if got := drain(a); got != "a:typing:|" {
		t.Errorf("bob closed his last tab: alice got %q, want the line without him", got)
	}
}
