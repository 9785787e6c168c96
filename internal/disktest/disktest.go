// Package disktest makes the disk faults that tests of the database and of
// the whole server need: a disk that fills up, a file that cannot be
// written. Both need root; without it the test is skipped (it fails
// under CI, which runs as root).
package disktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"natter/internal/testenv"
)

// Small mounts a fresh 2 MB tmpfs and returns its folder; it is unmounted
// when the test ends.
func Small(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to mount a 2 MB tmpfs (a full disk)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// Fill writes a file into dir until the disk is full, and returns a
// function that deletes it again.
func Fill(t testing.TB, dir string) (free func()) {
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

// Immutable makes path read-only even for root (chattr +i; root ignores
// chmod), until the returned function or the end of the test undoes it.
func Immutable(t testing.TB, path string) (undo func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to make a file read-only for this process (chattr +i)")
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		testenv.Missing(t, "chattr +i: %v %s", err, out)
	}
	undo = func() { exec.Command("chattr", "-i", path).Run() }
	t.Cleanup(undo)
	return undo
}
