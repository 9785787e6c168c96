package app

import "time"

// What the external tests (package app_test, which start servers with
// apptest) need from inside.

const MaxConnsPerAddr = maxConnsPerAddr

var (
	NewLimitListener = newLimitListener
	ConnsUnder       = connsUnder
	AddrKey          = addrKey
)

// SetUnusedLease changes how long a node keeps the lease of a room it
// does not have, until the test ends.
func SetUnusedLease(t interface{ Cleanup(func()) }, d time.Duration) {
	old := unusedLease
	unusedLease = d
	t.Cleanup(func() { unusedLease = old })
}
