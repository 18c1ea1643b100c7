package replay

import (
	"fmt"
	"testing"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// TestCandidateLimits replays a runaway account against candidate limits,
// with no rules firing: the router's limit check BLOCKs the order that
// crosses the account's window cap and every later one in the window, and
// the report names the limit, the order and the blocked notional.
func TestCandidateLimits(t *testing.T) {
	lc := limits.Default()
	lc.Defaults.Account.MaxOrders = 25
	pt, err := NewLimits(lc)
	if err != nil {
		t.Fatal(err)
	}
	var flow []domain.Order
	for i := range 40 {
		flow = append(flow, domain.Order{OrderID: fmt.Sprint("lim-", i+1), TS: t0 + int64(i)*100, AccountID: "L1",
			Symbol: "LSYM", Side: domain.Buy, Qty: 10, Price: 100, Strategy: "MANUAL", Type: domain.OrderNew})
	}
	// Rules no flow reaches, so what happens is the limits' alone.
	res := replayBytes(t, Config{Rules: parseRules(t, "quiet", quietRules), PreTrade: pt}, jsonl(t, flow), 0)
	s := byScope(t, res, "ACCOUNT:L1")
	b := s.Candidate.FirstBreach
	if b == nil || b.Source != "limit" || b.Rule != "ACCOUNT:L1 max_orders=25/60s" || b.OrderID != "lim-26" {
		t.Fatalf("first breach %+v, want the max_orders limit on lim-26", b)
	}
	if s.Candidate.Blocked != 15 || s.Candidate.BlockedNotional != 15_000 {
		t.Errorf("blocked %d orders, $%v; want 15, $15000", s.Candidate.Blocked, s.Candidate.BlockedNotional)
	}
	if !res.Limits {
		t.Error("the result does not say limits were replayed")
	}
}

// quietRules: one rule no test flow reaches.
const quietRules = `
rules:
  - name: account_count_1m
    dimension: ACCOUNT
    window: 1m
    metric: count
    threshold: 100000
    action: KILL
`
