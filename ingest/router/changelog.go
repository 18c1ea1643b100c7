package router

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/limits"
)

// changelog is the router's transactional changelog (Config.DedupTopic),
// partitioned like orders.v1: what a transaction decided is written in that
// transaction, so it is durable exactly when the decisions are, and
// replayed when a partition is assigned. It carries two kinds of records:
// the dedup window's identities, and the pre-trade limits' usage (the
// engine's changes and checkpoints, see ingest/limits), so a crash or a
// partition move resets neither. It is owned by the routing loop.
//
// A record's first byte tells them apart: changelogVersion for identities,
// changelogUsage followed by a limits record for usage.
type changelog struct {
	topic   string
	promise func(*kgo.Record, error)
	arena   []byte   // record values produced in the transaction in flight
	open    [][]byte // per partition, the record being filled
	dirty   []bool
}

func newChangelog(topic string, promise func(*kgo.Record, error)) *changelog {
	return &changelog{topic: topic, promise: promise}
}

// resize makes room for n partitions.
func (c *changelog) resize(n int) {
	for len(c.open) < n {
		c.open = append(c.open, nil)
		c.dirty = append(c.dirty, false)
	}
}

// begin starts a transaction: the previous one's records are done.
func (c *changelog) begin() { c.arena = c.arena[:0] }

// drop forgets the arena, for when a failed client may still reference its
// records.
func (c *changelog) drop() { c.arena = nil }

// add adds a decided identity to its partition's record, producing the
// record early when it grows large.
func (c *changelog) add(ctx context.Context, sess *kgo.GroupTransactSession, p int32, ms int64, id string, cancel, allowed bool) {
	c.resize(int(p) + 1)
	if !c.dirty[p] {
		c.open[p] = beginChangelog(c.open[p][:0], ms)
		c.dirty[p] = true
	}
	c.open[p] = appendChangelogID(c.open[p], id, cancel, allowed)
	if len(c.open[p]) >= changelogMaxBytes {
		c.produce(ctx, sess, p, time.Now())
	}
}

// flush produces every partition's open record.
func (c *changelog) flush(ctx context.Context, sess *kgo.GroupTransactSession, ts time.Time) {
	for p := range c.open {
		if c.dirty[p] {
			c.produce(ctx, sess, int32(p), ts)
		}
	}
}

func (c *changelog) produce(ctx context.Context, sess *kgo.GroupTransactSession, p int32, ts time.Time) {
	off := len(c.arena)
	c.arena = append(c.arena, c.open[p]...)
	c.open[p] = c.open[p][:0]
	c.dirty[p] = false
	// A few records per batch: not worth a pool.
	rec := &kgo.Record{
		Topic:     c.topic,
		Partition: p,
		Timestamp: ts,
		Value:     c.arena[off:len(c.arena):len(c.arena)],
	}
	sess.Produce(ctx, rec, c.promise)
}

// usage produces the limits usage that partition p's orders changed in this
// transaction, if any. Call it after the transaction's last Commit.
func (c *changelog) usage(ctx context.Context, sess *kgo.GroupTransactSession, eng *limits.Engine, p int32, ts time.Time) {
	off := len(c.arena)
	c.arena = append(c.arena, changelogUsage)
	c.arena = eng.AppendChanges(c.arena, p)
	if len(c.arena) == off+1 {
		c.arena = c.arena[:off]
		return
	}
	c.produceValue(ctx, sess, p, ts, off)
}

// checkpoint produces the whole limits usage of partition p, after its
// changes (usage): replay may then start anywhere before it.
func (c *changelog) checkpoint(ctx context.Context, sess *kgo.GroupTransactSession, eng *limits.Engine, p int32, ts time.Time) {
	for _, b := range eng.Checkpoint(p, changelogMaxBytes) {
		off := len(c.arena)
		c.arena = append(c.arena, changelogUsage)
		c.arena = append(c.arena, b...)
		c.produceValue(ctx, sess, p, ts, off)
	}
}

// produceValue produces the arena from off as a record of partition p.
func (c *changelog) produceValue(ctx context.Context, sess *kgo.GroupTransactSession, p int32, ts time.Time, off int) {
	rec := &kgo.Record{
		Topic:     c.topic,
		Partition: p,
		Timestamp: ts,
		Value:     c.arena[off:len(c.arena):len(c.arena)],
	}
	sess.Produce(ctx, rec, c.promise)
}

// replay rebuilds the dedup window of the given orders.v1 partitions from
// the committed changelog records written since cutoff (Unix ms) and, when
// eng is not nil, their limits usage from the records written since
// usageFrom (Unix ms, before cutoff: the router checkpoints the usage more
// often than that). The partitions' usage in eng must be empty (Revoke).
// A usage record that does not restore is reported through bad (which
// fails the engine closed on it) and skipped. A dedup record that does not
// read is reported in lost, the partitions whose windows are then
// incomplete (rebuildDedup completes them).
func (c *changelog) replay(ctx context.Context, kc kafka.Config, parts []int32, h hasher, cutoff int64,
	eng *limits.Engine, usageFrom int64, bad func(rec *kgo.Record, err error)) (stores map[int32]*dedupStore, lost []*kgo.Record, err error) {
	stores = make(map[int32]*dedupStore, len(parts))
	for _, p := range parts {
		stores[p] = newDedupStore()
	}
	from := cutoff
	if eng != nil {
		from = min(from, usageFrom)
	}
	err = readTopic(ctx, kc, c.topic, parts, from, func(rec *kgo.Record) {
		s := stores[rec.Partition]
		if s == nil {
			return
		}
		if len(rec.Value) > 0 && rec.Value[0] == changelogUsage {
			if eng != nil {
				if err := eng.Restore(rec.Partition, rec.Value[1:]); err != nil {
					bad(rec, err)
				}
			}
			return
		}
		// A malformed record would make the window forget identities
		// (an order sent again would be decided again): the caller
		// rebuilds the window from audit.v1.
		err := readChangelog(rec.Value, func(ms int64, id []byte, cancel, allowed bool) {
			if ms >= cutoff {
				s.add(h.key(unsafe.String(unsafe.SliceData(id), len(id)), cancel), ms, allowed)
			}
		})
		if err != nil {
			lost = append(lost, rec)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return stores, lost, nil
}

// Changelog record value: a version byte, the Unix ms the identities were
// first seen, then per identity a flags byte (changelogCancel,
// changelogAllowed), a uvarint length and the order_id bytes. One record
// holds one transaction's identities of one partition. A record written
// before changelogAllowed existed marks no order as ALLOWed, so a CANCEL
// of such an order is REJECTed under a kill: fail closed.
const (
	changelogVersion  = 1
	changelogUsage    = 0x10 // then a limits changelog record
	changelogMaxBytes = 256 << 10

	changelogCancel  = 1 // the identity is a CANCEL's
	changelogAllowed = 2 // a NEW order that was ALLOWed
)

func beginChangelog(buf []byte, ms int64) []byte {
	buf = append(buf, changelogVersion)
	return binary.AppendVarint(buf, ms)
}

func appendChangelogID(buf []byte, id string, cancel, allowed bool) []byte {
	var flags byte
	if cancel {
		flags |= changelogCancel
	}
	if allowed {
		flags |= changelogAllowed
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, uint64(len(id)))
	return append(buf, id...)
}

var errChangelog = errors.New("malformed dedup changelog record")

// readChangelog calls fn for every identity of a changelog record value.
func readChangelog(b []byte, fn func(ms int64, id []byte, cancel, allowed bool)) error {
	if len(b) < 1 || b[0] != changelogVersion {
		return errChangelog
	}
	ms, n := binary.Varint(b[1:])
	if n <= 0 {
		return errChangelog
	}
	b = b[1+n:]
	for len(b) > 0 {
		flags := b[0]
		l, n := binary.Uvarint(b[1:])
		if n <= 0 || flags&^(changelogCancel|changelogAllowed) != 0 || l > uint64(len(b)-1-n) {
			return errChangelog
		}
		b = b[1+n:]
		fn(ms, b[:l], flags&changelogCancel != 0, flags&changelogAllowed != 0)
		b = b[l:]
	}
	return nil
}
