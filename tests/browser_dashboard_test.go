package tests

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/tests/chromium"
	"github.com/riskgate/riskgate/workflows"
)

// TestBrowserDashboard drives the dashboard in headless Chromium against an
// API fed from Kafka (kfake) through the real kill-state follower and audit
// indexer, with a fake Temporal that publishes states to Kafka as the
// workflow would: log in, watch a kill appear live, unkill it with a reason,
// watch it turn ACTIVE; a reason carrying markup is shown as text.
func TestBrowserDashboard(t *testing.T) {
	chromium.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	kcfg, cl := kfakeCluster(t)
	publish := func(st domain.State) {
		b, err := json.Marshal(st)
		if err != nil {
			t.Error(err)
			return
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicState, Key: []byte(st.Scope), Value: b}).FirstErr(); err != nil {
			t.Errorf("publish state: %v", err)
		}
	}

	table := killstate.NewTable(nil)
	follower := killstate.NewFollower(kcfg, table, quiet)
	db, err := index.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	indexer, err := index.NewIndexer(index.IndexerConfig{Kafka: kcfg, Index: db, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopRun(); wg.Wait() }()
	wg.Go(func() { _ = follower.Run(runCtx) })
	wg.Go(func() { _ = indexer.Run(runCtx) })

	ctl := newFakeControl()
	ctl.publish = publish
	token := api.NewToken()
	toks, err := api.NewTokens([]api.TokenEntry{{Name: "olga", Role: api.RoleOperator, SHA256: api.HashToken(token)}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Control: ctl, States: table, StateReady: follower.Ready, Tokens: toks, Index: db, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	bctx, closeBrowser := chromium.Start(ctx, 1400, 1100)
	defer closeBrowser()

	dir := chromium.ArtifactsDir(t, "browser")
	shot := func(name string) chromedp.Action[chromedp.Void] { return chromium.Screenshot(filepath.Join(dir, name)) }
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}

	const scope = "ACCOUNT:12345"
	row := `tr[data-scope="` + scope + `"]`
	evil := `order count 120 > 100 <script>window.__xss=1</script><img src=x onerror="window.__xss=2">`

	// 1. Log in.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(css("#login-form")),
		shot("01-login.png"),
		chromedp.SendKeys(css("#token"), token),
		chromedp.Click(css("#login-btn")),
		chromedp.WaitVisible(css("#app")),
		chromedp.WaitVisible(css("#conn.on")),
	); err != nil {
		t.Fatalf("log in: %v", err)
	}
	if who := text("#who"); !strings.Contains(who, "olga") {
		t.Fatalf("logged-in identity %q", who)
	}

	// 2. A panic kill arrives on the state topic, as the workflow publishes
	// it, with drops in the audit; the page must show it without a reload.
	killed := domain.State{Scope: scope, Status: domain.StatusKilled, Version: 100, UpdatedTS: time.Now().UnixMilli(),
		UpdatedBy: "detector", Reason: evil, CorrID: "corr-panic", Trigger: domain.TriggerDetector,
		CooldownUntil: time.Now().Add(5 * time.Minute).UnixMilli(), WorkflowID: domain.Scope(scope).WorkflowID()}
	ctl.mu.Lock()
	ctl.states[scope] = killed
	ctl.version = killed.Version
	ctl.history[scope] = []workflows.Transition{{TS: killed.UpdatedTS, From: domain.StatusActive, To: domain.StatusKilled,
		Action: domain.ActionKill, Trigger: domain.TriggerDetector, Reason: evil, Version: killed.Version}}
	ctl.mu.Unlock()
	publish(killed)
	for i := range 5 {
		produceJSON(t, cl, domain.TopicAudit, "drop", domain.AuditRecord{TS: time.Now().UnixMilli(), Decision: domain.DecisionDrop,
			OrderID: "panic-" + string(rune('a'+i)), AccountID: "12345", Symbol: "ACME", Strategy: "momo",
			KillswitchStatus: domain.StatusKilled, Reason: scope + " KILLED", CorrID: "corr-panic", Service: "router"})
	}
	for i := range 12 {
		ts := time.Now().Add(time.Duration(i-12) * 10 * time.Second).UnixMilli()
		for j, sc := range []domain.Scope{scope, "SYMBOL:ACME"} {
			sig := domain.RiskSignal{TS: ts, Scope: sc, WindowMS: 60_000, OrderCount: int64(10*i/(j+1) + 5)}
			if sc == scope && i == 11 {
				sig.Breaches = []domain.Breach{{Rule: "orders_1m", Metric: "order_count", Value: 115, Threshold: 100}}
			}
			produceJSON(t, cl, domain.TopicRiskSignals, string(sc), sig)
		}
	}
	if err := chromedp.Do(bctx,
		chromedp.WaitVisible(css(row+` span.badge.KILLED`)),
		chromedp.WaitVisible(css(`#signals .sig`)),
		chromedp.WaitVisible(css(`#drops tbody tr`)),
		shot("02-killed-live.png"),
	); err != nil {
		t.Fatalf("killed scope did not appear live: %v", err)
	}

	// 3. The markup in the reason is text: no script ran, no element was made.
	reasonText := text(row + ` td.reason`)
	injected, err := chromedp.Run(bctx, chromedp.Evaluate[bool](
		`window.__xss !== undefined || document.querySelectorAll("#scopes script, #scopes img").length > 0`))
	if err != nil {
		t.Fatal(err)
	}
	if reasonText != evil {
		t.Errorf("reason shown as %q, want the raw text %q", reasonText, evil)
	}
	if injected {
		t.Error("markup from a reason was interpreted by the page")
	}

	// 4. Unkill from the row's button, with a reason; the scope turns ACTIVE.
	const why = "false positive, desk confirmed <b>flat</b>"
	if err := chromedp.Do(bctx,
		chromedp.Click(css(row+` button[data-action="unkill"]`)),
		chromedp.SendKeys(css("#act-reason"), why),
		shot("03-unkill-form.png"),
		chromedp.Click(css("#act-submit")),
		chromedp.WaitVisible(css(row+` span.badge.ACTIVE`)),
		shot("04-active.png"),
	); err != nil {
		t.Fatalf("unkill from the dashboard: %v", err)
	}
	if result := text("#act-result"); !strings.Contains(result, "ACTIVE") {
		t.Errorf("action result %q", result)
	}
	calls := ctl.calls()
	if len(calls) != 1 || calls[0].Update != workflows.UpdateUnkill || calls[0].Req.Operator != "olga" || calls[0].Req.Reason != why {
		t.Fatalf("Temporal calls %+v; want one unkill by olga with the typed reason", calls)
	}

	// 5. An error from the API is shown: unkilling the now ACTIVE scope is a 409.
	if err := chromedp.Do(bctx,
		chromedp.SetValue(css("#act-scope"), scope),
		chromedp.SetValue(css("#act-action"), "unkill"),
		chromedp.SendKeys(css("#act-reason"), "again"),
		chromedp.Click(css("#act-submit")),
		chromedp.WaitVisible(css("#act-result.error")),
		shot("05-error.png"),
	); err != nil {
		t.Fatalf("error display: %v", err)
	}
	if result := text("#act-result"); !strings.Contains(result, "nothing to unkill") {
		t.Errorf("error shown as %q", result)
	}
	t.Logf("screenshots in %s", dir)
}
