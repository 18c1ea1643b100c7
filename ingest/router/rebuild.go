package router

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/retry"
)

// A limits usage record of the changelog that does not restore fails the
// limits closed (Router.unrestored): with a credit_limit on every account,
// as the defaults have, every order for the rest of the trading day. The
// day's credit is rebuilt instead from orders.gated.v1, which holds every
// order allowed, with its quantity and price (see limits.CreditRebuild):
// once a replay leaves a partition failing closed, a goroutine reads the
// day's gated orders, and the routing loop hands the sums to the engine
// between transactions, which lifts the block on credit; the block on
// window caps runs out with the windows. Until then the block holds, and a
// rebuild that cannot read the topic tries again.

// rebuild is one partition's credit rebuild in flight.
type rebuild struct {
	rb     *limits.CreditRebuild
	cancel context.CancelFunc
	done   chan error // the read's outcome, once
	start  time.Time
}

// rebuildRetry spaces the attempts of a rebuild that could not read
// orders.gated.v1.
var rebuildRetry = retry.Policy{Initial: time.Second, Max: 30 * time.Second}

// startRebuilds starts a credit rebuild for each partition the engine
// fails closed on credit, after a replay of parts: anew for those, unless
// one is in flight for the others.
func (r *Router) startRebuilds(ctx context.Context, parts []int32) {
	if r.lim == nil {
		return
	}
	for _, rb := range r.lim.CreditRebuilds() {
		if cur := r.rebuilds[rb.Part]; cur != nil {
			if !slices.Contains(parts, rb.Part) {
				continue
			}
			cur.cancel()
		}
		rctx, cancel := context.WithCancel(ctx)
		job := &rebuild{rb: rb, cancel: cancel, done: make(chan error, 1), start: time.Now()}
		r.rebuilds[rb.Part] = job
		r.log.Warn("rebuilding the trading day's credit from "+domain.TopicGated+"; orders of accounts with a credit limit stay BLOCKed until it is read",
			"partition", rb.Part, "from", time.UnixMilli(rb.FromMS).UTC())
		go func() { job.done <- r.readGated(rctx, rb) }()
	}
}

// readGated reads the gated orders into rb, trying again until it can or
// ctx ends. A gated order that does not decode ends it with an error: its
// notional is unknown, so the credit cannot be rebuilt.
func (r *Router) readGated(ctx context.Context, rb *limits.CreditRebuild) error {
	b := rebuildRetry.New()
	for {
		started := time.Now()
		rb.Reset()
		var bad error
		err := readTopic(ctx, r.cfg.Kafka, domain.TopicGated, nil, rb.FromMS, func(rec *kgo.Record) {
			if bad != nil {
				return
			}
			o, err := DecodeOrderWithin(rec.Value, r.cfg.OrderBounds)
			if err != nil {
				bad = fmt.Errorf("%s partition %d offset %d: %w", domain.TopicGated, rec.Partition, rec.Offset, err)
				return
			}
			rb.Add(&o, rec.Timestamp.UnixMilli())
		})
		if bad != nil {
			return bad
		}
		if err == nil || ctx.Err() != nil {
			return err
		}
		wait := b.NextAfter(started)
		r.log.Warn("credit rebuild: cannot read "+domain.TopicGated+"; trying again", "partition", rb.Part, "err", err, "retry_in", wait)
		if retry.Wait(ctx, wait) != nil {
			return ctx.Err()
		}
	}
}

// applyRebuilds hands the engine the credit of each rebuild that has read
// its orders. Call it between transactions.
func (r *Router) applyRebuilds() {
	for p, job := range r.rebuilds {
		var err error
		select {
		case err = <-job.done:
		default:
			continue
		}
		delete(r.rebuilds, p)
		job.cancel()
		if err != nil {
			r.m.rebuildFailed.Inc()
			r.log.Error("credit rebuild failed: orders of accounts with a credit limit stay BLOCKed (unrestored_usage) to the end of the trading day",
				"partition", p, "err", err)
			continue
		}
		raised, ok := r.lim.RebuildCredit(job.rb)
		if !ok {
			continue // the block changed meanwhile; a replay started another
		}
		r.m.rebuilt.Inc()
		// A checkpoint soon, so a restart restores the rebuilt credit.
		r.checkpointState(p).reset()
		r.log.Info("credit of the trading day rebuilt from "+domain.TopicGated+": only window caps stay BLOCKed (unrestored_usage) while the lost usage can count",
			"partition", p, "orders", job.rb.Orders, "counted", job.rb.Counted, "accounts_raised", raised,
			"took", time.Since(job.start).Round(time.Millisecond))
	}
}

// stopRebuilds stops the rebuilds in flight of parts, or all of them.
func (r *Router) stopRebuilds(parts []int32, all bool) {
	for p, job := range r.rebuilds {
		if all || slices.Contains(parts, p) {
			job.cancel()
			delete(r.rebuilds, p)
		}
	}
}
