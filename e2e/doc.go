// Package e2e is Natter's browser end-to-end suite: it starts the real
// server in-process (app.New and Serve, a temp SQLite file, a real SMTP
// server on loopback) and drives Debian's headless Chromium through
// chromedp, each user in an isolated browser context with its own cookies.
//
// Run it with `go test ./e2e/`. Without /usr/bin/chromium the tests skip
// with one line saying how to install it, except when $CI is set, where a
// missing browser fails the suite. Screenshots of every page, at phone and
// desktop width in both color schemes, go to $NATTER_SCREENSHOTS or a new
// temp folder whose path the test logs.
package e2e
