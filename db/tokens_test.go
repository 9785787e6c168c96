package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const time30m = 30 * time.Minute

// A realistic token: 43 characters of base64url.
const token1 = "q8ZgM2m3cN5bJfY0Zf3S0b8C7iQyW1x2KpL4rT6uV9w"

func TestResetTokenStoresOnlyItsHash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "natter.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	if err := d.CreateResetToken(ctx, alice.ID, token1, time.Hour); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := d.SQL.QueryRow(`SELECT token_hash FROM reset_tokens`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token1))
	if !bytes.Equal(stored, sum[:]) {
		t.Errorf("stored %x, want SHA-256 %x", stored, sum)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Every file SQLite left behind (the db, and a WAL or shm if any).
	files, _ := filepath.Glob(path + "*")
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if bytes.Contains(all, []byte(token1)) {
		t.Error("the plaintext token is in the database file")
	}
	if !bytes.Contains(all, sum[:]) {
		t.Error("the token's hash is not in the database file: the check above proves nothing")
	}
}

func TestResetTokenLifecycle(t *testing.T) { eachEngine(t, testResetTokenLifecycle) }

func testResetTokenLifecycle(t *testing.T, d *DB) {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clockAt(d, start)
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "old")
	bob, _ := d.CreateUser(ctx, "bob", "bob@example.com", "old")
	if err := d.CreateResetToken(ctx, alice.ID, "a1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateResetToken(ctx, alice.ID, "a2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateResetToken(ctx, bob.ID, "b1", time.Hour); err != nil {
		t.Fatal(err)
	}

	// Asking again does not invalidate the first link.
	for _, tok := range []string{"a1", "a2"} {
		if u, err := d.ResetTokenUser(ctx, tok); err != nil || u.ID != alice.ID {
			t.Errorf("ResetTokenUser(%s) = %d, %v; want alice", tok, u.ID, err)
		}
	}
	if _, err := d.ResetTokenUser(ctx, "unknown"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("unknown token: %v", err)
	}

	clockAt(d, start.Add(59*time.Minute))
	u, err := d.ConsumeResetToken(ctx, "a1", "new")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != alice.ID || u.PasswordHash != "new" || u.CredentialVersion != 2 {
		t.Errorf("consumed: %+v; want alice, new hash, credential version 2", u)
	}
	// Single use; and alice's other token went with it.
	for _, tok := range []string{"a1", "a2"} {
		if _, err := d.ConsumeResetToken(ctx, tok, "again"); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("ConsumeResetToken(%s) after a reset = %v, want ErrTokenInvalid", tok, err)
		}
		if _, err := d.ResetTokenUser(ctx, tok); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("ResetTokenUser(%s) after a reset = %v, want ErrTokenInvalid", tok, err)
		}
	}
	var n int
	d.SQL.QueryRow(`SELECT count(*) FROM reset_tokens WHERE user_id = $1`, alice.ID).Scan(&n)
	if n != 0 {
		t.Errorf("alice has %d token rows left, want 0", n)
	}
	if a, _ := d.UserByID(ctx, alice.ID); a.PasswordHash != "new" {
		t.Errorf("a used token changed the password again: %q", a.PasswordHash)
	}
	// Bob's token is untouched, until it expires exactly one hour on.
	if _, err := d.ResetTokenUser(ctx, "b1"); err != nil {
		t.Errorf("bob's token: %v", err)
	}
	clockAt(d, start.Add(time.Hour))
	if _, err := d.ResetTokenUser(ctx, "b1"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expired token: ResetTokenUser = %v, want ErrTokenInvalid", err)
	}
	if _, err := d.ConsumeResetToken(ctx, "b1", "new"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expired token: ConsumeResetToken = %v, want ErrTokenInvalid", err)
	}
	if b, _ := d.UserByID(ctx, bob.ID); b.PasswordHash != "old" || b.CredentialVersion != 1 {
		t.Errorf("an expired token changed bob: %+v", b)
	}
}

func TestDeleteStaleResetTokens(t *testing.T) { eachEngine(t, testDeleteStaleResetTokens) }

func testDeleteStaleResetTokens(t *testing.T, d *DB) {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clockAt(d, start)
	alice, _ := d.CreateUser(ctx, "alice", "alice@example.com", "h")
	for _, tok := range []string{"old", "used", "fresh"} {
		if err := d.CreateResetToken(ctx, alice.ID, tok, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.SQL.Exec(`UPDATE reset_tokens SET used_at = $1 WHERE token_hash = $2`, start.Unix(), hashToken("used")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL.Exec(`UPDATE reset_tokens SET expires_at = $1 WHERE token_hash = $2`, start.Add(-time.Second).Unix(), hashToken("old")); err != nil {
		t.Fatal(err)
	}
	n, err := d.DeleteStaleResetTokens(ctx)
	if err != nil || n != 2 {
		t.Fatalf("DeleteStaleResetTokens = %d, %v; want 2", n, err)
	}
	if _, err := d.ResetTokenUser(ctx, "fresh"); err != nil {
		t.Errorf("the live token went too: %v", err)
	}
	n, _ = d.DeleteStaleResetTokens(ctx)
	if n != 0 {
		t.Errorf("second sweep deleted %d", n)
	}
}
