package db

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smallDisk mounts a fresh 2 MB tmpfs and returns its folder; it is
// unmounted when the test ends. Mounting needs root.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a 2 MB tmpfs (a full disk)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk writes a file into dir until the disk is full, and returns a
// function that deletes it again.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// immutable makes path read-only even for root (chattr +i), until the
// returned function or the end of the test undoes it.
func immutable(t *testing.T, path string) (undo func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file immutable (chattr +i); root ignores chmod")
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v %s", err, out)
	}
	undo = func() { exec.Command("chattr", "-i", path).Run() }
	t.Cleanup(undo)
	return undo
}

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
		immutable(t, path)
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
		path := filepath.Join(smallDisk(t), "natter.db")
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		fillDisk(t, filepath.Dir(path))
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
		path := filepath.Join(smallDisk(t), "natter.db")
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		free := fillDisk(t, filepath.Dir(path))
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
		writable := immutable(t, path)
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
