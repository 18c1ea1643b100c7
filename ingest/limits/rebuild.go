package limits

import "github.com/riskgate/riskgate/domain"

// A partition failing closed on unrestored usage (FailUsageClosed) blocks
// every order of an account with a credit_limit to the end of the trading
// day: the lost record may have held any account's credit. The day's credit
// can be known again, though: every order a router allowed is also on
// orders.gated.v1, written in the same transaction as the changelog record
// that counted it, with its quantity and price. So the router reads the
// gated orders of the day (a CreditRebuild), sums each account's gross
// notional, and hands the sums to RebuildCredit, which raises every
// account's credit of the day to at least its sum and ends the credit part
// of the block for that day (the engine's day moves to it; an order of an
// earlier day, which only a clock short of it can bring, stays blocked).
// The windows part runs out on its own (a minute with the default limits).
//
// The sums are the firm's, over every router's partitions, which is what
// an account's credit is; they can only count more than this router's
// share of it (an account whose orders also came through another router's
// partitions), never less: no order of an account with a credit limit is
// allowed while the block holds, so none is missing from them.

// CreditRebuild sums, per account, the gross notional of the orders on
// orders.gated.v1 that can count in the credit of one trading day of an
// unrestored partition (Engine.CreditRebuilds). Add is called from the
// reader's goroutine; the rebuild holds nothing of the engine's.
type CreditRebuild struct {
	// Part is the orders.v1 partition whose usage did not restore.
	Part int32
	// FromMS is where the reading starts (Unix ms, record timestamps):
	// the start of the trading day less the future skew.
	FromMS int64
	// Orders counts the orders added; Counted those that count in the day.
	Orders, Counted int

	latest int64 // the unrestored usage's, to match it on RebuildCredit
	day    int32
	lo, hi int64 // the day's bounds, Unix ms
	skew   int64
	used   map[string]int64
}

// CreditRebuilds returns a rebuild for each partition whose usage did not
// restore and whose credit still fails closed.
func (e *Engine) CreditRebuilds() []*CreditRebuild {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*CreditRebuild
	for i := range e.unrestored {
		u := &e.unrestored[i]
		if u.rebuilt {
			continue
		}
		cal := e.cal
		cal.dayOf(u.latest)
		out = append(out, &CreditRebuild{Part: u.part, FromMS: cal.lo - e.skew, latest: u.latest, day: u.day,
			lo: cal.lo, hi: cal.hi, skew: e.skew, used: make(map[string]int64)})
	}
	return out
}

// Reset forgets what was added, for a reading that starts over.
func (c *CreditRebuild) Reset() {
	clear(c.used)
	c.Orders, c.Counted = 0, 0
}

// Add counts a gated order, produced at recordMS (the router's decision
// time, its record's timestamp). An order counted in the credit of the day
// its effective time fell in: its own ts, clamped to no later than its
// decision plus the future skew and to no earlier than the router's clock.
// So it may count in the day if it was decided no more than a skew before
// the day began, and either decided before the day ended or stamped with a
// ts before that (a late order is counted at the router's clock, which
// stays in the day until an order of a later ts arrives); it is counted
// when it may. Counting too much here blocks more, never less.
func (c *CreditRebuild) Add(o *domain.Order, recordMS int64) {
	c.Orders++
	if o.Type == domain.OrderCancel || recordMS+c.skew < c.lo || min(recordMS, o.TS) >= c.hi {
		return
	}
	c.Counted++
	c.used[o.AccountID] = satAdd(c.used[o.AccountID], notionalUnits(o.Qty, o.Price))
}

// RebuildCredit raises the credit of the day of every account c summed to
// at least that sum, counting the difference in c's partition (whose
// checkpoints then carry it), and ends the credit part of the partition's
// block for the day. It does nothing (ok false) when the partition's block
// changed since CreditRebuilds (revoked, replayed again, or a later record
// lost). It returns the accounts whose credit it raised. Call it between
// transactions.
func (e *Engine) RebuildCredit(c *CreditRebuild) (raised int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.unrestoredIn(c.Part)
	if u == nil || u.latest != c.latest || u.day != c.day || u.rebuilt || e.txn {
		return 0, false
	}
	for id, n := range c.used {
		k := e.keyFor(tAccount, id)
		if have := k.agg.creditOn(c.day); n > have {
			e.countCredit(k, c.Part, c.day, n-have)
			raised++
		}
	}
	e.today = max(e.today, c.day)
	u.rebuilt = true
	return raised, true
}
