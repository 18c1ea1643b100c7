// Rule evaluation: a rule's value over a key's window, which rules a key
// breaches, and the risk signal records that report it.

package detector

import (
	"github.com/riskgate/riskgate/domain"
)

// compiledRule is a Rule bound to its dimension's window index.
type compiledRule struct {
	Rule
	win       int // index into dimConfig.windows
	metric    metricKind
	thrUnits  float64
	minHistMn int64
}

// metricKind is a Metric as a small integer: every order evaluates every
// rule of its dimensions, and comparing Metric strings there costs more
// than the comparison with the threshold.
type metricKind uint8

const (
	kindCount metricKind = iota
	kindNotional
	kindTopSymbolShare
	kindZScore
	kindUnknown
)

func metricKindOf(m Metric) metricKind {
	switch m {
	case MetricCount:
		return kindCount
	case MetricNotional:
		return kindNotional
	case MetricTopSymbolShare:
		return kindTopSymbolShare
	case MetricZScore:
		return kindZScore
	}
	return kindUnknown
}

// value computes one rule's metric; ok is false when the rule's gate (min
// orders, min history) is not met.
func (e *Engine) value(k *key, r *compiledRule) (v float64, ok bool) {
	s := &k.win[r.win]
	switch r.metric {
	case kindCount:
		return float64(s.count), true
	case kindNotional:
		return float64(s.notional) / NotionalScale, true
	case kindTopSymbolShare:
		if s.count < int64(r.MinOrders) || s.count == 0 {
			return 0, false
		}
		_, c, _ := k.share[r.win].top()
		return float64(c) / float64(s.count), true
	case kindZScore:
		m := &k.mins
		if m.curCnt < int64(r.MinOrders) || m.historyLen() < r.minHistMn {
			return 0, false
		}
		n, sum, sumsq := m.history()
		return ZScore(m.curCnt, n, sum, sumsq), true
	}
	return 0, false
}

// ruleCheck is what evaluate reads of a rule: its compiledRule is over a
// hundred bytes, mostly what a breach reports, and every order evaluates
// every rule of its dimensions.
type ruleCheck struct {
	// thr is the threshold in the unit of the window's sum: orders for a
	// count, NotionalScale units for a notional, the rule's own for the
	// gated metrics.
	thr float64
	// minOrders gates top_symbol_share (the window's count) and zscore
	// (the current minute's): value's first test, made here.
	minOrders int32
	win       uint8
	metric    metricKind
}

// evaluate returns the bit set of breached rules. Counts and notionals,
// most rules, are compared here; the gated metrics go through value.
func (e *Engine) evaluate(k *key, dc *dimConfig) uint64 {
	var mask uint64
	for i := range dc.checks {
		c := &dc.checks[i]
		s := &k.win[c.win]
		var v float64
		switch c.metric {
		case kindCount:
			v = float64(s.count)
		case kindNotional:
			v = float64(s.notional)
		default:
			// Below min_orders, as most keys are most of the time, the
			// rule is not evaluated at all.
			n := s.count
			if c.metric == kindZScore {
				n = k.mins.curCnt
			}
			if n < int64(c.minOrders) {
				continue
			}
			var ok bool
			if v, ok = e.value(k, &dc.rules[i]); !ok {
				continue
			}
		}
		if v > c.thr {
			mask |= 1 << i
		}
	}
	return mask
}

// primary picks the rule that names an incident: the first KILL rule
// breached, else the first rule breached.
func primary(dc *dimConfig, mask uint64) *compiledRule {
	var first *compiledRule
	for i := range dc.rules {
		if mask&(1<<i) == 0 {
			continue
		}
		if dc.rules[i].Action == domain.ActionKill {
			return &dc.rules[i]
		}
		if first == nil {
			first = &dc.rules[i]
		}
	}
	return first
}

// maybeRisk emits the key's risk signal once per second of event time, and
// on every breach.
func (e *Engine) maybeRisk(k *key, dc *dimConfig, mask uint64, live, breach bool) {
	if !live || e.noRisk {
		return
	}
	sec := k.clock / 1000
	if !breach && sec <= k.lastRisk {
		return
	}
	k.lastRisk = sec
	w := 0
	if breach {
		w = primary(dc, mask).win
	}
	rs := &e.risk
	W := dc.windows[w]
	rs.TS = k.clock
	rs.Scope = k.scope
	rs.WindowMS = W * 1000
	rs.WindowEnd = (sec + 1) * 1000
	rs.WindowStart = rs.WindowEnd - rs.WindowMS
	rs.OrderCount = k.win[w].count
	rs.Notional = float64(k.win[w].notional) / NotionalScale
	rs.TopSymbol, rs.TopSymbolShare = "", 0
	if k.dim == dimSymbol {
		rs.TopSymbol, rs.TopSymbolShare = k.scope.ID(), 1
	} else if dc.share[w] && k.win[w].count > 0 {
		s, c, _ := k.share[w].top()
		rs.TopSymbol = e.symName[s]
		rs.TopSymbolShare = float64(c) / float64(k.win[w].count)
	}
	rs.ZScore = 0
	if m := &k.mins; m.slot != nil && m.curCnt >= dc.zMinOrders && m.historyLen() > 0 {
		n, sum, sumsq := m.history()
		rs.ZScore = ZScore(m.curCnt, n, sum, sumsq)
	}
	rs.LateOrders, rs.ClampedOrders = k.late, k.clamped
	rs.Breaches = e.breaches[:0]
	for i := range dc.rules {
		if mask&(1<<i) == 0 {
			continue
		}
		r := &dc.rules[i]
		v, _ := e.value(k, r)
		rs.Breaches = append(rs.Breaches, domain.Breach{Rule: r.Name, Metric: string(r.Metric), Value: v, Threshold: r.Threshold})
	}
	e.sink.Risk(rs)
}
