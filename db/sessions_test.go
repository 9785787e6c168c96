package db

import (
	"context"
	"slices"
	"testing"
)

// sessionKeys lists the rows of the session storage's table.
func sessionKeys(t *testing.T, d *DB) []string {
	t.Helper()
	rows, err := d.SQL.Query(`SELECT k FROM ` + SessionTable + ` ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	return keys
}

func addSession(t *testing.T, d *DB, id string, userID int64) {
	t.Helper()
	if _, err := d.SQL.Exec(`INSERT INTO `+SessionTable+` (k, v, e) VALUES ($1, $2, 0)`, id, []byte{0}); err != nil {
		t.Fatal(err)
	}
	if userID != 0 {
		if err := d.TrackSession(context.Background(), id, userID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEndSessions(t *testing.T) { eachEngine(t, testEndSessions) }

func testEndSessions(t *testing.T, d *DB) {
	ctx := context.Background()
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	bob, _ := d.CreateUser(ctx, "bob", "bob@example.com", "h")
	addSession(t, d, "a-keep", alice.ID)
	addSession(t, d, "a-other1", alice.ID)
	addSession(t, d, "a-other2", alice.ID)
	addSession(t, d, "b-1", bob.ID)
	addSession(t, d, "visitor", 0)

	if err := d.EndSessions(ctx, alice.ID, "a-keep"); err != nil {
		t.Fatal(err)
	}
	if got, want := sessionKeys(t, d), []string{"a-keep", "b-1", "visitor"}; !slices.Equal(got, want) {
		t.Errorf("sessions after EndSessions(keep) = %q, want %q", got, want)
	}
	var links int
	d.SQL.QueryRow(`SELECT count(*) FROM user_sessions WHERE user_id = $1`, alice.ID).Scan(&links)
	if links != 1 {
		t.Errorf("alice has %d session links, want 1", links)
	}

	// keep empty: every session of the user goes (a password reset).
	if err := d.EndSessions(ctx, alice.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := sessionKeys(t, d), []string{"b-1", "visitor"}; !slices.Equal(got, want) {
		t.Errorf("sessions after EndSessions(all) = %q, want %q", got, want)
	}
}

func TestForgetAndOrphanSessionLinks(t *testing.T) { eachEngine(t, testForgetAndOrphanSessionLinks) }

func testForgetAndOrphanSessionLinks(t *testing.T, d *DB) {
	ctx := context.Background()
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	addSession(t, d, "s1", alice.ID)
	addSession(t, d, "s2", alice.ID)
	if err := d.TrackSession(ctx, "gone", alice.ID); err != nil { // its row expired already
		t.Fatal(err)
	}
	if err := d.ForgetSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteOrphanSessionLinks(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _ := d.SQL.Query(`SELECT session_id FROM user_sessions ORDER BY session_id`)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		got = append(got, s)
	}
	if want := []string{"s2"}; !slices.Equal(got, want) {
		t.Errorf("links = %q, want %q", got, want)
	}
}
