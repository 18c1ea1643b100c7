package detector

import (
	"maps"
	"math"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

func TestNotionalUnitsSaturates(t *testing.T) {
	tests := []struct {
		name       string
		qty, price float64
		want       int64
	}{
		{"ordinary", 10, 187.5, 18_750_000},
		{"the order bounds' product fits", 1e8, 1e6, 1e18},
		{"a $1e16 fat finger saturates", 1e6, 1e10, math.MaxInt64},
		{"just past int64 saturates", 1e15, 1e3, math.MaxInt64},
		{"infinite saturates", math.Inf(1), 1, math.MaxInt64},
		{"not a number counts as the most", math.NaN(), 1, math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NotionalUnits(tc.qty, tc.price); got != tc.want {
				t.Fatalf("NotionalUnits(%v, %v) = %d, want %d", tc.qty, tc.price, got, tc.want)
			}
		})
	}
}

func notionalRule(th float64) Rules {
	return oneRule(Rule{Name: "notional", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: MetricNotional,
		Threshold: th, Action: domain.ActionKill})
}

// A fat-finger order used to wrap the window's notional to MinInt64, which
// hid a following burst for the whole window.
func TestFatFingerDoesNotHideABurst(t *testing.T) {
	for _, d := range dimTypes {
		t.Run(string(d), func(t *testing.T) {
			r := oneRule(Rule{Name: "notional", Dimension: d, Window: time.Minute, Metric: MetricNotional,
				Threshold: 1_000_000, Action: domain.ActionKill})
			e, s := newTestEngine(t, r, nil)
			fat := obs(t0, "A", "X")
			fat.Notional = NotionalUnits(1e6, 1e10) // $1e16
			e.ObserveAll(fat, 0, true)
			if len(s.breaches) != 1 {
				t.Fatalf("a $1e16 order is not a breach of a $1M rule: %d breaches", len(s.breaches))
			}
			if s.breaches[0].Value <= 1_000_000 {
				t.Fatalf("breach value %v", s.breaches[0].Value)
			}
			// $50M more in the same window: the window still reads past the
			// threshold, never negative.
			for i := range 50 {
				o := obs(t0+1000+int64(i)*10, "A", "X")
				o.Notional = NotionalUnits(1000, 1000)
				e.ObserveAll(o, 0, true)
			}
			k := e.lookup(dim(slicesIndex(d)), keyID(d, "A", "X"), 0, false)
			if k.win[0].notional != math.MaxInt64 {
				t.Fatalf("window notional %d, want it saturated at %d", k.win[0].notional, int64(math.MaxInt64))
			}
			if last := s.risks[len(s.risks)-1]; last.Notional <= 1_000_000 {
				t.Fatalf("risk signal notional %v", last.Notional)
			}
		})
	}
}

// Orders at the validation bounds (1e18 units each) overflow an int64 sum
// after ten; the window saturates, and once they leave it the sum is exact
// again.
func TestWindowNotionalSaturatesAndRecovers(t *testing.T) {
	e, s := newTestEngine(t, notionalRule(1e12), nil)
	big := NotionalUnits(1e8, 1e6)
	for i := range 30 {
		o := obs(t0+int64(i)*100, "A", "X")
		o.Notional = big
		e.ObserveAll(o, 0, true)
	}
	k := e.lookup(dimAccount, "A", 0, false)
	if k.win[0].notional != math.MaxInt64 {
		t.Fatalf("30 orders of 1e18 units: window notional %d, want saturated", k.win[0].notional)
	}
	if len(s.breaches) != 1 {
		t.Fatalf("%d breaches, want 1", len(s.breaches))
	}
	// Half a minute on, ten more: still saturated, never wrapped.
	for i := range 10 {
		o := obs(t0+30_000+int64(i)*100, "A", "X")
		o.Notional = big
		e.ObserveAll(o, 0, true)
		if k.win[0].notional != math.MaxInt64 {
			t.Fatalf("window notional %d after more orders, want saturated", k.win[0].notional)
		}
	}
	// The first thirty (seconds 0-2) leave the window; the ten of second 30
	// stay: 1e19 units still do not fit.
	o := obs(t0+62_000, "A", "X")
	e.ObserveAll(o, 0, true)
	if k.win[0].notional != math.MaxInt64 {
		t.Fatalf("window notional %d with 1e19 units left, want saturated", k.win[0].notional)
	}
	// Second 30 leaves too: only the small order is left, exactly.
	o = obs(t0+91_000, "A", "X")
	e.ObserveAll(o, 0, true)
	if want := o.Notional * 2; k.win[0].notional != want {
		t.Fatalf("window notional %d after the big orders left, want exactly %d", k.win[0].notional, want)
	}
}

func slicesIndex(d domain.ScopeType) int {
	for i, t := range dimTypes {
		if t == d {
			return i
		}
	}
	return -1
}

func keyID(d domain.ScopeType, acct, sym string) string {
	switch d {
	case domain.ScopeAccount:
		return acct
	case domain.ScopeSymbol:
		return sym
	case domain.ScopeStrategy:
		return "S1"
	}
	return ""
}

// A fat-finger order (qty 1e9 at $120), which the router BLOCKs, counts in
// the notional rules as Rules.MaxOrderNotional ($5,000,000 by default): it
// breaches its account's $1,000,000 rule, and none of its symbol's, its
// strategy's or the firm's. Counted whole ("none"), one such order killed
// all four. Orders under the cap count whole either way.
func TestFatFingerCountsAtMaxOrderNotional(t *testing.T) {
	scopes := func(s *recSink) map[domain.Scope]string {
		out := make(map[domain.Scope]string)
		for _, b := range s.breaches {
			out[b.Scope] = b.Rule
		}
		return out
	}
	fat := func(e *Engine) *Observation {
		o := obs(t0, "A", "X")
		o.Notional = e.OrderNotional(1e9, 120)
		return o
	}

	e, s := newTestEngine(t, DefaultRules(), nil)
	if got, want := e.OrderNotional(1e9, 120), int64(DefaultMaxOrderNotional*NotionalScale); got != want {
		t.Fatalf("OrderNotional of $1.2e11 = %d units, want the default cap %d", got, want)
	}
	if got, want := e.OrderNotional(10, 187.5), int64(1875*NotionalScale); got != want {
		t.Fatalf("OrderNotional of $1,875 = %d units, want %d", got, want)
	}
	e.ObserveAll(fat(e), 0, true)
	if got := scopes(s); len(got) != 1 || got["ACCOUNT:A"] != "account_notional_1m" {
		t.Fatalf("breaches %v, want only ACCOUNT:A account_notional_1m", got)
	}

	whole := DefaultRules()
	whole.MaxOrderNotional = math.Inf(1)
	e, s = newTestEngine(t, whole, nil)
	e.ObserveAll(fat(e), 0, true)
	want := map[domain.Scope]string{"ACCOUNT:A": "account_notional_1m", "SYMBOL:X": "symbol_notional_1m",
		"STRATEGY:S1": "strategy_notional_1m", "GLOBAL": "global_notional_1m"}
	if got := scopes(s); !maps.Equal(got, want) {
		t.Fatalf("counted whole: breaches %v, want %v", got, want)
	}

	// Eleven $100,000 orders: the eleventh crosses the account's rule,
	// capped or not.
	e, s = newTestEngine(t, DefaultRules(), nil)
	for i := range 11 {
		o := obs(t0+int64(i)*10, "B", "Y")
		o.Notional = e.OrderNotional(1000, 100)
		e.ObserveAll(o, 0, true)
		if n := len(s.breaches); n != i/10 {
			t.Fatalf("after order %d: %d breaches", i+1, n)
		}
	}
}
