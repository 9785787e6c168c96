package chat

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordLink is a node's Link as the room hands it frames: each delivery,
// in order, as "frame -> conn,conn".
type recordLink struct {
	mu  sync.Mutex
	got []string
}

func (l *recordLink) Deliver(frame []byte, conns []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, fmt.Sprintf("%s -> %s", frame, strings.Join(conns, ",")))
}

// take returns the deliveries since the last take.
func (l *recordLink) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

func (h *harness) joinLinked(slug string, m Member, link Link, conn string) *Client {
	h.t.Helper()
	c, err := h.reg.JoinRemote(slug, m, "hash-"+m.Name, link, conn)
	if err != nil {
		h.t.Fatalf("JoinRemote(%q, %s): %v", slug, m.Name, err)
	}
	return c
}

// A frame the room fans out reaches each link once, with the connections
// of that link it is for; per-viewer frames (the typing line, a snapshot,
// Send) go with the connections they are for, each connection's in the
// order they were queued. Nothing is queued here for a linked connection.
func TestLinkedConnectionsGetEachFrameOncePerLink(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	x, y := &recordLink{}, &recordLink{}
	local := h.join("general", alice, "s-alice")
	bobC := h.joinLinked("general", bob, x, "x/bob")
	carolC := h.joinLinked("general", carol, x, "x/carol")
	h.joinLinked("general", dave, y, "y/dave")
	if got, want := x.take(), []string{
		"general:snap:seqs=1:members=alice| -> x/bob",
		"general:msg:2:join:bob:|general:joined:bob:2| -> x/bob",
		"general:snap:seqs=1,2:members=alice,bob| -> x/carol",
		"general:msg:3:join:carol:|general:joined:carol:3| -> x/bob,x/carol",
		"general:msg:4:join:dave:|general:joined:dave:4| -> x/bob,x/carol",
	}; !slices.Equal(got, want) {
		t.Errorf("x got\n%q\nwant\n%q", got, want)
	}
	y.take()
	drain(local)

	h.post("general", alice, "hi")
	if got, want := x.take(), []string{"general:msg:5:text:alice:hi| -> x/bob,x/carol"}; !slices.Equal(got, want) {
		t.Errorf("after a post, x got %q, want %q", got, want)
	}
	if got, want := y.take(), []string{"general:msg:5:text:alice:hi| -> y/dave"}; !slices.Equal(got, want) {
		t.Errorf("after a post, y got %q, want %q", got, want)
	}
	if got := drain(local); got != "general:msg:5:text:alice:hi|" {
		t.Errorf("alice got %q", got)
	}

	// bob types: his own line leaves him out.
	if err := bobC.Typing(); err != nil {
		t.Fatal(err)
	}
	if got, want := x.take(), []string{"general:typing:| -> x/bob", "general:typing:bob| -> x/carol"}; !slices.Equal(got, want) {
		t.Errorf("after bob typed, x got %q, want %q", got, want)
	}
	if got, want := y.take(), []string{"general:typing:bob| -> y/dave"}; !slices.Equal(got, want) {
		t.Errorf("after bob typed, y got %q, want %q", got, want)
	}
	// A later joiner gets the line after its snapshot, then the same
	// frames as everyone.
	erin := Member{ID: 5, Name: "erin"}
	h.joinLinked("general", erin, x, "x/erin")
	if got, want := x.take(), []string{
		"general:snap:seqs=1,2,3,4,5:members=alice,bob,carol,dave| -> x/erin",
		"general:typing:bob| -> x/erin",
		"general:msg:6:join:erin:|general:joined:erin:5| -> x/bob,x/carol,x/erin",
	}; !slices.Equal(got, want) {
		t.Errorf("after erin joined, x got\n%q\nwant\n%q", got, want)
	}

	// A frame for one connection goes at once; a closed one gets nothing.
	if !carolC.Send([]byte("error|")) {
		t.Error("Send to a linked connection refused")
	}
	if got, want := x.take(), []string{"error| -> x/carol"}; !slices.Equal(got, want) {
		t.Errorf("after Send, x got %q, want %q", got, want)
	}
	bobC.Close(CloseNormal, "")
	if bobC.Send([]byte("late|")) {
		t.Error("Send to a closed linked connection accepted")
	}
	h.post("general", alice, "again")
	if got, want := x.take(), []string{"general:msg:7:text:alice:again| -> x/carol,x/erin"}; !slices.Equal(got, want) {
		t.Errorf("with bob closed, x got %q, want %q", got, want)
	}
	drain(local)
	if q := h.reg.QueuedBytes(); q != 0 {
		t.Errorf("%d bytes queued here, want none", q)
	}
}
