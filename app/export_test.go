package app

// What the external tests (package app_test, which start servers with
// apptest) need from inside.

const MaxConnsPerAddr = maxConnsPerAddr

var (
	NewLimitListener = newLimitListener
	ConnsUnder       = connsUnder
	AddrKey          = addrKey
)
