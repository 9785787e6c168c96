package chat

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// A relayed connection is served like any other: what the browser sends
// goes to onText, what the owner sends (Send) is written in order, and it
// ends with the owner's close code. It is in no room here: no member, no
// room, no notice to anyone.
func TestRelayedConnectionIsServedInNoRoom(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Minute})
	local := h.join("general", bob, "s-bob")
	drain(local)
	c, err := h.reg.Relay("general", alice, "s-alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.Room() != "general" || c.Member() != alice {
		t.Errorf("Room %q, Member %v", c.Room(), c.Member())
	}
	// general is bob's room here: the relayed connection adds no room or
	// member.
	if st := h.reg.Stats(); st != (Stats{Rooms: 1, Members: 1, Connections: 2, Users: 2, Sessions: 2}) {
		t.Errorf("with a relayed connection: %+v", st)
	}
	s := newReadSocket(peerFrame{kind: TextMessage, data: `{"message":"hi"}`})
	var got []string
	done := make(chan string)
	go func() {
		done <- c.Serve(s, func(text []byte, _ int) bool {
			got = append(got, string(text))
			return false
		})
	}()
	for _, f := range []string{"snapshot|", "msg 1|", "msg 2|"} {
		if !c.Send([]byte(f)) {
			t.Fatalf("Send(%q) refused", f)
		}
	}
	waitFor(t, "the frames written", func() bool { return s.text() == "snapshot|msg 1|msg 2|" })
	c.Close(ClosePolicyViolation, "Your account has been disabled.")
	waitFor(t, "the close frame", func() bool { return len(s.closeFrames()) == 1 })
	close(s.frames) // the browser answers it and goes
	if reason := <-done; reason != EndClientClosed {
		t.Errorf("Serve returned %q", reason)
	}
	if !slices.Equal(got, []string{`{"message":"hi"}`}) {
		t.Errorf("onText got %q", got)
	}
	if cl := s.closeFrames(); !slices.Equal(cl, []string{"1008 Your account has been disabled."}) {
		t.Errorf("close frames %q", cl)
	}
	if st := h.reg.Stats(); st != (Stats{Rooms: 1, Members: 1, Connections: 1, Users: 1, Sessions: 1}) {
		t.Errorf("after it ended: %+v, want bob's alone", st)
	}
	if got := drain(local); got != "" {
		t.Errorf("the room's member was told %q", got)
	}
}

// A relayed connection is one of its user's: the connection cap counts
// it, sign-outs close it, and so does the registry's shutdown (1012).
func TestRelayedConnectionCountsAsTheUsers(t *testing.T) {
	h := newHarness(t, Config{MaxConnsPerUser: 2})
	c0 := h.join("general", alice, "s1")
	r1, err := h.reg.Relay("team", alice, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.reg.Relay("team", alice, "s2"); !errors.Is(err, ErrTooManyConnections) {
		t.Errorf("a third connection: %v, want ErrTooManyConnections", err)
	}
	h.reg.CloseSession("s1", ClosePolicyViolation, "Signed out.")
	if r1.Cause() != EndSignedOut {
		t.Errorf("after CloseSession: cause %q", r1.Cause())
	}
	h.reg.Leave(r1)
	h.reg.Leave(c0)

	r2, err := h.reg.Relay("team", bob, "s3")
	if err != nil {
		t.Fatal(err)
	}
	s := h.pump(r2)
	h.reg.Close()
	waitFor(t, "the shutdown's close frame", func() bool { return len(s.closeFrames()) == 1 })
	if cl := s.closeFrames(); cl[0] != "1012 Server restarting." {
		t.Errorf("close frame %q", cl[0])
	}
	if _, err := h.reg.Relay("team", carol, "s4"); !errors.Is(err, ErrClosed) {
		t.Errorf("Relay after Close: %v", err)
	}
	h.reg.Leave(r2)
	if st := h.reg.Stats(); st.Connections != 0 || st.Users != 0 {
		t.Errorf("after Close: %+v", st)
	}
}

// A connection another node serves is a member like any other, but
// notices for its user are left to that node.
func TestRemoteConnectionGetsNoNotices(t *testing.T) {
	h := newHarness(t, Config{})
	local := h.join("general", alice, "s-alice")
	remote, err := h.reg.JoinRemote("general", bob, "hash-of-bob's-session", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	drain(local)
	drain(remote)
	h.post("general", bob, "hi")
	if got := drain(remote); got != "general:msg:3:text:bob:hi|" {
		t.Errorf("the remote connection got %q", got)
	}
	if n := h.reg.SendUser(bob.ID, []byte("notice|")); n != 0 {
		t.Errorf("SendUser took %d connections of bob's, want none here", n)
	}
	if n := h.reg.SendUser(alice.ID, []byte("notice|")); n != 1 {
		t.Errorf("SendUser took %d connections of alice's, want 1", n)
	}
	if got := drain(remote); got != "" {
		t.Errorf("the remote connection got %q", got)
	}
	h.reg.Leave(remote)
	h.reg.Leave(local)
}
