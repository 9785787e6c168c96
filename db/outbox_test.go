package db

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const resetLink = "http://localhost:8080/password/reset/q8ZgM2m3cN5bJfY0Zf3S0b8C7iQyW1x2KpL4rT6uV9w"

func openOutbox(t *testing.T, d *DB, keyFile string) *Outbox {
	t.Helper()
	o, err := d.OpenOutbox(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func resetMail(to string, next time.Time) OutboxMail {
	return OutboxMail{
		To: to, ToName: "Zoë", Subject: "Reset your Natter password",
		Text: "Open " + resetLink + "\n", HTML: `<a href="` + resetLink + `">reset</a>`,
		NextAttempt: next, Created: next, Expires: next.Add(time.Hour),
	}
}

func TestOutboxKeepsMailInOrder(t *testing.T) {
	ctx := context.Background()
	d, path := openTemp(t)
	o := openOutbox(t, d, path+"-mailkey")
	t0 := time.UnixMilli(1_780_000_000_123)
	for _, m := range []OutboxMail{resetMail("late@example.org", t0.Add(time.Second)), resetMail("early@example.org", t0)} {
		if ok, err := o.AddMail(ctx, m, 2); err != nil || !ok {
			t.Fatalf("AddMail(%s) = %v, %v", m.To, ok, err)
		}
	}
	if ok, err := o.AddMail(ctx, resetMail("third@example.org", t0), 2); err != nil || ok {
		t.Errorf("AddMail beyond max = %v, %v; want false, nil", ok, err)
	}

	got, ok, err := o.NextMail(ctx)
	if err != nil || !ok {
		t.Fatalf("NextMail = %v, %v", ok, err)
	}
	want := resetMail("early@example.org", t0)
	want.ID = got.ID
	if got != want {
		t.Errorf("NextMail =\n%+v\nwant\n%+v", got, want)
	}
	// A failed attempt moves it behind the other.
	if err := o.RetryMail(ctx, got.ID, 1, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if next, _, _ := o.NextMail(ctx); next.To != "late@example.org" {
		t.Errorf("after RetryMail, NextMail is to %s, want late@example.org", next.To)
	}
	if err := o.DeleteMail(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := o.CountMail(ctx); err != nil || n != 1 {
		t.Errorf("CountMail = %d, %v; want 1", n, err)
	}
}

// Only a reset token's hash is in the database; a reset mail waiting in the
// outbox must not put the token there either.
func TestOutboxHoldsNoLinkInTheDatabaseFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "natter.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	o := openOutbox(t, d, path+"-mailkey")
	if _, err := o.AddMail(ctx, resetMail("zoe@example.org", time.Now()), 10); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if token := resetLink[strings.LastIndex(resetLink, "/")+1:]; bytes.Contains(all, []byte(token)) {
		t.Error("the reset token is in the database files")
	}
	if !bytes.Contains(all, []byte("zoe@example.org")) {
		t.Error("the recipient is not in the files either: the check above proves nothing")
	}

	// The key file is the operator's alone, and the next start reads the mail.
	st, err := os.Stat(path + "-mailkey")
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %v, want 0600", mode)
	}
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, ok, err := openOutbox(t, d, path+"-mailkey").NextMail(ctx)
	if err != nil || !ok || m.Text != "Open "+resetLink+"\n" {
		t.Errorf("after reopening: NextMail = %q, %v, %v", m.Text, ok, err)
	}
}

func TestOutboxDropsMailItCannotUnseal(t *testing.T) {
	ctx := context.Background()
	d, path := openTemp(t)
	if _, err := openOutbox(t, d, path+"-mailkey").AddMail(ctx, resetMail("zoe@example.org", time.Now()), 10); err != nil {
		t.Fatal(err)
	}
	other := openOutbox(t, d, filepath.Join(t.TempDir(), "other-key"))
	_, ok, err := other.NextMail(ctx)
	if ok || err == nil || !strings.Contains(err.Error(), "outbox mail to zoe@example.org cannot be unsealed (was the mail key replaced?); deleted it") {
		t.Errorf("NextMail with another key = %v, %v; want the mail named and deleted", ok, err)
	}
	if n, _ := other.CountMail(ctx); n != 0 {
		t.Errorf("CountMail = %d, want 0", n)
	}
	if _, ok, err := other.NextMail(ctx); ok || err != nil {
		t.Errorf("NextMail on the emptied outbox = %v, %v; want false, nil", ok, err)
	}
}

func TestOutboxRefusesABadKeyFile(t *testing.T) {
	d, _ := openTemp(t)
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := d.OpenOutbox(key)
	if err == nil || err.Error() != "mail key "+key+": 5 bytes, want 32" {
		t.Errorf("OpenOutbox = %v", err)
	}
}
