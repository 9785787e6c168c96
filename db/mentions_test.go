package db

import (
	"context"
	"slices"
	"strconv"
	"testing"
)

// On both engines: PostgreSQL refused the query's ? placeholders once.
func TestUsersByNames(t *testing.T) { eachEngine(t, testUsersByNames) }

func testUsersByNames(t *testing.T, d *DB) {
	ctx := context.Background()
	ids := map[string]int64{}
	for _, name := range []string{"Ana", "bo.b", "cyd", "dee"} {
		u, err := d.CreateUser(ctx, name, name+"@example.com", "h")
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = u.ID
	}
	if err := d.SetDisabled(ctx, ids["dee"], true); err != nil {
		t.Fatal(err)
	}
	users, err := d.UsersByNames(ctx, []string{"ana", "BO.B", "nobody", "dee", "cyd@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.Username+"="+strconv.FormatInt(u.ID, 10))
	}
	slices.Sort(got)
	if want := []string{"Ana=" + strconv.FormatInt(ids["Ana"], 10), "bo.b=" + strconv.FormatInt(ids["bo.b"], 10)}; !slices.Equal(got, want) {
		t.Errorf("UsersByNames = %q, want %q (by name, any case; not disabled, not by address)", got, want)
	}
	if users, err := d.UsersByNames(ctx, nil); err != nil || users != nil {
		t.Errorf("no names: %v, %v", users, err)
	}
	many := make([]string, MaxUsersByNames+1)
	for i := range many {
		many[i] = "cyd"
	}
	many[MaxUsersByNames] = "ana" // past the cap: not looked up
	if users, err := d.UsersByNames(ctx, many); err != nil || len(users) != 1 || users[0].Username != "cyd" {
		t.Errorf("past the cap: %v, %v", users, err)
	}
}
