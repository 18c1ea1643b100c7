package router

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The pre-trade limits' usage is exactly-once state like the dedup window:
// each transaction writes the usage its orders changed into the changelog
// (the engine's changes record, per partition), and a replay restores it.
// The changelog keeps twice the dedup window, and an account's credit
// counts for a whole trading day, so the changes alone would not survive:
// the router also writes a checkpoint of each partition's whole usage
// every half dedup window (and after checkpointOrders allowed orders, to
// bound what a replay reads), in a transaction of its own when the
// partition is idle. A replay reads from usageReplay ago, which always
// holds a checkpoint of every partition this group wrote to since.

// checkpointOrders bounds the allowed orders between two checkpoints of a
// partition: a replay then applies at most about that many changes after
// its last checkpoint (some 25 bytes each).
const checkpointOrders = 200_000

// checkpointState is when a partition's usage was last checkpointed.
type checkpointState struct {
	at     time.Time // zero: due now
	orders int       // allowed since
}

func (c *checkpointState) reset() { *c = checkpointState{} }

func (r *Router) checkpointState(p int32) *checkpointState {
	for int(p) >= len(r.cps) {
		r.cps = append(r.cps, checkpointState{})
	}
	return &r.cps[p]
}

// checkpointEvery is how often each owned partition's usage is
// checkpointed.
func (r *Router) checkpointEvery() time.Duration { return r.cfg.DedupWindow / 2 }

// usageReplay is how far back a replay reads usage: within the changelog's
// retention (twice the window), and at least one checkpoint interval plus
// slack for a transaction that kept failing.
func (r *Router) usageReplay() time.Duration { return 2*r.cfg.DedupWindow - r.cfg.DedupWindow/4 }

func (r *Router) checkpointDue(p int32, now time.Time) bool {
	c := r.checkpointState(p)
	return c.at.IsZero() || now.Sub(c.at) >= r.checkpointEvery() || c.orders >= checkpointOrders
}

// writeUsage produces, in the transaction in flight, the usage each owned
// partition's orders changed, then the checkpoints that are due.
func (r *Router) writeUsage(ctx context.Context, sess *kgo.GroupTransactSession, now time.Time) {
	r.cpDue = r.cpDue[:0]
	if r.lim == nil {
		return
	}
	for p := range r.owned {
		r.changelog.usage(ctx, sess, r.lim, p, now)
		if r.checkpointDue(p, now) {
			r.changelog.checkpoint(ctx, sess, r.lim, p, now)
			r.cpDue = append(r.cpDue, p)
		}
	}
}

// usageCommitted ends the engine's transaction and records the checkpoints
// the committed transaction held.
func (r *Router) usageCommitted(now time.Time) {
	if r.lim == nil {
		return
	}
	r.lim.EndTxn()
	for _, p := range r.cpDue {
		*r.checkpointState(p) = checkpointState{at: now}
	}
	r.cpDue = r.cpDue[:0]
	// Scopes that hold nothing any more (an account that stopped trading)
	// are dropped now and then, between transactions.
	if now.Sub(r.evicted) >= time.Minute {
		r.evicted = now
		r.lim.Evict()
	}
}

// checkpointIdle writes, in a transaction of its own, the checkpoints due
// for owned partitions that had no orders, so that their usage (a credit
// used this morning) outlives the changelog's retention.
func (r *Router) checkpointIdle(ctx context.Context, sess *kgo.GroupTransactSession) error {
	if r.lim == nil || len(r.owned) == 0 {
		return nil
	}
	now := time.Now()
	due := false
	for p := range r.owned {
		due = due || r.checkpointDue(p, now)
	}
	if !due {
		return nil
	}
	r.changelog.begin()
	r.lim.BeginTxn()
	r.prodMu.Lock()
	r.prodErr = nil
	r.prodMu.Unlock()
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin checkpoint transaction: %w", err)
	}
	r.writeUsage(ctx, sess, now)
	r.prodMu.Lock()
	prodErr := r.prodErr
	r.prodMu.Unlock()
	committed, err := sess.End(ctx, kgo.TransactionEndTry(prodErr == nil))
	if !committed {
		r.lim.RollbackTxn()
	} else {
		r.usageCommitted(now)
	}
	if err != nil {
		r.changelog.drop()
		return fmt.Errorf("end checkpoint transaction: %w", err)
	}
	return nil
}
