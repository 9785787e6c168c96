package app_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/internal/disktest"
)

// healthz fetches /healthz.
func healthz(t *testing.T, c *client.Client) *client.Response {
	t.Helper()
	res, err := c.Get("/healthz")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wantCannotSave checks the page a user sees when the server cannot write.
func wantCannotSave(t *testing.T, what string, res *client.Response) {
	t.Helper()
	if res.Status != http.StatusServiceUnavailable ||
		!strings.Contains(res.Body, "The server cannot save right now") ||
		!strings.Contains(res.Body, "Nothing was lost on your side. Please try again in a moment.") ||
		res.Header.Get("Retry-After") != "10" {
		t.Errorf("%s: status %d, Retry-After %q, want 503 and the cannot-save page; body:\n%s",
			what, res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	if strings.Contains(res.Body, "expired") || strings.Contains(res.Body, "SQL") || strings.Contains(res.Body, "disk") {
		t.Errorf("%s: the page blames the form or shows internals:\n%s", what, res.Body)
	}
}

// waitHealthy polls /healthz until it answers 200 ok, for at most 5 s.
func waitHealthy(t *testing.T, c *client.Client, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := healthz(t, c)
		if res.Status == http.StatusOK && res.Body == "ok\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /healthz still %d %q after 5 s", what, res.Status, res.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFullDiskIsTold fills the 2 MB disk under the database. Forms used to
// answer "csrf token not found" (403) and /healthz "ok", with nothing in
// the log at error level. Now the user sees that the server cannot save,
// /healthz fails, the log has the error, and all of it recovers once space
// returns, without a restart.
func TestFullDiskIsTold(t *testing.T) {
	disk := disktest.Small(t)
	s := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DBPath = filepath.Join(disk, "natter.db")
		c.LogLevel = "info"
	}))
	logs := s.Log
	alice, _ := client.New(s.BaseURL())
	if err := alice.Register("alice", "alice@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	page, err := alice.Get("/rooms")
	if err != nil {
		t.Fatal(err)
	}
	signOut, err := client.FormFields(page.Body, "/logout")
	if err != nil {
		t.Fatal(err)
	}
	free := disktest.Fill(t, disk)

	// The sign-up page cannot store its form's token: it says so at once,
	// rather than on the post.
	visitor, _ := client.New(s.BaseURL())
	res, err := visitor.Get("/register")
	if err != nil {
		t.Fatal(err)
	}
	wantCannotSave(t, "sign-up page on a full disk", res)
	// A form loaded before the disk filled passes the CSRF check; then the
	// handler's own write fails.
	res, err = alice.Post("/logout", signOut)
	if err != nil {
		t.Fatal(err)
	}
	wantCannotSave(t, "sign-out on a full disk", res)
	if res := healthz(t, visitor); res.Status != http.StatusServiceUnavailable || res.Body != "database cannot be written\n" {
		t.Errorf("/healthz on a full disk: %d %q, want 503 database cannot be written", res.Status, res.Body)
	}
	for _, want := range []string{
		`level=ERROR msg="database cannot be written: sessions (and so forms) fail until it can" err="database or disk is full (13)"`,
		`level=ERROR msg="database cannot be written" err=`,
		`level=ERROR msg="health check: database cannot be written" err="database or disk is full (13)"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}

	free()
	waitHealthy(t, visitor, "after freeing space")
	if err := visitor.Register("bob", "bob@example.com", "staple tuning fork"); err != nil {
		t.Errorf("sign-up after freeing space: %v", err)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="database can be written again"`) {
		t.Error("log does not say the database can be written again")
	}
}

// TestReadOnlyDatabaseIsTold makes the database file read-only while
// Natter runs. Connections opened meanwhile open it read-only and SQLite
// keeps them so: the server used to fail until they were recycled, long
// after the permission came back.
func TestReadOnlyDatabaseIsTold(t *testing.T) {
	s := apptest.Start(t)
	logs := s.Log
	path := s.Config.DBPath
	writable := disktest.Immutable(t, path)
	// Connections come and go (the pool closes idle ones): the next ones
	// open the file read-only.
	s.DB().SQL.SetMaxIdleConns(0)
	s.DB().SQL.SetMaxIdleConns(4)

	visitor, _ := client.New(s.BaseURL())
	res, err := visitor.Get("/register")
	if err != nil {
		t.Fatal(err)
	}
	wantCannotSave(t, "sign-up page on a read-only database", res)
	if res := healthz(t, visitor); res.Status != http.StatusServiceUnavailable {
		t.Errorf("/healthz on a read-only database: %d %q, want 503", res.Status, res.Body)
	}
	if want := `err="attempt to write a readonly database (8)"`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s", want)
	}

	writable()
	waitHealthy(t, visitor, "after the file became writable")
	if err := visitor.Register("bob", "bob@example.com", "staple tuning fork"); err != nil {
		t.Errorf("sign-up after the file became writable: %v", err)
	}
}
