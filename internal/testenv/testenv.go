// Package testenv decides what a test does when something it needs from
// the machine is missing (a program, root, a kernel feature): on a
// developer's machine it skips with a line saying what to install; under
// CI (CI set, as .ci/run runs) it fails, because .ci/run installs and
// starts everything the tests need, so a skip there would hide a test
// that did not run.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Missing skips t with the reason, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI must provide it: see .ci/run)")
	}
	t.Skip(msg)
}
