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
//     of records) but for the BLOCK that makes EscalationBlocks, each
//     saying how many BLOCKs the scope had in the last minute, so the
//     detector can escalate repeated blocks to a kill;
//   - a credit warning when an allowed order takes an account's gross
//     notional of the day to 50, 75 or 90 % of its credit_limit (the
//     engine reports each crossing once, and an aborted transaction takes
//     it back with the usage).

// breachGate counts each scope's BLOCKs over the last BlockWindowSeconds
// and decides which BLOCKs write a limit-breach record: a scope's first of
// each second, and the one that takes its count to EscalationBlocks (so the
// detector's escalation sees a burst that lasts less than a second). Its
// changes in a transaction are undone when the transaction aborts, so the
// orders decided again count and write their records again. A router
// restarted within a second may write a second record for that second and
// counts from zero; a SYMBOL, STRATEGY or GLOBAL scope split among routers
// gets one record and one count per router.
type breachGate struct {
	last   map[breachKey]*scopeBlocks
	undo   []breachUndo
	pruned int64 // second of the last prune
}

// BlockWindowSeconds is the window over which a router counts a scope's
// BLOCKs (domain.RiskSignal.Blocks); EscalationBlocks is the count at which
// a scope's record is written even in a second that already has one: the
// detector's default escalation threshold.
const (
	BlockWindowSeconds = 60
	EscalationBlocks   = 10
)

type breachKey struct {
	typ domain.ScopeType
	id  string
}

// scopeBlocks is one scope's BLOCKs per second, in a ring of
// BlockWindowSeconds slots, and the second of its last record.
type scopeBlocks struct {
	count      [BlockWindowSeconds]int32
	sec        [BlockWindowSeconds]int64 // the second each slot counts
	newest     int64
	lastRecord int64
}

// blocks is the scope's number of BLOCKs in the window ending at second now.
func (b *scopeBlocks) blocks(now int64) int64 {
	var n int64
	for i, s := range b.sec {
		if s > now-BlockWindowSeconds && s <= now {
			n += int64(b.count[i])
		}
	}
	return n
}

// breachUndo restores what one BLOCK changed of a scope.
type breachUndo struct {
	k                       breachKey
	added                   bool // the BLOCK created the scope's entry
	slot                    int
	count                   int32
	sec, newest, lastRecord int64
}

func newBreachGate() *breachGate { return &breachGate{last: make(map[breachKey]*scopeBlocks)} }

// begin starts a transaction deciding at Unix second sec, and forgets the
// scopes without a BLOCK in the window before that second.
func (g *breachGate) begin(sec int64) {
	g.undo = g.undo[:0]
	if sec <= g.pruned {
		return
	}
	g.pruned = sec
	for k, b := range g.last {
		if b.newest <= sec-BlockWindowSeconds && b.lastRecord < sec {
			delete(g.last, k)
		}
	}
}

// allow counts a BLOCK of r's blocking scope at Unix second sec (the
// order's time) and reports whether it writes a record, and the scope's
// BLOCKs in the window. The lookup does not allocate; a scope's first
// BLOCK in the window copies its id, which aliases the order.
func (g *breachGate) allow(r *limits.Result, sec int64) (record bool, blocks int64) {
	k := breachKey{r.ScopeType, r.ScopeID}
	b, ok := g.last[k]
	if !ok {
		k.id = strings.Clone(k.id)
		b = &scopeBlocks{}
		g.last[k] = b
	}
	slot := int(((sec % BlockWindowSeconds) + BlockWindowSeconds) % BlockWindowSeconds)
	g.undo = append(g.undo, breachUndo{k: k, added: !ok, slot: slot, count: b.count[slot], sec: b.sec[slot],
		newest: b.newest, lastRecord: b.lastRecord})
	now := max(b.newest, sec)
	if sec > now-BlockWindowSeconds { // older orders fall outside the window
		if b.sec[slot] != sec {
			b.sec[slot], b.count[slot] = sec, 0
		}
		b.count[slot]++
		b.newest = now
	}
	blocks = b.blocks(now)
	if b.lastRecord < sec || blocks == EscalationBlocks {
		b.lastRecord = max(b.lastRecord, sec)
		return true, blocks
	}
	return false, blocks
}

// rollback undoes the transaction's BLOCKs, newest first.
func (g *breachGate) rollback() {
	for i := len(g.undo) - 1; i >= 0; i-- {
		u := g.undo[i]
		if u.added {
			delete(g.last, u.k)
			continue
		}
		if b := g.last[u.k]; b != nil {
			b.count[u.slot], b.sec[u.slot], b.newest, b.lastRecord = u.count, u.sec, u.newest, u.lastRecord
		}
	}
	g.undo = g.undo[:0]
}

// breachSignal is the limit-breach record of a BLOCK decided at ts (Unix
// ms), its scope's blocks-th in the block window. Window caps carry their
// window and what it would have held.
func breachSignal(r *limits.Result, ts, blocks int64) domain.RiskSignal {
	kind := r.Kind.String()
	rs := domain.RiskSignal{
		TS:             ts,
		Scope:          domain.Scope(r.AppendScope(nil)),
		Blocks:         blocks,
		BlocksWindowMS: BlockWindowSeconds * 1000,
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
