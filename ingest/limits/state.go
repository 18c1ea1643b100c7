package limits

import (
	"fmt"
	"slices"

	"github.com/riskgate/riskgate/domain"
)

// What the engine learns from risk.limits.v1 and marketdata.ref.v1, and how
// its usage follows the router's transactions and partition assignments.

// ApplyLimits applies a risk.limits.v1 record: the scope's limits become its
// type's defaults overlaid with the record's values, each clamped to its
// ceiling unless the record names the second operator who approved them
// (ApprovedBy, four eyes). A record whose version is not newer than the one held is ignored
// (applied false). An invalid record changes nothing.
func (e *Engine) ApplyLimits(rec domain.LimitsRecord) (applied bool, err error) {
	if err := rec.Validate(); err != nil {
		return false, fmt.Errorf("apply limits: %w", err)
	}
	typ := typeIndex(rec.Scope.Type())
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keyFor(typ, rec.Scope.ID())
	if k.overridden() && k.version >= rec.Version {
		e.stats.Stale++
		return false, nil
	}
	t := domain.ScopeTypes[typ]
	l := e.cfg.Defaults.Of(t).Overlay(&rec.Limits)
	// A value beyond its ceiling holds only with a second operator's
	// approval, which the Limits workflow names in the record.
	if rec.ApprovedBy == "" {
		var clamped bool
		if l, clamped = l.Clamp(e.cfg.Ceilings.Of(t)); clamped {
			e.stats.Clamped++
		}
	}
	if k.overridden() {
		e.release(k.set)
	} else {
		e.stats.Overrides++
	}
	k.set, k.version = e.acquire(typ, l), rec.Version
	k.lim = &k.set.r
	delete(e.failedWhy, limitsFailure(rec.Scope))
	return true, nil
}

// FailLimitsClosed is told that the latest risk.limits.v1 record of scope s
// could not be read (why says which and how): whatever it said, the scope's
// limits are unknown, so every order of the scope is blocked
// (KindUnreadableLimits) until a readable record newer than the one held
// is applied, or a tombstone. A CANCEL still passes.
func (e *Engine) FailLimitsClosed(s domain.Scope, why string) {
	typ := typeIndex(s.Type())
	if typ < 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keyFor(typ, s.ID())
	k.lim = &e.failed[typ]
	e.failedWhy[limitsFailure(s)] = why
}

// FailReferenceClosed is told that the latest marketdata.ref.v1 record of
// symbol could not be read: the symbol's reference is unknown, which
// blocks its orders as a stale one does (KindUnreadableReference), until a
// readable record or a tombstone.
func (e *Engine) FailReferenceClosed(symbol, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keyFor(tSymbol, symbol)
	if k.ref.ts == 0 {
		e.stats.References++
	}
	k.ref = reference{ts: refUnreadable}
	e.failedWhy[refFailure(symbol)] = why
}

// failure is a scope failing closed on an unreadable record of a topic:
// the limits of scope id, or the reference price of symbol id.
type failure struct {
	ref bool
	id  string
}

func limitsFailure(s domain.Scope) failure { return failure{id: string(s)} }
func refFailure(symbol string) failure     { return failure{ref: true, id: symbol} }

// FailedClosed lists, sorted, the scopes failing closed on an unreadable
// record: "<topic> <scope> (<why>)".
func (e *Engine) FailedClosed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.failedWhy))
	for f, why := range e.failedWhy {
		name := domain.TopicLimits + " " + f.id
		if f.ref {
			name = domain.TopicRefPrices + " " + string(domain.ScopeSymbol) + ":" + f.id
		}
		out = append(out, name+" ("+why+")")
	}
	slices.Sort(out)
	return out
}

// DeleteLimits applies a tombstone of risk.limits.v1: the scope goes back to
// its type's defaults.
func (e *Engine) DeleteLimits(s domain.Scope) {
	typ := typeIndex(s.Type())
	if typ < 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.lookup(typ, s.ID())
	if k == nil {
		return
	}
	if k.overridden() {
		e.release(k.set)
		k.set, k.version = nil, 0
		e.stats.Overrides--
	}
	k.lim = &e.def[typ]
	delete(e.failedWhy, limitsFailure(s))
}

// ApplyReference applies a marketdata.ref.v1 record. A price whose ts is not
// newer than the one held is ignored (applied false).
func (e *Engine) ApplyReference(p domain.RefPrice) (applied bool, err error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("apply reference price: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keyFor(tSymbol, p.Symbol)
	if k.ref.ts != 0 && k.ref.ts >= p.TS {
		e.stats.Stale++
		return false, nil
	}
	if k.ref.ts == 0 {
		e.stats.References++
	}
	k.ref = reference{price: toUnits(p.Price), ts: p.TS}
	delete(e.failedWhy, refFailure(p.Symbol))
	return true, nil
}

// DeleteReference applies a tombstone of marketdata.ref.v1: the symbol has
// no reference price any more, as if it never had one.
func (e *Engine) DeleteReference(symbol string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k := e.lookup(tSymbol, symbol); k != nil && k.ref.ts != 0 {
		k.ref = reference{}
		e.stats.References--
	}
	delete(e.failedWhy, refFailure(symbol))
}

// Effective returns the limits a scope is held to (before the partition
// share) and the version of its override, 0 when it has none.
func (e *Engine) Effective(s domain.Scope) (Limits, int64) {
	typ := typeIndex(s.Type())
	if typ < 0 {
		return Limits{}, 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if k := e.lookup(typ, s.ID()); k != nil && k.overridden() {
		return k.set.plain, k.version
	}
	return *e.cfg.Defaults.Of(domain.ScopeTypes[typ]), 0
}

// Stats returns what the engine holds and has ignored.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Keys++ // GLOBAL
	s.FailedClosed = len(e.failedWhy)
	s.Unrestored = len(e.unrestored)
	return s
}

// SetPartitionShare tells the engine that its router owns owned of the total
// partitions of orders.v1. The max_orders and max_notional of SYMBOL,
// STRATEGY and GLOBAL scopes are then enforced at floor(cap × owned /
// total), so a group whose instances own every partition once never
// exceeds a cap; ACCOUNT caps stay exact, an account living in one
// partition. total ≤ 0 restores the full caps.
func (e *Engine) SetPartitionShare(owned, total int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if total <= 0 {
		owned, total = 1, 1
	}
	e.owned, e.total = uint64(min(max(owned, 0), total)), uint64(total)
	for i := range e.def {
		e.scale(&e.def[i], &e.defMeta[i], i)
	}
	for _, s := range e.sets {
		e.scale(&s.r, &s.meta, s.typ)
	}
}

// undoEntry is one committed order's count in one key, kept while a
// transaction is open so that an abort can take it back.
type undoEntry struct {
	k    *key
	part int32
	sec  uint32
	day  int32
	n    int64
}

// BeginTxn starts recording commits, so that RollbackTxn can take them back
// if the router's Kafka transaction aborts. It forgets what the previous
// transaction recorded.
//
// A transaction's protocol: BeginTxn; Check and Commit its orders;
// AppendChanges for each of its partitions, written in the transaction;
// then EndTxn once it committed, or RollbackTxn if it aborted.
func (e *Engine) BeginTxn() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.txn = true
	clear(e.undo)
	e.undo = e.undo[:0]
	for i := range e.changes {
		e.changes[i].recorded = false
	}
}

// EndTxn stops recording: the transaction committed.
func (e *Engine) EndTxn() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.txn = false
	clear(e.undo)
	e.undo = e.undo[:0]
	for i := range e.changes {
		e.changes[i].recorded = false
	}
}

// RollbackTxn takes back every commit since BeginTxn, and the changes
// recorded for them: the transaction aborted, so none of its orders were
// allowed. Usage that has slid out of a window since is already gone, and
// a credit of a past day no longer counts, so those need nothing.
func (e *Engine) RollbackTxn() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.undo) - 1; i >= 0; i-- {
		u := &e.undo[i]
		k := u.k
		k.agg.sub(u.sec, 1, u.n)
		// Revoke takes out the entries of a partition it removes, so c is
		// there whenever the key is not solo.
		var c *contrib
		if !k.solo() {
			c = k.partIn(u.part)
		}
		if c != nil {
			c.u.sub(u.sec, 1, u.n)
		}
		if k.typ == tAccount {
			if c != nil {
				subCredit(&c.u, u.day, u.n)
			}
			if subCredit(&k.agg, u.day, u.n) && !k.solo() {
				k.recomputeCredit()
			}
		}
	}
	e.rollbackChanges()
	e.txn = false
	clear(e.undo)
	e.undo = e.undo[:0]
}

// subCredit takes n back from u's credit on day, and reports whether u's
// credit was saturated (unknown, to be recomputed).
func subCredit(u *usage, day int32, n int64) (saturated bool) {
	if u.day != day {
		return false
	}
	if u.credit == none {
		return true
	}
	u.credit -= min(n, u.credit)
	return false
}

// recomputeCredit sets the aggregate credit from the partitions'.
func (k *key) recomputeCredit() {
	var s int64
	for _, c := range k.parts {
		if c.u.day == k.agg.day {
			s = satAdd(s, c.u.credit)
		}
	}
	k.agg.credit = s
}

// merge adds a partition's usage to the key's aggregate.
func (k *key) merge(c *contrib) {
	for i := 0; i < c.u.b.len(); i++ {
		b := c.u.b.at(i)
		k.agg.add(b.sec, b.count, b.notional)
	}
	switch {
	case c.u.credit == 0:
	case c.u.day > k.agg.day:
		k.agg.day, k.agg.credit = c.u.day, c.u.credit
	case c.u.day == k.agg.day:
		k.agg.credit = satAdd(k.agg.credit, c.u.credit)
	}
}

// unmerge takes a partition's usage out of the key's aggregate.
func (k *key) unmerge(c *contrib) {
	if k.solo() {
		k.agg.reset()
		return
	}
	for i := 0; i < c.u.b.len(); i++ {
		b := c.u.b.at(i)
		k.agg.sub(b.sec, b.count, b.notional)
	}
	if c.u.credit != 0 && subCredit(&k.agg, c.u.day, c.u.credit) {
		c.u.credit = 0 // leave it out of the recomputation
		k.recomputeCredit()
	}
}

// Revoke forgets partition part's usage: the partition moved to another
// router, which restores it from the changelog (and fails closed itself on
// a record that does not restore). Call it between transactions.
func (e *Engine) Revoke(part int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.eachKey(func(k *key) {
		for j, c := range k.parts {
			if c.part == part {
				k.unmerge(c)
				last := len(k.parts) - 1
				k.parts[j], k.parts[last] = k.parts[last], nil
				k.setParts(k.parts[:last])
				return
			}
		}
	})
	if int(part) < len(e.changes) {
		e.changes[part] = changeLog{buf: e.changes[part].buf[:0]}
	}
	e.revokeUnrestored(part)
	kept := e.undo[:0]
	for _, u := range e.undo {
		if u.part != part {
			kept = append(kept, u)
		}
	}
	clear(e.undo[len(kept):])
	e.undo = kept
}

// Evict forgets the scopes that hold nothing: no override, no reference, no
// usage in their window, no credit used today, and limits that were read
// (a scope failing closed on an unreadable record is held). It returns how many it
// forgot. It also forgets the partitions failing closed on unrestored usage
// whose windows and trading day are over. Call it between transactions.
func (e *Engine) Evict() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.undo) > 0 {
		return 0
	}
	e.dropExpiredUnrestored()
	sec := e.clock / 1000
	evicted := 0
	for t := range e.byType {
		for _, k := range e.byType[t].keys() {
			cut := sec - int64(k.lim.window)
			parts := k.parts[:0]
			for _, c := range k.parts {
				if !k.usageIn(c).empty(cut, e.today) {
					parts = append(parts, c)
				} else {
					k.unmerge(c)
				}
			}
			clear(k.parts[len(parts):])
			k.setParts(parts)
			if k.overridden() || k.lim.unreadable || k.ref.ts != 0 || len(k.parts) > 0 || !k.agg.empty(cut, e.today) {
				continue
			}
			e.byType[t].remove(k.id)
			e.gen++
			e.stats.Keys--
			evicted++
		}
	}
	return evicted
}

// eachKey calls fn for every key, GLOBAL first.
func (e *Engine) eachKey(fn func(*key)) {
	fn(e.global)
	for t := range e.byType {
		e.byType[t].each(fn)
	}
}
