package e2e

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"natter/internal/pgtest"
)

// chromiumPath is where Debian's chromium package puts the browser. The
// suite never downloads a browser.
const chromiumPath = "/usr/bin/chromium"

// browser is the one Chromium process the whole suite shares; every user
// gets a browser context of their own in it (separate cookies and storage).
type browser struct {
	ctx     context.Context // has the running browser
	cancel  func()          // stops the browser
	dataDir string
	err     error
}

var (
	sharedOnce    sync.Once
	sharedBrowser browser
)

// TestMain stops the shared browser after the last test, and the
// PostgreSQL pgtest started, if it started one.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	sharedBrowser.close()
	os.Exit(code)
}

// needBrowser returns the running browser, starting it on first use. With no
// Chromium installed the test skips, or fails under CI.
func needBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		const msg = "e2e: Chromium not found at " + chromiumPath + "; install it with `apt-get install -y chromium` to run the browser suite"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	sharedOnce.Do(func() { sharedBrowser = startBrowser() })
	if sharedBrowser.err != nil {
		t.Fatalf("e2e: cannot start %s: %v", chromiumPath, sharedBrowser.err)
	}
	return sharedBrowser.ctx
}

func startBrowser() browser {
	dir, err := os.MkdirTemp("", "natter-e2e-chromium-")
	if err != nil {
		return browser{err: err}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		// Every user's tab counts as visible: no timer or renderer throttling.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b := browser{ctx: ctx, dataDir: dir, cancel: func() { cancelCtx(); cancelAlloc() }}
	// The first Run starts the browser; it must not carry a timeout, so a
	// watchdog bounds it instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case b.err = <-started:
	case <-time.After(60 * time.Second):
		b.err = errors.New("the browser did not start within 60s")
	}
	if b.err != nil {
		b.close()
	}
	return b
}

func (b *browser) close() {
	if b.cancel != nil {
		b.cancel()
		b.cancel = nil
	}
	if b.dataDir != "" {
		// Chromium's helpers can write for a moment after it stops.
		for range 50 {
			if err := os.RemoveAll(b.dataDir); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.dataDir = ""
	}
}
