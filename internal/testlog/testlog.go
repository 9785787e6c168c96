// Package testlog is the log destination tests share: servers and workers
// write to a Buffer from their goroutines while the test reads it. It
// imports none of Natter's packages, so the tests of every package (mail's
// and db's included) can use it.
package testlog

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a log destination safe for concurrent writes and reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Wait waits until the buffer holds a line containing every one of parts,
// and returns it; after timeout it fails the test.
func (b *Buffer) Wait(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(b.String(), "\n") {
			if ContainsAll(line, parts...) {
				return line
			}
		}
		if time.Now().After(end) {
			t.Fatalf("no log line with %q within %v; log:\n%s", parts, timeout, b.String())
			return ""
		}
	}
}

// ContainsAll reports whether s contains every one of parts.
func ContainsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
