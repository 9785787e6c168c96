package chat

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The counters follow what the registry did: messages posted (not
// notices), frames queued to connections, snapshot bytes, evictions by
// the limit passed.
func TestCountersFollowTheRoom(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, QueueBytes: 4000, MessageBurst: 100})
	slow := h.join("r", alice, "s1") // snapshot; its join notice (1 delivery)
	b := h.join("r", bob, "s2")      // snapshot; bob's join notice to both (2)
	first := drain(slow)
	drain(b)
	text := strings.Repeat("x", 1000)
	for range 3 {
		h.post("r", bob, text) // to both (2 each)
		drain(b)
	}
	h.post("r", bob, text) // alice passes QueueBytes and is evicted; bob gets it (1)
	got := h.reg.Counters()
	// alice's snapshot: an empty room; bob's: alice and her join notice.
	aliceSnap := h.rend.Snapshot("r", nil, nil)
	bobSnap := h.rend.Snapshot("r", []Message{{Seq: 1, Kind: KindJoin, Author: alice}}, []Member{alice})
	if !strings.HasPrefix(first, string(aliceSnap)) {
		t.Fatalf("alice's first frames %q do not start with %q", first, aliceSnap)
	}
	want := Counters{
		Posted:        4,
		Deliveries:    1 + 2 + 3*2 + 1,
		SnapshotBytes: int64(len(aliceSnap) + len(bobSnap)),
		Evictions:     map[string]int64{evictBytes: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Counters = %+v\nwant %+v", got, want)
	}
	// What waits now is bob's last frame only: alice's queue went with her.
	queued := h.reg.QueuedBytes()
	if last := drain(b); queued != int64(len(last)) || len(last) != 1018 {
		t.Errorf("QueuedBytes = %d with bob's %d-byte frame waiting, want 1018", queued, len(last))
	}
	if got := h.reg.QueuedBytes(); got != 0 {
		t.Errorf("QueuedBytes after bob's writer took it = %d, want 0", got)
	}
}
