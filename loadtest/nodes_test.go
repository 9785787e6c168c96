package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"testing"

	"natter/client"
)

// -base takes a list, or is repeated; every URL must be on loopback.
func TestBaseFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
		err  string
	}{
		{args: nil, want: []string{"http://127.0.0.1:8090"}},
		{args: []string{"-base", "http://127.0.0.1:8090/, http://127.0.0.1:8091"}, want: []string{"http://127.0.0.1:8090", "http://127.0.0.1:8091"}},
		{args: []string{"-base", "http://127.0.0.1:1", "-base", "http://localhost:2,http://[::1]:3"}, want: []string{"http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3"}},
		{args: []string{"-base", "http://127.0.0.1:1,http://192.0.2.1:2"}, err: `-base "http://192.0.2.1:2" is not a loopback address; this generator only targets loopback`},
		{args: []string{"-base", "ftp://127.0.0.1:1"}, err: `bad -base "ftp://127.0.0.1:1"`},
		{args: []string{"-spread", "users"}, err: "-spread must be sockets or rooms"},
		// The sign-up run of docs/performance.md: one room of one socket,
		// which sends (-senders 1), none stalled.
		{args: []string{"-rooms", "1", "-per-room", "1", "-rate", "0"}, want: []string{"http://127.0.0.1:8090"}},
		{args: []string{"-per-room", "2", "-senders", "1", "-stalled", "1"}, err: "-stalled must be in [0, -per-room - -senders)"},
	} {
		cfg, err := parseFlags(c.args, io.Discard)
		switch {
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("%q: error %v, want %s", c.args, err, c.err)
		case c.err == "" && (err != nil || !slices.Equal(cfg.bases, c.want)):
			t.Errorf("%q: bases %q, %v; want %q", c.args, cfg.bases, err, c.want)
		}
	}
}

// Sockets are dealt round-robin over the nodes: equal shares of sockets
// and of rooms' first sockets, every room on every node. With -spread
// rooms, each room is on one node and the rooms take turns.
func TestSpreadOverNodes(t *testing.T) {
	const nodes, rooms, perRoom = 3, 4, 6
	perNode := make([]int, nodes)
	first := make([]int, rooms)
	for r := range rooms {
		inRoom := make([]int, nodes)
		for j := range perRoom {
			n := nodeOf(spreadSockets, r, j, nodes)
			perNode[n]++
			inRoom[n]++
			if j == 0 {
				first[r] = n
			}
		}
		if want := []int{2, 2, 2}; !slices.Equal(inRoom, want) {
			t.Errorf("room %d's sockets per node: %v, want %v", r, inRoom, want)
		}
	}
	if want := []int{8, 8, 8}; !slices.Equal(perNode, want) {
		t.Errorf("sockets per node: %v, want %v", perNode, want)
	}
	if want := []int{0, 1, 2, 0}; !slices.Equal(first, want) {
		t.Errorf("the rooms' first sockets are on nodes %v, want %v", first, want)
	}
	for r := range rooms {
		for j := range perRoom {
			if n := nodeOf(spreadRooms, r, j, nodes); n != r%nodes {
				t.Errorf("-spread rooms: room %d socket %d on node %d, want %d", r, j, n, r%nodes)
			}
		}
	}
	// One node takes everything.
	if n := nodeOf(spreadSockets, 5, 7, 1); n != 0 {
		t.Errorf("one node: %d", n)
	}
}

// An account's clients of the other nodes carry the cookies it signed in
// with, and address their own node.
func TestAccountOnNodes(t *testing.T) {
	c, err := client.New("http://127.0.0.1:8090")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse("http://127.0.0.1:8090/")
	jar.SetCookies(u, []*http.Cookie{{Name: "session_id", Value: "s1"}})
	c.HTTP.Jar = jar
	a := &account{name: "lt0", client: c}
	list := []string{"http://127.0.0.1:8090", "http://127.0.0.2:8091"}
	if err := a.onNodes(list); err != nil {
		t.Fatal(err)
	}
	for i, n := range a.nodes {
		if n.Base.String() != list[i] || n.CookieHeader() != "session_id=s1" {
			t.Errorf("node %d: %s with %q, want %s with session_id=s1", i, n.Base, n.CookieHeader(), list[i])
		}
	}
}

// -pid takes a list, or is repeated; the figures of the processes named
// are summed.
func TestPidFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-pid", "12, 13", "-pid", "14"}, io.Discard)
	if err != nil || !slices.Equal(cfg.pids, pids{12, 13, 14}) {
		t.Errorf("pids %v, %v; want [12 13 14]", cfg.pids, err)
	}
	if _, err := parseFlags([]string{"-pid", "12,x"}, io.Discard); err == nil || err.Error() != `invalid value "12,x" for flag -pid: bad -pid "x": want process ids` {
		t.Errorf("-pid 12,x: %v", err)
	}
	// This process, named twice: its peak memory (which never shrinks)
	// counts twice.
	self := os.Getpid()
	once := readProc(self).PeakKB
	if twice := (pids{self, self}).proc().PeakKB; once <= 0 || twice < 2*once {
		t.Errorf("peak memory of this process %d KB, of it named twice %d KB; want twice as much", once, twice)
	}
	if got := (pids{}).proc(); got != (procInfo{}) {
		t.Errorf("no -pid: %+v, want zeroes", got)
	}
}
