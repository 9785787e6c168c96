package app_test

import (
	"errors"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/app/apptest"
	"natter/client"
	"natter/internal/natstest"
)

// socketAddress is the address the page of room slug gives c for its
// socket (ws-connect), as the browser on that page uses it.
func socketAddress(t *testing.T, c *client.Client, slug string) string {
	t.Helper()
	page, err := c.Get("/rooms/" + slug)
	if err != nil || page.Status != 200 {
		t.Fatalf("the page of %s: %v, status %d", slug, err, page.Status)
	}
	m := regexp.MustCompile(`ws-connect="([^"]*)"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("the page of %s has no socket address", slug)
	}
	return html.UnescapeString(m[1])
}

// dialSoon opens the socket at path and reads its first frame (the
// snapshot), again every 200 ms for up to 15 s (NATS just came back) while
// again says the failure passes. It returns the socket, closed when the
// test ends, and its snapshot, or the error of the last try.
func dialSoon(t *testing.T, c *client.Client, path string, again func(error) bool) (*client.Socket, string, error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := c.DialPath(path, nil)
		if err == nil {
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			var snap []byte
			if _, snap, err = s.ReadMessage(); err == nil {
				t.Cleanup(func() { s.Close() })
				return s, string(snap), nil
			}
			s.Close()
		}
		if !again(err) || time.Now().After(deadline) {
			return nil, "", err
		}
		t.Logf("the socket %s: %v; again", path, err)
		time.Sleep(200 * time.Millisecond)
	}
}

// refusedSoon opens the socket at path, again for up to 15 s while the
// nodes close it to be tried again (1012, 1013: NATS just came back), and
// returns the close code and reason of the refusal that is not that. A
// socket that is served (its snapshot comes) fails the test.
func refusedSoon(t *testing.T, c *client.Client, path string) (int, string) {
	t.Helper()
	var ce *websocket.CloseError
	passing := func(err error) bool { return !errors.As(err, &ce) || ce.Code == 1012 || ce.Code == 1013 }
	_, snap, err := dialSoon(t, c, path, passing)
	switch {
	case err == nil:
		t.Fatalf("the socket %s was served: %.300s", path, snap)
	case passing(err):
		t.Fatalf("the socket %s: %v 15 s after NATS came back", path, err)
	}
	return ce.Code, ce.Text
}

// NATS restarted loses every room's settings and history (its memory):
// the private room's members reconnect (1012), alice through node a,
// which held the room, and bob through node b, which relayed his socket,
// and both are told the room no longer exists. Neither node makes it
// anew as a public room: no lobby lists it, and its page is a 404 to
// anyone, on both nodes.
func TestPrivateRoomVanishesWhenNATSRestarts(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice, bob, carol := a.User("alice"), b.User("bob"), b.User("carol")
	if res, err := alice.Submit("/rooms", "/rooms", url.Values{"name": {"den"}, "private": {"1"}}); err != nil || res.Location != "/rooms/den" {
		t.Fatalf("alice creating den on a: %+v, %v", res, err)
	}
	ws := socketAddress(t, alice, "den")
	if ws != "/rooms/den/ws?private=1" {
		t.Fatalf("the private room's page connects to %q, want /rooms/den/ws?private=1", ws)
	}
	onA := apptest.DialPath(t, alice, ws)
	readUntil(t, onA, `data-member="alice"`, 5*time.Second)
	page, err := alice.Get("/rooms/den")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`/rooms/den/join/[A-Za-z0-9_-]{43}`).FindString(page.Body)
	if res, err := bob.Submit(link, link, nil); err != nil || res.Location != "/rooms/den" {
		t.Fatalf("bob opening the link on b: %+v, %v", res, err)
	}
	if got := socketAddress(t, bob, "den"); got != ws {
		t.Fatalf("bob's page of den on b connects to %q, want %q", got, ws)
	}
	onB := apptest.DialPath(t, bob, ws) // relayed by b to a
	readUntil(t, onB, `data-member="bob"`, 5*time.Second)
	if _, _, ok := b.Rooms().Room("den"); ok {
		t.Fatal("b has den itself: a does not hold it")
	}

	nats.Restart()
	for name, s := range map[string]*client.Socket{"alice": onA, "bob": onB} {
		if code, reason := closeOf(t, s, 20*time.Second); code != 1012 {
			t.Errorf("%s's socket closed with %d %q when NATS restarted, want 1012", name, code, reason)
		}
	}
	for _, n := range nodes {
		waitReadyz(t, func() (int, string) {
			st, _, body := apptest.Get(t, n.URL+"/readyz")
			return st, body
		}, 200)
	}

	// alice first, through a: a claims den, has nothing to restore, and
	// refuses. Then bob through b, relayed to a, and alice through b.
	for _, try := range []struct {
		who  string
		c    *client.Client
		path string
	}{{"alice through a", alice, ws}, {"bob through b", bob, ws}, {"alice through b", b.SignIn("alice"), ws}} {
		if code, reason := refusedSoon(t, try.c, try.path); code != 1008 || reason != "This room no longer exists." {
			t.Errorf("%s: closed with %d %q, want 1008 \"This room no longer exists.\"", try.who, code, reason)
		}
	}
	// bob's join went to a, which held den by then, with the page's hint.
	b.WaitLog(5*time.Second, "socket join refused by the room's owner", "room=den", "code=1008")
	for _, n := range nodes {
		if _, _, ok := n.Rooms().Room("den"); ok {
			t.Errorf("node %s made den anew", n.Config.Node)
		}
	}
	for name, c := range map[string]*client.Client{"carol on b": carol, "carol on a": a.SignIn("carol"), "bob on b": bob} {
		list, err := c.Get("/rooms/list")
		if err != nil || list.Status != 200 || strings.Contains(list.Body, `data-room="den"`) {
			t.Errorf("the lobby of %s: %v, status %d, lists den: %v", name, err, list.Status, err == nil && strings.Contains(list.Body, `data-room="den"`))
		}
		if page, err := c.Get("/rooms/den"); err != nil || page.Status != 404 {
			t.Errorf("the page of den for %s: %v, status %d, want 404", name, err, page.Status)
		}
		if page, err := c.Get(link); err != nil || page.Status != 404 {
			t.Errorf("den's invitation link for %s: %v, status %d, want 404", name, err, page.Status)
		}
	}
	for _, n := range nodes {
		if _, _, ok := n.Rooms().Room("den"); ok {
			t.Errorf("node %s made den anew for a page or the invitation link", n.Config.Node)
		}
	}
}
