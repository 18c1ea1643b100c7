package router

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// The router tells operators and the detector about a pre-trade limit on
// risk_signals.v1 (DESIGN §9), in the transaction that decided the order,
// so a record exists exactly when its decision does:
//
//   - a limit-breach record when an order is BLOCKed, at most one per
//     scope per second (a runaway's burst is one incident, not thousands
//     of records);
//   - a credit warning when an allowed order takes an account's gross
//     notional of the day to 50, 75 or 90 % of its credit_limit (the
//     engine reports each crossing once, and an aborted transaction takes
//     it back with the usage).

// breachGate keeps the second of each scope's last limit-breach record.
// Its changes in a transaction are undone when the transaction aborts, so
// the orders decided again still write their record. A router restarted
// within a second may write a second record for that second; a SYMBOL,
// STRATEGY or GLOBAL scope split among routers gets one per router.
type breachGate struct {
	last   map[breachKey]int64 // Unix second of the scope's last record
	undo   []breachUndo
	pruned int64 // second of the last prune
}

type breachKey struct {
	typ domain.ScopeType
	id  string
}

type breachUndo struct {
	k    breachKey
	prev int64 // 0: had no record
}

func newBreachGate() *breachGate { return &breachGate{last: make(map[breachKey]int64)} }

// begin starts a transaction deciding at Unix second sec, and forgets the
// scopes whose last record is older than that second.
func (g *breachGate) begin(sec int64) {
	g.undo = g.undo[:0]
	if sec <= g.pruned {
		return
	}
	g.pruned = sec
	for k, s := range g.last {
		if s < sec {
			delete(g.last, k)
		}
	}
}

// allow reports whether the blocking scope of r may have a record at Unix
// second sec, and if so takes the second. The lookup does not allocate; a
// scope's first record of a second copies its id, which aliases the order.
func (g *breachGate) allow(r *limits.Result, sec int64) bool {
	k := breachKey{r.ScopeType, r.ScopeID}
	prev, ok := g.last[k]
	if ok && prev >= sec {
		return false
	}
	k.id = strings.Clone(k.id)
	g.undo = append(g.undo, breachUndo{k: k, prev: prev})
	g.last[k] = sec
	return true
}

// rollback undoes the transaction's records, newest first.
func (g *breachGate) rollback() {
	for i := len(g.undo) - 1; i >= 0; i-- {
		u := g.undo[i]
		if u.prev == 0 {
			delete(g.last, u.k)
		} else {
			g.last[u.k] = u.prev
		}
	}
	g.undo = g.undo[:0]
}

// breachSignal is the limit-breach record of a BLOCK decided at ts (Unix
// ms). Window caps carry their window and what it would have held.
func breachSignal(r *limits.Result, ts int64) domain.RiskSignal {
	kind := r.Kind.String()
	rs := domain.RiskSignal{
		TS:    ts,
		Scope: domain.Scope(r.AppendScope(nil)),
		Breaches: []domain.Breach{{Rule: "limit:" + kind, Metric: kind,
			Value: r.Value, Threshold: r.Limit}},
	}
	switch r.Kind {
	case limits.KindMaxOrders, limits.KindMaxNotional:
		rs.WindowMS = r.WindowSeconds * 1000
		rs.WindowEnd = ts
		rs.WindowStart = ts - rs.WindowMS
		if r.Kind == limits.KindMaxOrders {
			rs.OrderCount = int64(r.Value)
		} else {
			rs.Notional = r.Value
		}
	case limits.KindCreditLimit:
		rs.Notional = r.Value
	}
	return rs
}

// creditSignal is the warning of an allowed order of account that took its
// credit used to pct percent of its credit_limit.
func creditSignal(r *limits.Result, account string, pct int, ts int64) domain.RiskSignal {
	return domain.RiskSignal{
		TS:       ts,
		Scope:    domain.Scope(string(domain.ScopeAccount) + ":" + account),
		Notional: r.CreditUsed,
		Breaches: []domain.Breach{{Rule: "credit_warning_" + strconv.Itoa(pct), Metric: "credit_used",
			Value: r.CreditUsed, Threshold: r.CreditLimit * float64(pct) / 100}},
	}
}

// signal produces rs on risk_signals.v1 in the transaction in flight, keyed
// by its scope like the detector's.
func (e *emitter) signal(rs *domain.RiskSignal, it *item) {
	b, err := json.Marshal(rs)
	if err != nil {
		// A RiskSignal of finite numbers always encodes.
		e.r.log.Error("risk signal not encoded", "scope", rs.Scope, "err", err)
		return
	}
	rec := e.record()
	rec.Timestamp = it.wall
	rec.Topic = domain.TopicRiskSignals
	rec.Key = []byte(rs.Scope)
	rec.Value = b
	e.sess.Produce(e.ctx, rec, e.r.promise)
}
