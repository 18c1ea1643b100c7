package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
)

// TestDetectorKillsSymbolAndStrategy runs the whole stack: a concentration
// burst on AAPL spread over many accounts (none near its own limits) kills
// SYMBOL:AAPL, and a burst of one algorithm over many accounts and symbols
// kills STRATEGY:ALGO_X; the router then drops exactly those orders, with
// the kill's corr_id, while other symbols and strategies keep trading.
func TestDetectorKillsSymbolAndStrategy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	// The default rules' shape with smaller thresholds, so the bursts stay
	// small on a shared machine.
	rules := detector.Rules{Rules: []detector.Rule{
		{Name: "account_count_1m", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: detector.MetricCount, Threshold: 100, Action: domain.ActionKill},
		{Name: "account_top_symbol_share_1m", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: detector.MetricTopSymbolShare, Threshold: 0.7, MinOrders: 20, Action: domain.ActionKill},
		{Name: "symbol_count_1m", Dimension: domain.ScopeSymbol, Window: time.Minute, Metric: detector.MetricCount, Threshold: 200, Action: domain.ActionKill},
		{Name: "strategy_count_1m", Dimension: domain.ScopeStrategy, Window: time.Minute, Metric: detector.MetricCount, Threshold: 300, Action: domain.ActionKill},
		{Name: "global_count_1m", Dimension: domain.ScopeGlobal, Window: time.Minute, Metric: detector.MetricCount, Threshold: 100_000, Action: domain.ActionThrottle, MaxRatePerSecond: 1000},
	}}
	s := startStack(t, devstack.Options{Detector: detector.Config{Rules: rules}})
	reader := readTopics(t, s, domain.TopicAudit)
	cl := producer(t, s)

	send := func(orders []domain.Order) {
		t.Helper()
		var rs []*kgo.Record
		for _, o := range orders {
			rs = append(rs, detRecord(t, o))
		}
		if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(acct, sym, strat string) domain.Order {
		o := order(acct, sym)
		o.Strategy = strat
		return o
	}
	killed := func(scope domain.Scope) domain.State {
		t.Helper()
		var st domain.State
		eventually(t, 45*time.Second, scope.String()+" KILLED", func() bool {
			var ok bool
			st, ok = s.States.Get(scope)
			return ok && st.Status == domain.StatusKilled
		})
		return st
	}

	// 250 AAPL orders over 50 accounts: 5 each, far under every account rule.
	var burst []domain.Order
	for i := range 250 {
		burst = append(burst, mk(fmt.Sprint("AAPLBUYER", i%50), "AAPL", "MANUAL"))
	}
	send(burst)
	aapl := killed("SYMBOL:AAPL")

	// 350 ALGO_X orders over 70 accounts and 35 symbols (none of them AAPL).
	burst = burst[:0]
	for i := range 350 {
		burst = append(burst, mk(fmt.Sprint("ALGOACCT", i%70), fmt.Sprint("SYM", i%35), "ALGO_X"))
	}
	send(burst)
	algo := killed("STRATEGY:ALGO_X")

	cases := []struct {
		name   string
		order  domain.Order
		want   domain.Decision
		corrID string
	}{
		{"AAPL from a new account is dropped", mk("FRESH1", "AAPL", "VWAP"), domain.DecisionDrop, aapl.CorrID},
		{"ALGO_X on another symbol is dropped", mk("FRESH2", "MSFT", "ALGO_X"), domain.DecisionDrop, algo.CorrID},
		{"other symbol, other strategy trades", mk("FRESH3", "MSFT", "VWAP"), domain.DecisionAllow, ""},
		{"an AAPL buyer trades another symbol", mk("AAPLBUYER1", "GOOG", "VWAP"), domain.DecisionAllow, ""},
	}
	for _, c := range cases {
		var a domain.AuditRecord
		if c.want == domain.DecisionDrop {
			// The router applies a kill a moment after the API's table
			// shows it: orders of the scope until one is DROPped.
			a = reader.decided(t, cl, domain.DecisionDrop, func() domain.Order {
				o := c.order
				o.OrderID = domain.NewID()
				return o
			})
		} else {
			produceOrder(t, cl, c.order)
			a = reader.audit(t, c.order.OrderID)
		}
		if a.Decision != c.want || a.CorrID != c.corrID {
			t.Errorf("%s: %s corr_id %q (%s), want %s corr_id %q", c.name, a.Decision, a.CorrID, a.Reason, c.want, c.corrID)
		}
	}
	// Nothing else was killed: no account, not GLOBAL.
	for _, st := range s.States.All() {
		if st.Status != domain.StatusActive && st.Scope != "SYMBOL:AAPL" && st.Scope != "STRATEGY:ALGO_X" {
			t.Errorf("unexpected %s %s (%s)", st.Scope, st.Status, st.Reason)
		}
	}
}

// detRecord encodes an order for orders.v1.
func detRecord(t *testing.T, o domain.Order) *kgo.Record {
	t.Helper()
	r := &kgo.Record{Topic: domain.TopicOrders, Key: []byte(o.AccountID)}
	var err error
	if r.Value, err = json.Marshal(o); err != nil {
		t.Fatal(err)
	}
	return r
}
