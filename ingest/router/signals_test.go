package router

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// steppedClock is a router clock that moves only when told, so a test
// decides which second each order is decided in.
type steppedClock struct{ ns atomic.Int64 }

func (c *steppedClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *steppedClock) add(d time.Duration) { c.ns.Add(int64(d)) }

func riskSignals(t *testing.T, recs []*kgo.Record) []domain.RiskSignal {
	t.Helper()
	out := make([]domain.RiskSignal, 0, len(recs))
	for _, r := range recs {
		var rs domain.RiskSignal
		if err := json.Unmarshal(r.Value, &rs); err != nil {
			t.Fatalf("risk signal %s: %v", r.Value, err)
		}
		if string(r.Key) != string(rs.Scope) {
			t.Errorf("risk signal key %q, scope %q", r.Key, rs.Scope)
		}
		out = append(out, rs)
	}
	return out
}

// TestRouterBreachRecords sends two accounts' bursts past their max_orders
// in one second, then more in the next: each scope gets one committed
// limit-breach record per second, however many orders it had BLOCKed, and
// one more for the BLOCK that makes EscalationBlocks; each record counts
// the scope's BLOCKs of the last minute.
func TestRouterBreachRecords(t *testing.T) {
	kc := newCluster(t)
	lc := limits.Default()
	lc.Defaults.Account.MaxOrders = 10
	clk := &steppedClock{}
	clk.ns.Store(time.Now().Truncate(time.Second).Add(100 * time.Millisecond).UnixNano())
	startRouter(t, Config{Kafka: kc, Limits: &lc, InstanceID: "r1", Clock: clk.now})

	n := 0
	burst := func(acct string, k int) {
		recs := make([]*kgo.Record, 0, k)
		for range k {
			o := newOrder(fmt.Sprintf("o%04d", n), acct, "AAPL")
			o.TS = clk.now().UnixMilli()
			recs = append(recs, orderRecord(t, o))
			n++
		}
		produce(t, kc, recs...)
	}
	first := clk.now().Unix()
	burst("ACC1", 25) // 10 ALLOW, 15 BLOCK
	burst("ACC2", 30) // 10 ALLOW, 20 BLOCK
	consumeN(t, kc, domain.TopicAudit, 55)
	clk.add(time.Second)
	burst("ACC1", 7) // all BLOCKed: the window still holds 10
	consumeN(t, kc, domain.TopicAudit, 62)

	got := riskSignals(t, consumeN(t, kc, domain.TopicRiskSignals, 5))
	if len(got) != 5 {
		t.Fatalf("%d risk signals, want 5", len(got))
	}
	perSec := map[string]int{}
	blocks := map[string][]int64{}
	for _, rs := range got {
		perSec[fmt.Sprintf("%s@%d", rs.Scope, rs.TS/1000-first)]++
		blocks[string(rs.Scope)] = append(blocks[string(rs.Scope)], rs.Blocks)
		if rs.BlocksWindowMS != 60_000 {
			t.Errorf("%s: blocks window %d ms, want 60000", rs.Scope, rs.BlocksWindowMS)
		}
		if len(rs.Breaches) != 1 {
			t.Fatalf("%s: breaches %+v", rs.Scope, rs.Breaches)
		}
		b := rs.Breaches[0]
		if b.Rule != "limit:max_orders" || b.Metric != "max_orders" || b.Value != 11 || b.Threshold != 10 {
			t.Errorf("%s: breach %+v, want limit:max_orders value 11 threshold 10", rs.Scope, b)
		}
		if rs.WindowMS != 60_000 || rs.WindowEnd != rs.TS || rs.WindowStart != rs.TS-60_000 || rs.OrderCount != 11 {
			t.Errorf("%s: window %d [%d, %d] orders %d", rs.Scope, rs.WindowMS, rs.WindowStart, rs.WindowEnd, rs.OrderCount)
		}
	}
	if fmt.Sprint(blocks["ACCOUNT:ACC1"]) != "[1 10 16]" || fmt.Sprint(blocks["ACCOUNT:ACC2"]) != "[1 10]" {
		t.Errorf("blocks per record %v, want ACC1 [1 10 16] and ACC2 [1 10]", blocks)
	}
	want := map[string]int{"ACCOUNT:ACC1@0": 2, "ACCOUNT:ACC2@0": 2, "ACCOUNT:ACC1@1": 1}
	for k, c := range want {
		if perSec[k] != c {
			t.Errorf("records per scope and second %v, want %v", perSec, want)
			break
		}
	}
}

// TestRouterCreditWarnings allows orders of $1,000 against a $10,000
// credit_limit: the 5th, 8th and 9th take the credit used to 50, 75 and
// 90 %, and each writes one committed warning.
func TestRouterCreditWarnings(t *testing.T) {
	kc := newCluster(t)
	lc := limits.Default()
	lc.Defaults.Account.CreditLimit = 10_000
	startRouter(t, Config{Kafka: kc, Limits: &lc, InstanceID: "r1"})

	recs := make([]*kgo.Record, 0, 10)
	for i := range 10 {
		recs = append(recs, orderRecord(t, newOrder(fmt.Sprintf("c%02d", i), "ACC9", "AAPL"))) // 10 × $100
	}
	produce(t, kc, recs...)
	as := audits(t, consumeN(t, kc, domain.TopicAudit, 10))
	for id, a := range as {
		if a[0].Decision != domain.DecisionAllow {
			t.Fatalf("%s: %s (%s), want ALLOW", id, a[0].Decision, a[0].Limit)
		}
	}

	got := riskSignals(t, consumeN(t, kc, domain.TopicRiskSignals, 3))
	if len(got) != 3 {
		t.Fatalf("%d risk signals, want 3", len(got))
	}
	want := []domain.Breach{
		{Rule: "credit_warning_50", Metric: "credit_used", Value: 5_000, Threshold: 5_000},
		{Rule: "credit_warning_75", Metric: "credit_used", Value: 8_000, Threshold: 7_500},
		{Rule: "credit_warning_90", Metric: "credit_used", Value: 9_000, Threshold: 9_000},
	}
	for i, rs := range got {
		if rs.Scope != "ACCOUNT:ACC9" || len(rs.Breaches) != 1 || rs.Breaches[0] != want[i] {
			t.Errorf("warning %d: %s %+v, want %+v", i, rs.Scope, rs.Breaches, want[i])
		}
	}
}
