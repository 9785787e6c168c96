package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"natter/cluster"
	"natter/internal/natstest"
)

// openHistory connects a node named name and opens the stream of room
// histories with opts.
func openHistory(t *testing.T, url, name string, opts cluster.HistoryOptions) *cluster.History {
	t.Helper()
	conn, log := connectNode(t, url, name)
	h, err := cluster.NewHistory(context.Background(), conn, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// openRoom opens room slug's history and returns it with its entries as
// text, "seq:data" each.
func openRoom(t *testing.T, h *cluster.History, slug string) (*cluster.RoomHistory, string) {
	t.Helper()
	r, entries, err := h.Open(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return r, entriesText(entries)
}

func entriesText(entries []cluster.Entry) string {
	var parts []string
	for _, e := range entries {
		parts = append(parts, fmt.Sprintf("%d:%s", e.Seq, e.Data))
	}
	return strings.Join(parts, " ")
}

func put(t *testing.T, r *cluster.RoomHistory, seq uint64, data string) {
	t.Helper()
	if err := r.Put(context.Background(), seq, []byte(data)); err != nil {
		t.Fatalf("Put(%d, %q): %v", seq, data, err)
	}
}

// What the owner stored, another node loads when it takes the room over:
// each entry's latest state, in the room's order, and nothing of the
// other rooms.
func TestHistoryLoadsTheLatestState(t *testing.T) {
	srv := natstest.Start(t)
	a := openHistory(t, srv.URL(), "a", cluster.HistoryOptions{})
	b := openHistory(t, srv.URL(), "b", cluster.HistoryOptions{})

	room, got := openRoom(t, a, "general")
	if got != "" {
		t.Fatalf("a new room's history: %q", got)
	}
	other, _ := openRoom(t, a, "programming")
	put(t, room, 1, "ana joined")
	put(t, room, 2, "hello")
	put(t, other, 1, "elsewhere")
	put(t, room, 3, "how are you")
	put(t, room, 2, "hello (edited)")
	put(t, room, 4, "bo joined")
	put(t, room, 3, "(deleted)")

	_, got = openRoom(t, b, "general")
	if want := "1:ana joined 2:hello (edited) 3:(deleted) 4:bo joined"; got != want {
		t.Errorf("b loads general:\n%s\nwant\n%s", got, want)
	}
	_, got = openRoom(t, b, "programming")
	if want := "1:elsewhere"; got != want {
		t.Errorf("b loads programming: %q, want %q", got, want)
	}
	// In memory, never on disk; one message per entry.
	info, err := rawJS(t, srv.URL()).Stream(context.Background(), "natter_history")
	if err != nil {
		t.Fatal(err)
	}
	if st := info.CachedInfo(); st.Config.Storage != jetstream.MemoryStorage || st.State.Msgs != 5 {
		t.Errorf("the stream: %v storage, %d messages; want memory, 5", st.Config.Storage, st.State.Msgs)
	}
}

// rawJS is a plain JetStream client, to look at what the nodes stored.
func rawJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Each room keeps at most Entries entries and Bytes bytes, the newest;
// the oldest go as new ones come, room by room, also after another node
// took the room over from what the stream held.
func TestHistoryIsBoundedPerRoom(t *testing.T) {
	srv := natstest.Start(t)
	opts := cluster.HistoryOptions{Entries: 5, Bytes: 40}
	a := openHistory(t, srv.URL(), "a", opts)
	room, _ := openRoom(t, a, "general")
	quiet, _ := openRoom(t, a, "quiet")
	put(t, quiet, 1, "q1")
	for seq := uint64(1); seq <= 8; seq++ {
		put(t, room, seq, fmt.Sprintf("m%d", seq))
	}
	b := openHistory(t, srv.URL(), "b", opts)
	_, got := openRoom(t, b, "general")
	if want := "4:m4 5:m5 6:m6 7:m7 8:m8"; got != want {
		t.Errorf("after 8 entries with a bound of 5: %q, want %q", got, want)
	}
	// An edit of an old entry does not make it the newest.
	put(t, room, 4, "m4 edited")
	put(t, room, 9, "m9")
	_, got = openRoom(t, b, "general")
	if want := "5:m5 6:m6 7:m7 8:m8 9:m9"; got != want {
		t.Errorf("after editing 4 and adding 9: %q, want %q", got, want)
	}

	// Bytes: 40 in all. b takes the room over and goes on: five entries
	// of 28 bytes.
	taken, _ := openRoom(t, b, "general")
	put(t, taken, 10, strings.Repeat("x", 20))
	_, got = openRoom(t, a, "general")
	if want := "6:m6 7:m7 8:m8 9:m9 10:" + strings.Repeat("x", 20); got != want {
		t.Errorf("after a 20-byte entry with a bound of 40 bytes: %q, want %q", got, want)
	}
	// The newest entry is kept whatever its size, alone past the bound.
	put(t, taken, 11, strings.Repeat("y", 50))
	_, got = openRoom(t, a, "general")
	if want := "11:" + strings.Repeat("y", 50); got != want {
		t.Errorf("after a 50-byte entry: %q, want %q", got, want)
	}
	_, got = openRoom(t, a, "quiet")
	if got != "1:q1" {
		t.Errorf("the other room: %q, want 1:q1", got)
	}
}

// A destroyed room's history is purged, and the others' kept; the room
// starts again from nothing.
func TestHistoryPurge(t *testing.T) {
	srv := natstest.Start(t)
	a := openHistory(t, srv.URL(), "a", cluster.HistoryOptions{})
	room, _ := openRoom(t, a, "team")
	other, _ := openRoom(t, a, "team-2")
	put(t, room, 1, "one")
	put(t, room, 2, "two")
	put(t, other, 1, "kept")
	if err := room.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, got := openRoom(t, a, "team"); got != "" {
		t.Errorf("team after the purge: %q", got)
	}
	if _, got := openRoom(t, a, "team-2"); got != "1:kept" {
		t.Errorf("team-2 after team's purge: %q", got)
	}
	put(t, room, 1, "again")
	if _, got := openRoom(t, a, "team"); got != "1:again" {
		t.Errorf("team started again: %q", got)
	}
}

// Put does not pretend: with the broker away it fails, and nothing was
// stored; once the broker is back it stores again.
func TestHistoryPutFailsWithoutTheBroker(t *testing.T) {
	srv := natstest.Start(t)
	a := openHistory(t, srv.URL(), "a", cluster.HistoryOptions{})
	room, _ := openRoom(t, a, "general")
	put(t, room, 1, "before")
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := room.Put(ctx, 2, []byte("while away"))
	if err == nil || !strings.HasPrefix(err.Error(), "NATS: storing message 2 of room general: ") {
		t.Errorf("Put with the broker away: %v", err)
	}
}

// Names that are not Natter slugs are refused before they reach NATS.
func TestHistoryRefusesBadNames(t *testing.T) {
	srv := natstest.Start(t)
	a := openHistory(t, srv.URL(), "a", cluster.HistoryOptions{})
	for _, slug := range []string{"", "a.b", "*", ">"} {
		if _, _, err := a.Open(context.Background(), slug); err == nil || err.Error() != fmt.Sprintf("cluster: bad room name %q", slug) {
			t.Errorf("Open(%q) = %v", slug, err)
		}
	}
}
