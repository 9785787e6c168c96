package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestCreateUserDuplicates(t *testing.T) { eachEngine(t, testCreateUserDuplicates) }

func testCreateUserDuplicates(t *testing.T, d *DB) {
	ctx := context.Background()
	if _, err := d.CreateUser(ctx, "Alice", "Alice@Example.com", "h"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, username, email string
		want                  error
	}{
		{"same name", "Alice", "other@example.com", ErrUsernameTaken},
		{"name in other case", "aLICE", "other@example.com", ErrUsernameTaken},
		{"email in other case", "bob", "ALICE@EXAMPLE.COM", ErrEmailTaken},
		{"email with spaces", "bob", " alice@example.com ", ErrEmailTaken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.CreateUser(ctx, tt.username, tt.email, "h")
			if !errors.Is(err, tt.want) {
				t.Errorf("CreateUser(%q, %q) = %v, want %v", tt.username, tt.email, err, tt.want)
			}
		})
	}
	// With both taken SQLite names one constraint; either sentinel will do.
	if _, err := d.CreateUser(ctx, "ALICE", "alice@example.com", "h"); !errors.Is(err, ErrUsernameTaken) && !errors.Is(err, ErrEmailTaken) {
		t.Errorf("both taken: %v", err)
	}
	u, err := d.CreateUser(ctx, "bob", "bob@example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "bob" || u.Email != "bob@example.com" || u.CredentialVersion != 1 || u.ID == 0 {
		t.Errorf("created %+v", u)
	}
}

func TestUserByLogin(t *testing.T) { eachEngine(t, testUserByLogin) }

func testUserByLogin(t *testing.T, d *DB) {
	ctx := context.Background()
	alice, err := d.CreateUser(ctx, "Alice", "Alice@Example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateUser(ctx, "bob", "bob@example.com", "h"); err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"Alice", "alice", "ALICE", "Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM", " alice "} {
		u, err := d.UserByLogin(ctx, login)
		if err != nil || u.ID != alice.ID {
			t.Errorf("UserByLogin(%q) = %d, %v; want %d", login, u.ID, err, alice.ID)
		}
		// The stored spelling comes back, not the typed one.
		if u.Username != "Alice" || u.Email != "Alice@Example.com" {
			t.Errorf("UserByLogin(%q) = %q %q, want the stored spelling", login, u.Username, u.Email)
		}
	}
	for _, login := range []string{"alic", "alice@example.org", "", "' OR 1=1--"} {
		if _, err := d.UserByLogin(ctx, login); !errors.Is(err, ErrNotFound) {
			t.Errorf("UserByLogin(%q) = %v, want ErrNotFound", login, err)
		}
	}
	u, err := d.UserByEmail(ctx, "ALICE@example.COM")
	if err != nil || u.Email != "Alice@Example.com" {
		t.Errorf("UserByEmail = %q, %v; want the stored address", u.Email, err)
	}
	if _, err := d.UserByEmail(ctx, "Alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByEmail(user name) = %v, want ErrNotFound", err)
	}
}

func TestUpdateProfile(t *testing.T) { eachEngine(t, testUpdateProfile) }

func testUpdateProfile(t *testing.T, d *DB) {
	ctx := context.Background()
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	if _, err := d.CreateUser(ctx, "bob", "bob@example.com", "h"); err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateProfile(ctx, alice.ID, "BOB", "alice@example.com"); !errors.Is(err, ErrUsernameTaken) {
		t.Errorf("rename to BOB = %v, want ErrUsernameTaken", err)
	}
	if err := d.UpdateProfile(ctx, alice.ID, "alice", "Bob@Example.com"); !errors.Is(err, ErrEmailTaken) {
		t.Errorf("address of bob = %v, want ErrEmailTaken", err)
	}
	// Her own name in another case is hers to take.
	if err := d.UpdateProfile(ctx, alice.ID, "Alice", "ALICE@example.com"); err != nil {
		t.Fatal(err)
	}
	u, _ := d.UserByID(ctx, alice.ID)
	if u.Username != "Alice" || u.Email != "ALICE@example.com" {
		t.Errorf("after update: %q %q", u.Username, u.Email)
	}
	if err := d.UpdateProfile(ctx, 999, "nobody", "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
}

// TestUpdateProfileVoidsResetLinks: links mailed to an old address stop
// working when the address changes; a new spelling of the same one, or a
// new user name, leaves them be.
func TestUpdateProfileVoidsResetLinks(t *testing.T) { eachEngine(t, testUpdateProfileVoidsResetLinks) }

func testUpdateProfileVoidsResetLinks(t *testing.T, d *DB) {
	ctx := context.Background()
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	d.CreateResetToken(ctx, alice.ID, "t1", time30m)
	if err := d.UpdateProfile(ctx, alice.ID, "alicia", "Alice@Example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ResetTokenUser(ctx, "t1"); err != nil {
		t.Errorf("same address in other case voided the link: %v", err)
	}
	if err := d.UpdateProfile(ctx, alice.ID, "alicia", "alicia@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ResetTokenUser(ctx, "t1"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("link after the address changed: %v, want ErrTokenInvalid", err)
	}
}

func TestChangePassword(t *testing.T) { eachEngine(t, testChangePassword) }

func testChangePassword(t *testing.T, d *DB) {
	ctx := context.Background()
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "old")
	if err := d.CreateResetToken(ctx, alice.ID, "tok", time30m); err != nil {
		t.Fatal(err)
	}
	v, err := d.ChangePassword(ctx, alice.ID, "new")
	if err != nil || v != 2 {
		t.Fatalf("ChangePassword = %d, %v; want 2", v, err)
	}
	u, _ := d.UserByID(ctx, alice.ID)
	if u.PasswordHash != "new" || u.CredentialVersion != 2 {
		t.Errorf("after change: %+v", u)
	}
	if _, err := d.ResetTokenUser(ctx, "tok"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("outstanding token after password change: %v, want ErrTokenInvalid", err)
	}
	if _, err := d.ChangePassword(ctx, 999, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
	if err := d.RehashPassword(ctx, alice.ID, "rehashed"); err != nil {
		t.Fatal(err)
	}
	u, _ = d.UserByID(ctx, alice.ID)
	if u.PasswordHash != "rehashed" || u.CredentialVersion != 2 {
		t.Errorf("rehash must not end sessions: %+v", u)
	}
}

// Names that look alike (Unicode TS #39 skeleton, any letter case) are one
// name: "hoIder2" with a capital i cannot sit beside "holder2".
func TestUsernameLookalikes(t *testing.T) { eachEngine(t, testUsernameLookalikes) }

func testUsernameLookalikes(t *testing.T, d *DB) {
	ctx := context.Background()
	if _, err := d.CreateUser(ctx, "holder2", "holder@example.com", "h"); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"hoIder2", "h0lder2", "HOLDER2", "ho1der2", "hoLder2"} {
		_, err := d.CreateUser(ctx, name, "other"+strconv.Itoa(i)+"@example.com", "h")
		want := ErrUsernameLookalike
		if FoldKey(name) == "holder2" {
			want = ErrUsernameTaken
		}
		if !errors.Is(err, want) {
			t.Errorf("CreateUser(%q) = %v, want %v", name, err, want)
		}
	}
	bob, err := d.CreateUser(ctx, "bob", "bob@example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateProfile(ctx, bob.ID, "hoIder2", "bob@example.com"); !errors.Is(err, ErrUsernameLookalike) {
		t.Errorf("rename to hoIder2 = %v, want ErrUsernameLookalike", err)
	}
	if _, err := d.CreateUser(ctx, "rnallory", "m@example.com", "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateUser(ctx, "Mallory", "m2@example.com", "h"); !errors.Is(err, ErrUsernameLookalike) {
		t.Errorf("Mallory beside rnallory = %v, want ErrUsernameLookalike", err)
	}
}

// A name given up by a rename is held for its former owner for
// UsernameHold: nobody else gets it (nor a look-alike), the owner may take
// it back, and after the hold it is free.
func TestRenamedNameIsHeld(t *testing.T) { eachEngine(t, testRenamedNameIsHeld) }

func testRenamedNameIsHeld(t *testing.T, d *DB) {
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0)
	clockAt(d, start)
	alice, err := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateProfile(ctx, alice.ID, "alicia", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "ALICE", "aIice"} {
		if _, err := d.CreateUser(ctx, name, "mallory@example.com", "h"); !errors.Is(err, ErrUsernameHeld) {
			t.Errorf("CreateUser(%q) during the hold = %v, want ErrUsernameHeld", name, err)
		}
	}
	bob, err := d.CreateUser(ctx, "bob", "bob@example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateProfile(ctx, bob.ID, "alice", "bob@example.com"); !errors.Is(err, ErrUsernameHeld) {
		t.Errorf("bob renaming to alice during the hold = %v, want ErrUsernameHeld", err)
	}
	// The owner takes it back; then "alicia" is held for her in turn.
	if err := d.UpdateProfile(ctx, alice.ID, "Alice", "alice@example.com"); err != nil {
		t.Fatalf("alice taking her name back: %v", err)
	}
	if err := d.UpdateProfile(ctx, bob.ID, "alicia", "bob@example.com"); !errors.Is(err, ErrUsernameHeld) {
		t.Errorf("bob renaming to alicia = %v, want ErrUsernameHeld", err)
	}
	clockAt(d, start.Add(UsernameHold+time.Second))
	if err := d.UpdateProfile(ctx, bob.ID, "alicia", "bob@example.com"); err != nil {
		t.Errorf("alicia after the hold: %v", err)
	}
}

// A database made by the previous schema (0001 only, as current main
// leaves it) migrates with every account intact, including two accounts
// whose names already look alike: the older keeps the skeleton, the later
// keeps its name and can still sign in and save its profile.
func TestMigrationKeepsAccounts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "natter.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(migs[0].sql + "; PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	names := []string{"holder2", "bob", "hoIder2", "Carol"}
	for i, n := range names {
		if _, err := raw.Exec(`INSERT INTO users (username, username_key, email, email_key, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'h', 1, 1)`, n, FoldKey(n), n+"@example.com", FoldKey(n+"@example.com")); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
	}
	raw.Close()

	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := userVersion(t, d); got != len(migs) {
		t.Errorf("user_version = %d, want %d", got, len(migs))
	}
	want := map[string]sql.NullString{
		"holder2": {String: "holder2", Valid: true},
		"bob":     {String: "bob", Valid: true},
		"hoIder2": {},
		"Carol":   {String: "carol", Valid: true},
	}
	rows, err := d.SQL.Query(`SELECT username, username_skeleton FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var name string
		var skel sql.NullString
		if err := rows.Scan(&name, &skel); err != nil {
			t.Fatal(err)
		}
		n++
		if skel != want[name] {
			t.Errorf("%s: skeleton %v, want %v", name, skel, want[name])
		}
	}
	rows.Close()
	if n != len(names) {
		t.Fatalf("%d accounts after the migration, want %d", n, len(names))
	}
	late, err := d.UserByLogin(ctx, "hoIder2")
	if err != nil || late.Username != "hoIder2" {
		t.Fatalf("hoIder2 after the migration: %+v, %v", late, err)
	}
	if err := d.UpdateProfile(ctx, late.ID, "hoIder2", "new@example.com"); err != nil {
		t.Errorf("hoIder2 saving its profile: %v", err)
	}
	if _, err := d.CreateUser(ctx, "ho1der2", "x@example.com", "h"); !errors.Is(err, ErrUsernameLookalike) {
		t.Errorf("a third look-alike = %v, want ErrUsernameLookalike", err)
	}
}
