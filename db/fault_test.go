package db

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"natter/internal/disktest"
)

// reopenConnections closes the idle pooled connections, as the pool does
// when they idle out, so the next ones open the file afresh.
func reopenConnections(d *DB) {
	d.SQL.SetMaxIdleConns(0)
	d.SQL.SetMaxIdleConns(poolSize)
}

func TestOpenRefusesUnwritableDatabase(t *testing.T) {
	ctx := context.Background()
	t.Run("read-only file", func(t *testing.T) {
		d, path := openTemp(t)
		d.Close()
		disktest.Immutable(t, path)
		d, err := Open(ctx, path)
		if err == nil {
			d.Close()
			t.Fatal("Open succeeded on a read-only file")
		}
		want := "database " + path + " cannot be written: attempt to write a readonly database (8); check the free space and the permissions of the file, its folder and its -wal and -shm files"
		if err.Error() != want {
			t.Errorf("error = %q\nwant    %q", err, want)
		}
	})
	t.Run("full disk", func(t *testing.T) {
		path := filepath.Join(disktest.Small(t), "natter.db")
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		disktest.Fill(t, filepath.Dir(path))
		d, err = Open(ctx, path)
		if err == nil {
			d.Close()
			t.Fatal("Open succeeded on a full disk")
		}
		// Which write fails first depends on SQLite: here it is sizing the
		// shared-memory file that WAL mode needs even to read.
		if !strings.HasPrefix(err.Error(), "database "+path+" cannot be written: ") || !strings.HasSuffix(err.Error(), "; check the free space and the permissions of the file, its folder and its -wal and -shm files") {
			t.Errorf("error = %q", err)
		}
	})
}

// TestWriteFaultRecovers checks that writes work again by themselves once
// space or permission returns, without a restart.
func TestWriteFaultRecovers(t *testing.T) {
	ctx := context.Background()
	t.Run("full disk", func(t *testing.T) {
		path := filepath.Join(disktest.Small(t), "natter.db")
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		free := disktest.Fill(t, filepath.Dir(path))
		_, err = d.CreateUser(ctx, "alice", "alice@example.com", "hash")
		if !d.WriteFault(err) {
			t.Fatalf("CreateUser on a full disk: %v, want a write fault", err)
		}
		if err := d.CheckWrite(ctx); err == nil || err.Error() != "database or disk is full (13)" {
			t.Errorf("CheckWrite on a full disk: %v", err)
		}
		free()
		if err := d.CheckWrite(ctx); err != nil {
			t.Errorf("CheckWrite after freeing space: %v", err)
		}
		if _, err := d.CreateUser(ctx, "alice", "alice@example.com", "hash"); err != nil {
			t.Errorf("CreateUser after freeing space: %v", err)
		}
	})
	t.Run("read-only file", func(t *testing.T) {
		d, path := openTemp(t)
		writable := disktest.Immutable(t, path)
		// Connections opened now open the file read-only, and SQLite keeps
		// them so.
		reopenConnections(d)
		_, err := d.CreateUser(ctx, "alice", "alice@example.com", "hash")
		if !d.WriteFault(err) || err.Error() != "attempt to write a readonly database (8)" {
			t.Fatalf("CreateUser on a read-only file: %v, want a write fault", err)
		}
		// A read opens another connection while the file is read-only.
		if _, err := d.UserByLogin(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		writable()
		if err := d.CheckWrite(ctx); err != nil {
			// The write that failed dropped the stale connection; the check
			// may meet the one the read opened, and drops it in turn.
			if err := d.CheckWrite(ctx); err != nil {
				t.Fatalf("CheckWrite twice after the file became writable: %v", err)
			}
		}
		if _, err := d.CreateUser(ctx, "alice", "alice@example.com", "hash"); err != nil {
			t.Errorf("CreateUser after the file became writable: %v", err)
		}
	})
}

func TestWriteFaultIgnoresOtherErrors(t *testing.T) {
	d, _ := openTemp(t)
	ctx := context.Background()
	if _, err := d.CreateUser(ctx, "alice", "alice@example.com", "hash"); err != nil {
		t.Fatal(err)
	}
	_, err := d.CreateUser(ctx, "alice", "other@example.com", "hash")
	if err == nil || d.WriteFault(err) {
		t.Errorf("a taken user name (%v) counted as a write fault", err)
	}
	if d.WriteFault(errors.New("anything")) || d.WriteFault(nil) {
		t.Error("a plain error counted as a write fault")
	}
}
