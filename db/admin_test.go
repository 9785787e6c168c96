package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The first account of an empty database is the admin; the ones after it
// are not.
func TestFirstAccountIsAdmin(t *testing.T) { eachEngine(t, testFirstAccountIsAdmin) }

func testFirstAccountIsAdmin(t *testing.T, d *DB) {
	ctx := context.Background()
	first, err := d.CreateUser(ctx, "ana", "ana@example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.CreateUser(ctx, "bo", "bo@example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	if !first.IsAdmin || second.IsAdmin {
		t.Errorf("admin: first %v, second %v; want true, false", first.IsAdmin, second.IsAdmin)
	}
	if first.LastSeen.IsZero() || first.Disabled() {
		t.Errorf("new account: last seen %v, disabled %v", first.LastSeen, first.Disabled())
	}
}

// Sign-ups racing on an empty database make exactly one admin.
func TestFirstAdminRace(t *testing.T) { eachEngine(t, testFirstAdminRace) }

func testFirstAdminRace(t *testing.T, d *DB) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('a'+i)) + "user"
			_, err := d.CreateUser(ctx, name, name+"@example.com", "h")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var admins, total int
	if err := d.SQL.QueryRow(`SELECT count(*) FILTER (WHERE is_admin), count(*) FROM users`).Scan(&admins, &total); err != nil {
		t.Fatal(err)
	}
	if admins != 1 || total != n {
		t.Errorf("%d admins among %d accounts, want 1 among %d", admins, total, n)
	}
}

func TestDisableEnable(t *testing.T) { eachEngine(t, testDisableEnable) }

func testDisableEnable(t *testing.T, d *DB) {
	ctx := context.Background()
	u, _ := d.CreateUser(ctx, "ana", "ana@example.com", "h")
	at := time.Unix(1_800_000_000, 0)
	clockAt(d, at)
	if err := d.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	clockAt(d, at.Add(time.Hour))
	if err := d.SetDisabled(ctx, u.ID, true); err != nil { // again: keeps the first time
		t.Fatal(err)
	}
	got, _ := d.UserByID(ctx, u.ID)
	if !got.DisabledAt.Equal(at) {
		t.Errorf("disabled at %v, want %v", got.DisabledAt, at)
	}
	if err := d.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.UserByID(ctx, u.ID); got.Disabled() {
		t.Error("still disabled after enabling")
	}
	for _, err := range []error{d.SetDisabled(ctx, 999, true), d.SetDisabled(ctx, 999, false), d.SetAdmin(ctx, 999, true)} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown id: %v, want ErrNotFound", err)
		}
	}
}

func TestSignUpModeSetting(t *testing.T) { eachEngine(t, testSignUpModeSetting) }

func testSignUpModeSetting(t *testing.T, d *DB) {
	ctx := context.Background()
	if m, err := d.SignUpMode(ctx); err != nil || m != SignUpOpen {
		t.Fatalf("default mode %q, %v; want open", m, err)
	}
	for _, m := range []SignUpMode{SignUpInvite, SignUpClosed, SignUpOpen} {
		if err := d.SetSignUpMode(ctx, m); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.SignUpMode(ctx); got != m {
			t.Errorf("mode %q, want %q", got, m)
		}
	}
	if err := d.SetSignUpMode(ctx, "everyone"); err == nil {
		t.Error("unknown mode stored")
	}
	// A mode written by a newer release admits nobody here.
	if _, err := d.SQL.Exec(`UPDATE settings SET value = 'sso' WHERE key = 'signup_mode'`); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.SignUpMode(ctx); got != SignUpClosed {
		t.Errorf("unknown stored mode read as %q, want closed", got)
	}
}

func TestInvitationLifecycle(t *testing.T) { eachEngine(t, testInvitationLifecycle) }

func testInvitationLifecycle(t *testing.T, d *DB) {
	ctx := context.Background()
	admin, _ := d.CreateUser(ctx, "ana", "ana@example.com", "h")
	start := time.Unix(1_800_000_000, 0)
	clockAt(d, start)
	const week = 7 * 24 * time.Hour
	for _, tok := range []string{"tok-used", "tok-expired", "tok-revoked"} {
		if _, err := d.CreateInvitation(ctx, admin.ID, tok, week); err != nil {
			t.Fatal(err)
		}
	}
	// Only the hash is stored.
	var n int
	if err := d.SQL.QueryRow(`SELECT count(*) FROM invitations WHERE token_hash = $1`, []byte("tok-used")).Scan(&n); err != nil || n != 0 {
		t.Errorf("a token stored as it is (%d rows, %v)", n, err)
	}
	if err := d.CheckInvitation(ctx, "nope"); !errors.Is(err, ErrInviteUnknown) {
		t.Errorf("unknown: %v", err)
	}
	u, err := d.CreateInvitedUser(ctx, "tok-used", "bo", "bo@example.com", "h")
	if err != nil || u.IsAdmin {
		t.Fatalf("invited sign-up: %+v, %v", u, err)
	}
	if _, err := d.CreateInvitedUser(ctx, "tok-used", "cy", "cy@example.com", "h"); !errors.Is(err, ErrInviteUsed) {
		t.Errorf("second use: %v, want ErrInviteUsed", err)
	}
	if _, err := d.UserByLogin(ctx, "cy"); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused sign-up left an account: %v", err)
	}
	// A taken name leaves the invitation unused: one transaction.
	if _, err := d.CreateInvitedUser(ctx, "tok-revoked", "bo", "bo2@example.com", "h"); !errors.Is(err, ErrUsernameTaken) {
		t.Fatalf("taken name: %v", err)
	}
	if err := d.CheckInvitation(ctx, "tok-revoked"); err != nil {
		t.Errorf("after a failed sign-up the invitation is %v, want open", err)
	}
	invs, _ := d.Invitations(ctx)
	ids := map[string]int64{}
	for _, inv := range invs {
		if inv.UsedBy == "bo" {
			ids["used"] = inv.ID
		}
	}
	revokeID := invs[0].ID // newest first: tok-revoked
	if err := d.RevokeInvitation(ctx, revokeID); err != nil {
		t.Fatal(err)
	}
	if err := d.RevokeInvitation(ctx, revokeID); !errors.Is(err, ErrInviteRevoked) {
		t.Errorf("revoke twice: %v", err)
	}
	if err := d.RevokeInvitation(ctx, ids["used"]); !errors.Is(err, ErrInviteUsed) {
		t.Errorf("revoke a used one: %v", err)
	}
	if err := d.RevokeInvitation(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	if _, err := d.CreateInvitedUser(ctx, "tok-revoked", "dee", "dee@example.com", "h"); !errors.Is(err, ErrInviteRevoked) {
		t.Errorf("revoked: %v", err)
	}
	if err := d.CheckInvitation(ctx, "tok-expired"); err != nil {
		t.Errorf("a day-old invitation: %v", err)
	}
	clockAt(d, start.Add(week))
	if _, err := d.CreateInvitedUser(ctx, "tok-expired", "eve", "eve@example.com", "h"); !errors.Is(err, ErrInviteExpired) {
		t.Errorf("expired: %v", err)
	}
	invs, _ = d.Invitations(ctx)
	if len(invs) != 3 || invs[2].UsedBy != "bo" || invs[2].CreatedBy != "ana" || invs[0].RevokedAt.IsZero() || invs[1].Open(d.Now()) {
		t.Errorf("invitations %+v", invs)
	}
}

// A database made by the previous release (schema 0003) keeps every
// account through migration 0004, and its oldest account becomes the
// admin; an empty one gets no admin until its first account.
func TestMigrationToAdmin(t *testing.T) {
	ctx := context.Background()
	migs, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if migs[3].name != "migrations/0004_admin.sql" {
		t.Fatalf("migration 4 is %s", migs[3].name)
	}
	old := func(t *testing.T, users ...string) string {
		path := filepath.Join(t.TempDir(), "natter.db")
		raw, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if err := (&DB{SQL: raw, Now: time.Now}).migrate(ctx, migs[:3], 0); err != nil {
			t.Fatal(err)
		}
		for i, name := range users {
			if _, err := raw.Exec(`INSERT INTO users (username, username_key, username_skeleton, email, email_key, password_hash, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 'hash-'||?, ?, ?)`, name, FoldKey(name), SkeletonKey(name), name+"@example.com", name+"@example.com",
				name, 1_700_000_000+i, 1_700_000_000+i); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}

	t.Run("with accounts", func(t *testing.T) {
		path := old(t, "zed", "amy", "bob")
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if v := userVersion(t, d); v != 4 {
			t.Errorf("user_version %d, want 4", v)
		}
		users, err := d.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 3 {
			t.Fatalf("%d accounts after migration, want 3", len(users))
		}
		for i, u := range users {
			want := []string{"zed", "amy", "bob"}[i]
			if u.Username != want || u.PasswordHash != "hash-"+want || u.IsAdmin != (i == 0) || u.Disabled() || !u.LastSeen.IsZero() {
				t.Errorf("account %d: %+v; want %s, admin %v, enabled, never seen", i, u, want, i == 0)
			}
		}
		if m, _ := d.SignUpMode(ctx); m != SignUpOpen {
			t.Errorf("mode %q after migration, want open", m)
		}
		// A new account is not the admin: one exists.
		if u, err := d.CreateUser(ctx, "cy", "cy@example.com", "h"); err != nil || u.IsAdmin {
			t.Errorf("new account after migration: admin %v, %v", u.IsAdmin, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		d, err := Open(ctx, old(t))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if u, err := d.CreateUser(ctx, "cy", "cy@example.com", "h"); err != nil || !u.IsAdmin {
			t.Errorf("first account after migrating an empty database: admin %v, %v", u.IsAdmin, err)
		}
	})
}

// Two sign-ups racing with one invitation: exactly one account is made.
func TestInvitationUsedOnceUnderRace(t *testing.T) { eachEngine(t, testInvitationUsedOnceUnderRace) }

func testInvitationUsedOnceUnderRace(t *testing.T, d *DB) {
	ctx := context.Background()
	admin, _ := d.CreateUser(ctx, "ana", "ana@example.com", "h")
	if _, err := d.CreateInvitation(ctx, admin.ID, "tok", time.Hour); err != nil {
		t.Fatal(err)
	}
	const n = 6
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('b'+i)) + "user"
			_, err := d.CreateInvitedUser(ctx, "tok", name, name+"@example.com", "h")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrInviteUsed):
			t.Errorf("racing sign-up: %v, want ErrInviteUsed", err)
		}
	}
	if total, _ := d.CountUsers(ctx); ok != 1 || total != 2 {
		t.Errorf("%d sign-ups succeeded, %d accounts; want 1 and 2", ok, total)
	}
}
