package router

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// A polled batch is decided in one transaction: transact opens it, hands
// the batch to decideChunk a chunk at a time and the chunks to the emitter,
// writes the changelog and the limits' usage, and ends the transaction,
// keeping or rolling back the dedup window, the usage and the breach gate
// with it.

// transact decides one polled batch in one transaction.
func (r *Router) transact(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches) error {
	base := time.Now()
	now := base
	if !r.realClock {
		now = r.cfg.Clock()
	}
	cutoff := now.Add(-r.cfg.DedupWindow).UnixMilli()
	for _, s := range r.stores {
		s.expire(cutoff)
		s.begin()
	}
	r.em.reset()
	r.changelog.begin()
	if r.lim != nil {
		r.lim.BeginTxn()
	}
	r.breaches.begin(now.Unix())
	r.counts = [len(decisionKinds)]float64{}
	clear(r.blocks)
	r.prodMu.Lock()
	r.prodErr = nil
	r.prodMu.Unlock()

	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	var loopErr error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if loopErr != nil || len(fp.Records) == 0 {
			return
		}
		store := r.stores[fp.Partition]
		if store == nil {
			// Assigned before this session's callbacks were seen (cannot
			// happen with blocked rebalances, but never decide without
			// the window).
			if loopErr = r.replay(ctx, []int32{fp.Partition}); loopErr != nil {
				return
			}
			r.setOwned([]int32{fp.Partition}, true)
			store = r.stores[fp.Partition]
			store.begin()
		}
		for recs := fp.Records; len(recs) > 0; {
			n := min(len(recs), chunkSize)
			c := r.em.chunk()
			r.decideChunk(ctx, sess, recs[:n], store, cutoff, base, c)
			r.em.send(c)
			recs = recs[n:]
		}
		last := fp.Records[len(fp.Records)-1].Offset
		r.lag[fp.Partition] = max(fp.HighWatermark-last-1, 0)
	})
	r.em.wait()
	if loopErr == nil {
		r.changelog.flush(ctx, sess, base)
		r.writeUsage(ctx, sess, base)
	}
	r.prodMu.Lock()
	prodErr := r.prodErr
	r.prodMu.Unlock()
	commit := loopErr == nil && prodErr == nil
	r.m.decisionSec.flush()
	ending := time.Now()
	r.m.txnRoute.Observe(ending.Sub(base).Seconds())
	if commit {
		// End flushes first when it commits; flushing here times the wait
		// for Kafka apart from the commit. An error is ctx closing, which
		// End reports.
		if sess.Client().Flush(ctx) == nil {
			r.m.txnFlush.Observe(time.Since(ending).Seconds())
		}
	}
	committed, err := sess.End(ctx, kgo.TransactionEndTry(commit))
	r.m.txnEnd.Observe(time.Since(ending).Seconds())
	if !committed {
		for _, s := range r.stores {
			s.rollback()
		}
		if r.lim != nil {
			r.lim.RollbackTxn()
		}
		r.breaches.rollback()
		r.m.aborts.Inc()
	} else {
		r.usageCommitted(base)
	}
	switch {
	case err != nil:
		// The producer may be fenced or failed: a new session re-inits it.
		// Records of this batch may still be referenced by the old client.
		r.em.drop()
		r.changelog.drop()
		return fmt.Errorf("end transaction: %w", errors.Join(err, loopErr, prodErr))
	case loopErr != nil:
		return loopErr
	case prodErr != nil:
		r.log.Warn("transaction aborted after a produce error; its orders will be decided again", "err", prodErr)
		return nil
	case !committed:
		r.log.Info("transaction aborted by a rebalance; its orders will be decided again")
		return nil
	}
	r.m.commits.Inc()
	for i, c := range r.counts {
		if c > 0 {
			r.m.decisions[i].Add(c)
		}
	}
	for k, c := range r.blocks {
		if c > 0 {
			r.m.blocks[k].Add(c)
		}
	}
	var lag int64
	ids := 0
	for _, l := range r.lag {
		lag += l
	}
	for _, s := range r.stores {
		ids += s.len()
	}
	r.m.lag.Set(float64(lag))
	r.m.dedupIDs.Set(float64(ids))
	return nil
}

func (r *Router) onProduced(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	r.prodMu.Lock()
	if r.prodErr == nil {
		r.prodErr = err
	}
	r.prodMu.Unlock()
}

func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// decideChunk decodes, deduplicates and decides recs, at most chunkSize
// orders of one partition, into c for the emitter to encode and produce.
//
// It makes three passes. A busy partition's dedup window is far larger than
// the CPU caches, so every check misses them, and a miss between two
// decodes costs a whole memory round trip (with nested paging in a VM, more
// than decoding the order). So the first pass decodes the chunk and hashes
// the identities, the second touches all their slots in a tight loop where
// the misses overlap, and the third checks and decides, in offset order as
// always, against slots now in cache.
//
// Clock reads are a measurable share of the cost per order, so each pass
// reads the monotonic clock once per order (time.Since of the batch's base,
// an order's end being the next one's start); an order's latency is the sum
// of its two passes. Its wall time and the produced records' timestamps
// derive from those readings, where franz-go would otherwise read the clock
// for every record.
func (r *Router) decideChunk(ctx context.Context, sess *kgo.GroupTransactSession, recs []*kgo.Record, store *dedupStore, cutoff int64, base time.Time, c *chunk) {
	items, keys := c.items[:len(recs)], r.keys[:len(recs)]
	t := time.Since(base)
	for i, in := range recs {
		it := &items[i]
		it.in = in
		it.o, it.err = DecodeOrderWithin(in.Value, r.cfg.OrderBounds)
		if it.err == nil {
			it.err = checkOrderKey(in.Key, &it.o)
		}
		if it.err == nil {
			keys[i] = r.hash.key(it.o.OrderID, it.o.Type == domain.OrderCancel)
			if r.lim != nil {
				r.lim.Prepare(&it.o, &r.prep[i])
			}
		}
		end := time.Since(base)
		it.took, t = int64(end-t), end
	}
	store.touch(keys)
	if r.lim != nil {
		// The chunk is decided with the engine and the table held:
		// nothing in the loop below may block (the changelog is written
		// after it), and no other call on them may be made in it.
		r.lim.Hold(r.prep[:len(recs)])
		r.table.Hold(r.prep[:len(recs)])
	}
	for i := range items {
		it := &items[i]
		it.wall = base.Add(t)
		now := it.wall
		if !r.realClock {
			now = r.cfg.Clock()
		}
		it.ts = now.UnixMilli()
		if it.err != nil {
			r.counts[decisionIndex(domain.DecisionReject)]++
			if it.o.OrderID != "" {
				r.m.decisionSec.observe(it.took)
			}
			continue
		}
		o := &it.o
		cancel := o.Type == domain.OrderCancel
		if pos, dup := store.check(keys[i], cutoff); dup {
			it.v = Verdict{Decision: domain.DecisionDuplicate, Reason: ReasonDuplicate}
		} else {
			// A second probe for CANCELs only, into a slot a CANCEL's order
			// recently filled.
			cancelsAllowed := cancel && store.allowedNew(cancelled(keys[i]), cutoff)
			// The limits only look (Check changes nothing): a kill still
			// DROPs, and a BLOCK takes no throttle's token.
			var lim limits.Result
			if r.lim != nil {
				if !cancel {
					lim = r.lim.CheckHeld(o, &r.prep[i], it.in.Partition, it.ts)
				}
				r.table.DecideHeld(&it.v, o, &r.prep[i].IDs, now.UnixNano(), cancelsAllowed, lim.Blocked)
			} else {
				it.v = r.table.DecideLimited(o, now.UnixNano(), cancelsAllowed, false)
			}
			allowed := !cancel && it.v.Decision == domain.DecisionAllow
			switch {
			case allowed && r.lim != nil:
				it.creditWarning = r.lim.CommitHeld(&lim)
				if it.creditWarning > 0 {
					it.lim = lim
				}
				r.checkpointState(it.in.Partition).orders++
			case it.v.Decision == domain.DecisionBlock:
				it.lim = lim
				it.breach, it.blocks = r.breaches.allow(&lim, it.ts/1000)
				r.blocks[lim.Kind]++
			}
			store.record(pos, it.ts, allowed)
		}
		end := time.Since(base)
		it.took, t = it.took+int64(end-t), end
		r.m.decisionSec.observe(it.took)
		r.counts[decisionIndex(it.v.Decision)]++
	}
	if r.lim != nil {
		r.table.Release()
		r.lim.Release()
	}
	// The orders the window recorded (all but the invalid ones and the
	// DUPLICATEs) go to its changelog after the hold: adding one may
	// produce a record, which waits while the producer's buffer is full.
	for i := range items {
		it := &items[i]
		if it.err != nil || it.v.Decision == domain.DecisionDuplicate {
			continue
		}
		cancel := it.o.Type == domain.OrderCancel
		r.changelog.add(ctx, sess, it.in.Partition, it.ts, it.o.OrderID, cancel, !cancel && it.v.Decision == domain.DecisionAllow)
	}
	c.n = len(recs)
}
