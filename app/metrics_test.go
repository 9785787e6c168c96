package app_test

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
)

// scrape reads the metrics endpoint into "name{labels}" -> value text.
// Every series must carry the node's name (its host name by default) as
// the label node, which is left out of the keys.
func scrape(t *testing.T, s *apptest.Server) map[string]string {
	t.Helper()
	node := s.Config.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	label := `node="` + node + `"`
	st, body := status(t, "http://"+s.MetricsAddr()+"/metrics")
	if st != 200 {
		t.Fatalf("GET /metrics: %d", st)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		key := line[:i]
		if !strings.Contains(key, label) {
			t.Fatalf("series without %s: %s", label, line)
		}
		key = strings.NewReplacer("{"+label+"}", "", ","+label, "", label+",", "").Replace(key)
		out[key] = line[i+1:]
	}
	return out
}

// The metrics move with real traffic: sign-ups, page views by route
// pattern, sockets opened and closed.
func TestMetricsFollowTraffic(t *testing.T) {
	s := apptest.Start(t, apptest.Config(func(c *app.Config) { c.MetricsAddr = "127.0.0.1:0" }))
	if got := scrape(t, s)["natter_sockets_open"]; got != "0" {
		t.Errorf("sockets before any: %q", got)
	}
	ana := s.User("ana")
	for _, slug := range []string{"general", "programming"} {
		if res, err := ana.Get("/rooms/" + slug); err != nil || res.Status != 200 {
			t.Fatalf("GET /rooms/%s: %v %v", slug, res, err)
		}
	}
	sock := apptest.Dial(t, ana, "general")
	// The first frame (the snapshot) comes once the socket has joined.
	sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := sock.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, s)
	want := map[string]string{
		"natter_sockets_open": "1",
		"natter_room_members": "1",
		"natter_rooms_live":   "0",
		`natter_http_requests_total{method="POST",route="/register",status="303"}`:      "1",
		`natter_http_requests_total{method="GET",route="/rooms/:slug",status="200"}`:    "2",
		`natter_http_request_duration_seconds_count{method="GET",route="/rooms/:slug"}`: "2",
		// One sign-up hashed one password; no mail yet.
		"natter_password_hashes_total":    "1",
		"natter_password_hash_busy_total": "0",
		"natter_mail_sent_total":          "0",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := m[`natter_http_requests_total{method="GET",route="/rooms/general",status="200"}`]; ok {
		t.Error("a raw path became a label")
	}
	// A reset mail (printed to the log: no SMTP server here) counts as sent.
	if res, err := ana.Submit("/password/forgot", "/password/forgot", url.Values{"email": {"ana@example.com"}}); err != nil || res.Status != 200 {
		t.Fatalf("forgot: %v %v", res, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for scrape(t, s)["natter_mail_sent_total"] != "1" {
		if time.Now().After(deadline) {
			t.Fatal("natter_mail_sent_total did not reach 1")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Unknown paths share one series whatever they are.
	status(t, s.BaseURL()+"/no/such/page-1")
	status(t, s.BaseURL()+"/no/such/page-2")
	if got := scrape(t, s)[`natter_http_requests_total{method="GET",route="unmatched",status="404"}`]; got != "2" {
		t.Errorf("404s = %q, want 2", got)
	}
	// Never on the public listener.
	if st, _ := status(t, s.BaseURL()+"/metrics"); st != 404 {
		t.Errorf("public /metrics: %d, want 404", st)
	}

	// A message: posted once, delivered to the one socket.
	if err := sock.SendMessage("hello"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for scrape(t, s)["natter_messages_posted_total"] != "1" {
		if time.Now().After(deadline) {
			t.Fatal("natter_messages_posted_total did not reach 1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	m = scrape(t, s)
	// ana's join notice and her message, to her one socket.
	if m["natter_deliveries_total"] != "2" || m["natter_snapshot_bytes_total"] == "0" {
		t.Errorf("deliveries %q (want 2), snapshot bytes %q (want above 0)", m["natter_deliveries_total"], m["natter_snapshot_bytes_total"])
	}

	sock.Close()
	deadline = time.Now().Add(5 * time.Second)
	for scrape(t, s)["natter_sockets_open"] != "0" {
		if time.Now().After(deadline) {
			t.Fatal("sockets_open did not fall to 0 after the socket closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := scrape(t, s)[`natter_sockets_closed_total{reason="client closed"}`]; got != "1" {
		t.Errorf(`sockets closed {reason="client closed"} = %q, want 1`, got)
	}
}
