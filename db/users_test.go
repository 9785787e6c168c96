package db

import (
	"context"
	"errors"
	"testing"
)

func TestCreateUserDuplicates(t *testing.T) {
	ctx := context.Background()
	d, _ := openTemp(t)
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

func TestUserByLogin(t *testing.T) {
	ctx := context.Background()
	d, _ := openTemp(t)
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

func TestUpdateProfile(t *testing.T) {
	ctx := context.Background()
	d, _ := openTemp(t)
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
func TestUpdateProfileVoidsResetLinks(t *testing.T) {
	ctx := context.Background()
	d, _ := openTemp(t)
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

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	d, _ := openTemp(t)
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
