package replay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/riskgate/riskgate/tests/chromium"
)

// TestHTMLInChromium renders the what-if page (tighter rules against the
// recorded flow) in headless Chromium: the timeline draws actual and
// candidate kills per scope, the table marks the new kill and the earlier
// one, and a screenshot is kept as an artifact.
func TestHTMLInChromium(t *testing.T) {
	chromium.Require(t)
	kc, cl := cluster(t)
	recordBaseline(t, cl)
	res := replayTopics(t, kc, tightRules)
	res.Source = "orders.v1"
	dir := t.TempDir()
	if err := res.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"replay.csv", "replay.html"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Fatalf("%s not written: %v", name, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx, closeBrowser := chromium.Start(ctx, 1300, 900)
	defer closeBrowser()

	shot := filepath.Join(chromium.ArtifactsDir(t, "replay"), "replay-what-if.png")
	if err := chromedp.Do(bctx,
		chromedp.Navigate("file://"+filepath.Join(dir, "replay.html")),
		chromedp.WaitVisible(chromedp.CSS("#scopes")),
		chromium.Screenshot(shot),
	); err != nil {
		t.Fatalf("render replay.html: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll(`+"`"+sel+"`"+`).length`))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	if got := text(`tr[data-scope="ACCOUNT:Q1"] td.diff-new`); got != "new" {
		t.Errorf("ACCOUNT:Q1 difference shown as %q, want new", got)
	}
	if got := text(`tr[data-scope="ACCOUNT:R1"] td.diff-earlier`); got != "earlier by 400ms" {
		t.Errorf("ACCOUNT:R1 difference shown as %q", got)
	}
	if n := count(`rect.candidate.KILLED`); n != 3 {
		t.Errorf("%d candidate kills drawn, want 3", n)
	}
	if n := count(`rect.actual.KILLED`); n != 3 {
		t.Errorf("%d actual kills drawn, want 3", n)
	}
	if got := text("#candidate-kills"); got != "3" {
		t.Errorf("candidate kills card %q", got)
	}
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 20_000 {
		t.Fatalf("screenshot %s: %v (%d bytes): the page looks empty", shot, err, st.Size())
	}
	t.Logf("screenshot %s (%d bytes)", shot, st.Size())
}
