package detector

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// TestEvaluateMatchesEveryRule: the breached set evaluate returns from its
// compact checks, min_orders tested inline, is the one a comparison of
// every compiled rule gives, on streams whose sums cross the thresholds
// both ways.
func TestEvaluateMatchesEveryRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 40 {
		th := func(mean float64) float64 { return mean * (0.5 + rng.Float64()) }
		rules := []Rule{
			{Name: "c1", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: MetricCount, Threshold: th(20)},
			{Name: "n5", Dimension: domain.ScopeAccount, Window: 5 * time.Minute, Metric: MetricNotional, Threshold: th(40_000)},
			{Name: "s1", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: MetricTopSymbolShare, Threshold: th(0.5), MinOrders: 5},
			{Name: "c15", Dimension: domain.ScopeAccount, Window: 15 * time.Minute, Metric: MetricCount, Threshold: th(150)},
			{Name: "z", Dimension: domain.ScopeAccount, Metric: MetricZScore, Threshold: th(1), MinOrders: 3, MinHistory: 2 * time.Minute},
			{Name: "g1", Dimension: domain.ScopeGlobal, Window: time.Minute, Metric: MetricNotional, Threshold: th(400_000)},
		}
		e, _ := newTestEngine(t, Rules{Rules: rules}, nil)
		ts := int64(1_700_000_000_000)
		for i := range 3000 {
			// Bursts and lulls, so that sums rise past and fall below the
			// thresholds.
			if i%500 < 100 {
				ts += int64(rng.IntN(300))
			} else {
				ts += int64(rng.IntN(6000))
			}
			ob := Observation{TS: ts, Notional: NotionalUnits(float64(1+rng.IntN(100)), 10+rng.Float64()*40),
				Symbol: fmt.Sprintf("S%d", rng.IntN(8)), Account: fmt.Sprintf("A%d", rng.IntN(3)), OrderID: fmt.Sprint(i)}
			e.ObserveAll(&ob, 0, false)
			for _, d := range []dim{dimAccount, dimGlobal} {
				id := ob.Account
				if d == dimGlobal {
					id = ""
				}
				k, dc := e.lookup(d, id, 0, false), &e.dims[d]
				var want uint64
				for j := range dc.rules {
					r := &dc.rules[j]
					var hit bool
					switch r.metric {
					case kindCount:
						hit = float64(k.win[r.win].count) > r.Threshold
					case kindNotional:
						hit = float64(k.win[r.win].notional) > r.thrUnits
					default:
						v, ok := e.value(k, r)
						hit = ok && v > r.Threshold
					}
					if hit {
						want |= 1 << j
					}
				}
				if got := e.evaluate(k, dc); got != want {
					t.Fatalf("round %d, order %d, %s: evaluate = %b, every rule gives %b", round, i, k.scope, got, want)
				}
			}
		}
	}
}
