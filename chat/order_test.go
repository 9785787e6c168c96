package chat

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentPostersOneOrder: 10 members post 200 messages each at
// once; every member must receive every message, in one identical order,
// without gaps or duplicates.
func TestConcurrentPostersOneOrder(t *testing.T) {
	const posters, each = 10, 200
	h := newHarness(t, Config{QueueLimit: posters*each + 100, MessageRate: 1e9, MessageBurst: 1 << 30})
	members := make([]Member, posters)
	sockets := make([]*fakeSocket, posters)
	for i := range members {
		members[i] = Member{ID: int64(100 + i), Name: fmt.Sprintf("m%d", i)}
		sockets[i] = h.pump(h.join("r", members[i], "s"))
	}
	const last = posters + posters*each // join notices, then the texts
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			for k := range each {
				if _, err := h.reg.Post("r", m, fmt.Sprintf("%d-%d", i, k)); err != nil {
					t.Errorf("Post: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	end := fmt.Sprintf("r:msg:%d:", last)
	for i, s := range sockets {
		waitFor(t, fmt.Sprintf("member %d's last message", i), func() bool { return strings.Contains(s.text(), end) })
	}

	var reference []string
	for i, s := range sockets {
		seqs, texts := parseMessages(t, s.text())
		want := make([]uint64, 0, last)
		for seq := uint64(i + 1); seq <= last; seq++ { // from the member's own join notice on
			want = append(want, seq)
		}
		if !slices.Equal(seqs, want) {
			t.Fatalf("member %d received seqs %v..., want %d..%d consecutive", i, seqs[:min(len(seqs), 20)], i+1, last)
		}
		texts = texts[len(texts)-posters*each:]
		if reference == nil {
			reference = texts
			checkPerPosterOrder(t, texts, posters)
		} else if !slices.Equal(texts, reference) {
			t.Fatalf("member %d received the texts in another order than member 0", i)
		}
	}
}

// parseMessages extracts the seqs and texts of the message frames in a
// socket's output.
func parseMessages(t *testing.T, out string) (seqs []uint64, texts []string) {
	t.Helper()
	for _, f := range strings.Split(out, "|") {
		parts := strings.Split(f, ":")
		if len(parts) != 6 || parts[1] != "msg" {
			continue
		}
		seq, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			t.Fatalf("bad frame %q", f)
		}
		seqs = append(seqs, seq)
		texts = append(texts, parts[5])
	}
	return seqs, texts
}

// checkPerPosterOrder checks that each poster's texts "i-k" arrive with k
// counting up from 0.
func checkPerPosterOrder(t *testing.T, texts []string, posters int) {
	t.Helper()
	next := make([]int, posters)
	for _, text := range texts {
		var i, k int
		if _, err := fmt.Sscanf(text, "%d-%d", &i, &k); err != nil || k != next[i] {
			t.Fatalf("text %q out of order (want %d-%d)", text, i, next[i])
		}
		next[i]++
	}
}
