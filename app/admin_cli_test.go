package app_test

import (
	"context"
	"path/filepath"
	"testing"

	"natter/db"
)

// `natter admin NAME` makes an account an admin, says so in one line, and
// refuses with one line what it cannot do.
func TestAdminCommand(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "natter.db")
	d, err := db.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ana", "Bob"} {
		if _, err := d.CreateUser(ctx, name, name+"@example.com", "h"); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()

	tests := []struct {
		args    []string
		out     string
		problem string
	}{
		{[]string{"admin", "bob"}, "Bob is now an admin\n", ""},
		{[]string{"admin", "Bob"}, "Bob is already an admin\n", ""},
		{[]string{"admin", "ana@example.com"}, "ana is already an admin\n", ""},
		{[]string{"admin", "zed"}, "", "no account is named zed"},
		{[]string{"admin"}, "", "admin needs one argument, the user's name: natter admin NAME"},
		{[]string{"admin", "ana", "bob"}, "", "admin needs one argument, the user's name: natter admin NAME"},
	}
	for _, tt := range tests {
		out, err := command(t, dbPath, "", tt.args...)
		problem := ""
		if err != nil {
			problem = err.Error()
		}
		if out != tt.out || problem != tt.problem {
			t.Errorf("natter %v: out %q, error %q; want %q, %q", tt.args, out, problem, tt.out, tt.problem)
		}
	}
	d, err = db.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if u, _ := d.UserByLogin(ctx, "bob"); !u.IsAdmin {
		t.Error("Bob is not an admin in the database")
	}
}
