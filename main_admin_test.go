package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `natter admin NAME` through the real main: one line and status 0, or
// one line on stderr and status 1.
func TestMainAdminCommand(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "natter.db")
	run := func(stdin string, args ...string) (int, string, string) {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "NATTER_TEST_MAIN=1", "NATTER_DB="+dbPath)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), stdout.String(), stderr.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, stdout.String(), stderr.String()
	}
	for _, name := range []string{"erin", "fay"} {
		if code, _, errOut := run("lunar-otter-basket-9\n", "user", "create", name, name+"@example.com"); code != 0 {
			t.Fatalf("user create %s: %d %s", name, code, errOut)
		}
	}
	if code, out, errOut := run("", "admin", "fay"); code != 0 || out != "fay is now an admin\n" || errOut != "" {
		t.Errorf("admin fay: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := run("", "admin", "gus"); code != 1 || out != "" || errOut != "natter: no account is named gus\n" {
		t.Errorf("admin gus: %d %q %q", code, out, errOut)
	}
}
