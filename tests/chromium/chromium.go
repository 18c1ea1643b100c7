// Package chromium runs headless Chromium for the tests that render a page
// (the dashboard, the replay's what-if page): one place for where the
// browser is, the flags that keep it quiet on a CI machine, and where
// screenshots are kept.
package chromium

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path is where `make browser` installs Debian's chromium.
const Path = "/usr/bin/chromium"

// Require skips the test when Chromium is not installed or in -short mode;
// call it before the test builds what the browser will look at.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Skipf("no Chromium at %s (make browser installs it): %v", Path, err)
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
}

// Start launches headless Chromium with a window of width × height and
// returns the context of its first tab and the function that closes the
// browser (defer it: closing before the test's servers lets them shut down
// with no page still connected).
func Start(ctx context.Context, width, height int) (context.Context, context.CancelFunc) {
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(Path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(width, height),
	)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	return bctx, func() {
		cancelBrowser()
		cancelAlloc()
	}
}

// Screenshot saves the whole page as a PNG at path.
func Screenshot(path string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		return os.WriteFile(path, buf, 0o644)
	})
}

// ArtifactsDir is the folder kept after the run for one test's
// screenshots: $ARTIFACTS_DIR/name, else artifacts/name at the root of the
// repository (the tests calling it sit one folder below it).
func ArtifactsDir(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
