package tests

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/tests/chromium"
	"github.com/riskgate/riskgate/workflows"
)

// TestBrowserLimits drives the dashboard's limits panels in headless
// Chromium against the embedded stack — real Temporal, the real Limits
// workflow, the real indexer — with an operator and two admins besides the
// dev token: the usage panel colours each hot scope at the 50 / 75 / 90 %
// warnings, an admin's change beyond the ceilings waits, and a second admin
// approves it from the page. BLOCKs show beside DROPs.
func TestBrowserLimits(t *testing.T) {
	chromium.Require(t)
	toks := map[string]string{"olga": api.NewToken(), "ada": api.NewToken(), "adam": api.NewToken()}
	s := startStack(t, devstack.Options{Tokens: []api.TokenEntry{
		{Name: "olga", Role: api.RoleOperator, SHA256: api.HashToken(toks["olga"])},
		{Name: "ada", Role: api.RoleAdmin, SHA256: api.HashToken(toks["ada"])},
		{Name: "adam", Role: api.RoleAdmin, SHA256: api.HashToken(toks["adam"])},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Traffic as the detector and the router report it: A1 at 80 of its
	// 100 orders and 92 % of its credit, A2 at 55 of an override of 100
	// (set below, from 200), SYMBOL:ACME quiet; one DROP and one BLOCK.
	cl, err := s.KafkaConfig("browser-limits").NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().UnixMilli()
	produce := func(topic, key string, v any) {
		b, _ := json.Marshal(v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, sig := range []domain.RiskSignal{
		{TS: now, Scope: "ACCOUNT:A1", WindowMS: 60_000, OrderCount: 80, Notional: 200_000},
		{TS: now, Scope: "ACCOUNT:A1", Notional: 23e6, Breaches: []domain.Breach{{Rule: "credit_warning_90", Metric: "credit_used", Value: 23e6, Threshold: 22.5e6}}},
		{TS: now, Scope: "ACCOUNT:A2", WindowMS: 60_000, OrderCount: 55, Notional: 10_000},
		{TS: now, Scope: "SYMBOL:ACME", WindowMS: 60_000, OrderCount: 30, Notional: 1_000},
	} {
		produce(domain.TopicRiskSignals, string(sig.Scope), sig)
	}
	produce(domain.TopicAudit, "d1", domain.AuditRecord{TS: now, Decision: domain.DecisionDrop, OrderID: "d1", AccountID: "K1",
		Symbol: "ACME", Strategy: "s", KillswitchStatus: domain.StatusKilled, Reason: "ACCOUNT:K1 KILLED", CorrID: "c", Service: "router"})
	produce(domain.TopicAudit, "b1", domain.AuditRecord{TS: now + 1, Decision: domain.DecisionBlock, OrderID: "b1", AccountID: "A1",
		Symbol: "ACME", Strategy: "s", KillswitchStatus: domain.StatusActive, Limit: "ACCOUNT:A1 max_orders=100/60s", Service: "router"})

	call := func(method, path, who string, body any) (int, []byte) {
		t.Helper()
		code, _, b := httpDo(t, method, s.APIURL+path, toks[who], body)
		return code, b
	}
	if code, b := call("PUT", "/v1/limits/ACCOUNT:A2", "olga", map[string]any{"limits": map[string]any{"max_orders": 110}, "reason": "desk cut"}); code != 200 {
		t.Fatalf("set A2: %d %s", code, b)
	}
	if code, b := call("PUT", "/v1/limits/ACCOUNT:A3", "ada", map[string]any{"limits": map[string]any{"max_orders": 5000}, "reason": "index rebalance"}); code != 202 {
		t.Fatalf("request beyond the ceiling: %d %s", code, b)
	}
	eventually(t, 30*time.Second, "A3's pending change in GET /v1/limits (Temporal visibility)", func() bool {
		_, b := call("GET", "/v1/limits", "olga", nil)
		return strings.Contains(string(b), `"state":"PENDING_APPROVAL"`)
	})

	bctx, closeBrowser := chromium.Start(ctx, 1400, 1400)
	defer closeBrowser()
	dir := chromium.ArtifactsDir(t, "browser")
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromium.Screenshot(filepath.Join(dir, "limits-"+name))
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	attr := func(sel, name string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).getAttribute(`+jsString(name)+`) || ""`))
		if err != nil {
			t.Fatalf("%s[%s]: %v", sel, name, err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}

	// 1. The second admin logs in: usage bars coloured by warning level,
	// the pending change with its Approve button, BLOCK beside DROP.
	a1, a2, acme := `#usage tr[data-scope="ACCOUNT:A1"]`, `#usage tr[data-scope="ACCOUNT:A2"]`, `#usage tr[data-scope="SYMBOL:ACME"]`
	pend := `#limits tr[data-scope="ACCOUNT:A3"]`
	if err := chromedp.Do(bctx,
		chromedp.Navigate(s.APIURL+"/"),
		chromedp.WaitVisible(css("#login-form")),
		chromedp.SendKeys(css("#token"), toks["adam"]),
		chromedp.Click(css("#login-btn")),
		chromedp.WaitVisible(css("#app")),
		chromedp.WaitVisible(css(a1+` td.credit .bar`)),
		chromedp.WaitVisible(css(a2+` td.orders .bar`)),
		chromedp.WaitVisible(css(pend+` button.approve`)),
		chromedp.WaitVisible(css(`#drops tr.BLOCK`)),
		chromedp.WaitVisible(css(`#drops tr.DROP`)),
		chromedp.ScrollIntoView(css("#usage-panel")),
		shot("01-usage-and-pending.png"),
	); err != nil {
		t.Fatalf("limits panels: %v", err)
	}
	for _, c := range []struct{ sel, want string }{
		{a1 + ` td.orders .bar`, "75"},  // 80 of 100
		{a1 + ` td.credit .bar`, "90"},  // 23M of 25M
		{a2 + ` td.orders .bar`, "50"},  // 55 of its override 110
		{acme + ` td.orders .bar`, "0"}, // 30 of 1000
	} {
		if got := attr(c.sel, "data-level"); got != c.want {
			t.Errorf("%s coloured at level %q, want %q", c.sel, got, c.want)
		}
	}
	if got := text(a2 + ` td.state`); got != "overridden" {
		t.Errorf("A2's limits shown as %q, want overridden", got)
	}
	if got := text(a1 + ` td.orders .figure`); got != "80 / 100 (80 %)" {
		t.Errorf("A1's window usage reads %q", got)
	}
	if got := text(`#drops tr.BLOCK td:last-child`); got != "ACCOUNT:A1 max_orders=100/60s" {
		t.Errorf("the BLOCK names %q, want its limit", got)
	}
	if p := text(pend + ` td.pending`); !strings.Contains(p, "max_orders=5000 by ada") || !strings.Contains(p, "ceiling") {
		t.Errorf("pending change reads %q", p)
	}

	// 2. Approve without a reason: refused on the page, nothing sent.
	if err := chromedp.Do(bctx,
		chromedp.Click(css(pend+` button.approve`)),
		chromedp.WaitVisible(css(`#limits-result.error`)),
	); err != nil {
		t.Fatal(err)
	}
	// 3. With a reason: approved by the second admin, the change applies.
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(css(pend+` input.decision-reason`), "checked with the desk"),
		chromedp.Click(css(pend+` button.approve`)),
		chromedp.WaitVisible(css(`#limits-result.ok`)),
		shot("02-approved.png"),
	); err != nil {
		t.Fatalf("approve from the page: %v", err)
	}
	if got := text("#limits-result"); !strings.Contains(got, "Approved: ACCOUNT:A3 is OVERRIDDEN") {
		t.Errorf("approval result %q", got)
	}
	code, b := call("GET", "/v1/limits/ACCOUNT:A3", "olga", nil)
	var v workflows.LimitsView
	if err := json.Unmarshal(b, &v); code != 200 || err != nil {
		t.Fatalf("GET A3: %d %s", code, b)
	}
	if v.Pending != nil || v.Limits.MaxOrders == nil || *v.Limits.MaxOrders != 5000 || v.ApprovedBy != "adam" {
		t.Fatalf("A3 after the approval: %s", b)
	}
	eventually(t, 30*time.Second, "the approved row without its Approve button", func() bool {
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(pend+` button.approve`)+`).length`))
		return err == nil && n == 0
	})
	if err := chromedp.Do(bctx, shot("03-after-approval.png")); err != nil {
		t.Fatal(err)
	}
	if got := text(pend + ` td.overrides`); got != "max_orders=5000 (approved by adam)" {
		t.Errorf("A3's overrides read %q", got)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
