package chat

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// fakeStore records what the registry stores, as text, and fails while
// fail is set.
type fakeStore struct {
	mu     sync.Mutex
	puts   []string
	purges []string
	fail   bool
	onPut  func() // if set, called in Put before it records
}

func (s *fakeStore) Put(room string, m Message) error {
	if s.onPut != nil {
		s.onPut()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("broker away")
	}
	state := m.Text
	switch {
	case m.Deleted:
		state = "(deleted)"
	case m.Edited:
		state += " (edited)"
	}
	for _, r := range m.Reactions {
		state += " " + r.Emoji + fmt.Sprint(len(r.By))
	}
	s.puts = append(s.puts, fmt.Sprintf("%s %d %s %s %s", room, m.Seq, m.Kind, m.Author.Name, state))
	return nil
}

func (s *fakeStore) Purge(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purges = append(s.purges, room)
}

func (s *fakeStore) setFail(fail bool) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

func (s *fakeStore) got() (puts, purges []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.puts), slices.Clone(s.purges)
}

// waitingFrames is how many frames wait for c.
func waitingFrames(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Each entry's state is stored before any connection is told of it, and
// each change of a message stores its new state.
func TestStoreHasEachEntryFirst(t *testing.T) {
	store := &fakeStore{}
	h := newHarness(t, Config{Store: store})
	c := h.join("team", alice, "s1")
	drain(c)
	var waiting []int
	store.onPut = func() { waiting = append(waiting, waitingFrames(c)) }

	msg := h.post("team", alice, "hello")
	if got := drain(c); got != "team:msg:2:text:alice:hello|" {
		t.Errorf("after the post: %q", got)
	}
	if _, err := h.reg.Edit("team", alice, msg.Seq, "hello all"); err != nil {
		t.Fatal(err)
	}
	drain(c)
	if _, err := h.reg.React("team", bob, msg.Seq, "👍"); err != nil {
		t.Fatal(err)
	}
	drain(c)
	if err := h.reg.Delete("team", alice, false, msg.Seq); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(waiting, []int{0, 0, 0, 0}) {
		t.Errorf("frames already queued when each entry was stored: %v, want none", waiting)
	}
	puts, _ := store.got()
	want := []string{
		"team 1 join alice ",
		"team 2 text alice hello",
		"team 2 text alice hello all (edited)",
		"team 2 text alice hello all (edited) 👍1",
		"team 2 text alice (deleted)",
	}
	if !slices.Equal(puts, want) {
		t.Errorf("stored\n%q\nwant\n%q", puts, want)
	}
}

// While the Store fails, posts and changes are refused and change
// nothing: no frame, no number used; joins still happen.
func TestUnstoredEntriesAreRefused(t *testing.T) {
	store := &fakeStore{}
	h := newHarness(t, Config{Store: store})
	c := h.join("team", alice, "s1")
	msg := h.post("team", alice, "kept")
	drain(c)

	store.setFail(true)
	if _, err := h.reg.Post("team", alice, "lost"); err != ErrNotStored {
		t.Errorf("Post: %v, want ErrNotStored", err)
	}
	if _, err := c.Post("lost too"); err != ErrNotStored {
		t.Errorf("Client.Post: %v, want ErrNotStored", err)
	}
	if _, err := h.reg.Edit("team", alice, msg.Seq, "changed"); err != ErrNotStored {
		t.Errorf("Edit: %v, want ErrNotStored", err)
	}
	if _, err := h.reg.React("team", alice, msg.Seq, "👍"); err != ErrNotStored {
		t.Errorf("React: %v, want ErrNotStored", err)
	}
	if err := h.reg.Delete("team", alice, false, msg.Seq); err != ErrNotStored {
		t.Errorf("Delete: %v, want ErrNotStored", err)
	}
	got, err := h.reg.MessageFor("team", alice.ID, msg.Seq)
	if err != nil || got.Text != "kept" || got.Edited || len(got.Reactions) > 0 {
		t.Errorf("the message after refused changes: %+v, %v", got, err)
	}
	if got := drain(c); got != "" {
		t.Errorf("frames while the store failed: %q", got)
	}
	// A visitor's post is refused too; their visit is told (presence is
	// shown even if not stored) and, with no grace period, ends at once.
	if _, err := h.reg.PostVisitor("team", bob, "visitor"); err != ErrNotStored {
		t.Errorf("PostVisitor: %v, want ErrNotStored", err)
	}
	if got := drain(c); got != "team:msg:3:join:bob:|team:joined:bob:2|team:msg:4:leave:bob:|team:left:bob:1|" {
		t.Errorf("frames of the refused visit: %q", got)
	}
	store.setFail(false)
	if again := h.post("team", alice, "again"); again.Seq != 5 {
		t.Errorf("the next post is number %d, want 5 (the refused posts used none)", again.Seq)
	}
}

// A destroyed room's history is purged, and so is a permanent room's
// when it empties; a registry that closes purges nothing, since its rooms
// live on elsewhere.
func TestStorePurges(t *testing.T) {
	store := &fakeStore{}
	h := newHarness(t, Config{Store: store, Permanent: []string{"general"}})
	h.reg.Leave(h.join("team", alice, "s1"))
	h.reg.Leave(h.join("general", alice, "s1"))
	if _, purges := store.got(); !slices.Equal(purges, []string{"team", "general"}) {
		t.Errorf("purged %q, want team and general", purges)
	}
	c := h.join("other", alice, "s1")
	h.reg.Close()
	h.reg.Leave(c)
	if _, purges := store.got(); !slices.Equal(purges, []string{"team", "general"}) {
		t.Errorf("after Close: purged %q, want nothing more", purges)
	}
}
