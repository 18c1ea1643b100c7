// Reading the topics: orders.v1 over a range, its partitions merged by
// event time, and what happened over it.

package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/router"
)

// auditSlack is how long after the range audit records are read: the
// router decides an order shortly after its ts.
const auditSlack = time.Minute

// span is the offsets [start, end) of one partition.
type span struct{ start, end int64 }

// spans lists, per partition of topic, the offsets of the records whose
// timestamps are in [fromMS, toMS); fromMS ≤ 0 means the start of the
// partition and toMS ≤ 0 its end now.
func spans(ctx context.Context, kc kafka.Config, topic string, fromMS, toMS int64) (map[int32]span, error) {
	cl, err := kc.NewClient()
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	at := func(ms int64, none func(context.Context, ...string) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
		var lo kadm.ListedOffsets
		var err error
		if ms <= 0 {
			lo, err = none(ctx, topic)
		} else {
			lo, err = adm.ListOffsetsAfterMilli(ctx, ms, topic)
		}
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
		}
		return lo, nil
	}
	starts, err := at(fromMS, adm.ListStartOffsets)
	if err != nil {
		return nil, err
	}
	ends, err := at(toMS, adm.ListEndOffsets)
	if err != nil {
		return nil, err
	}
	out := map[int32]span{}
	ends.Each(func(e kadm.ListedOffset) {
		sp := span{end: e.Offset}
		if s, ok := starts.Lookup(topic, e.Partition); ok && s.Offset >= 0 {
			sp.start = min(s.Offset, e.Offset)
		} else {
			sp.start = e.Offset
		}
		out[e.Partition] = sp
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions (does it exist?)", topic)
	}
	return out, nil
}

// consumer reads the spans of topic, committed records only.
func consumer(kc kafka.Config, topic string, sp map[int32]span) (*kgo.Client, error) {
	offs := map[int32]kgo.Offset{}
	for p, s := range sp {
		if s.start < s.end {
			offs[p] = kgo.NewOffset().At(s.start)
		}
	}
	cl, err := kc.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records mark where a transaction ended: without them the
		// last offset of a transactional partition is never seen.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka: %w", err)
	}
	return cl, nil
}

// readSpans calls fn for every committed data record of the spans, in
// offset order per partition.
func readSpans(ctx context.Context, kc kafka.Config, topic string, sp map[int32]span, fn func(*kgo.Record)) error {
	pending := 0
	for _, s := range sp {
		if s.start < s.end {
			pending++
		}
	}
	if pending == 0 {
		return nil
	}
	cl, err := consumer(kc, topic, sp)
	if err != nil {
		return err
	}
	defer cl.Close()
	done := map[int32]bool{}
	for pending > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		if err := fetchError(topic, fetches); err != nil {
			return err
		}
		fetches.EachRecord(func(r *kgo.Record) {
			s := sp[r.Partition]
			if done[r.Partition] || r.Offset >= s.end {
				return
			}
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset+1 >= s.end {
				done[r.Partition] = true
				pending--
			}
		})
	}
	return nil
}

func fetchError(topic string, fetches kgo.Fetches) error {
	var ferr error
	fetches.EachError(func(_ string, p int32, err error) {
		if ferr == nil {
			ferr = fmt.Errorf("read %s partition %d: %w", topic, p, err)
		}
	})
	return ferr
}

// ReadActual gathers what happened between from and to: every command of
// killswitch.commands.v1 from from on, every record of the compacted
// killswitch.state.v1 (the state in force when the range starts), and the
// audit records of the range's orders.
func ReadActual(ctx context.Context, kc kafka.Config, from, to time.Time) (*Actual, error) {
	a := NewActual(from, to)
	fromMS, toMS := from.UnixMilli(), to.UnixMilli()
	// A record that does not decode is not one riskgate wrote; it is
	// counted, and what was read stands.
	decode := func(r *kgo.Record, v any) bool {
		if err := json.Unmarshal(r.Value, v); err != nil {
			a.Unreadable++
			return false
		}
		return true
	}
	read := func(topic string, from, to int64, fn func(*kgo.Record)) error {
		sp, err := spans(ctx, kc, topic, from, to)
		if err != nil {
			return err
		}
		return readSpans(ctx, kc, topic, sp, fn)
	}
	if err := read(domain.TopicState, 0, 0, func(r *kgo.Record) {
		if len(r.Value) == 0 {
			return // a tombstone
		}
		var st domain.State
		if decode(r, &st) {
			a.AddState(st)
		}
	}); err != nil {
		return nil, err
	}
	if err := read(domain.TopicCommands, fromMS, 0, func(r *kgo.Record) {
		var c domain.Command
		if decode(r, &c) {
			a.AddCommand(c)
		}
	}); err != nil {
		return nil, err
	}
	if err := read(domain.TopicAudit, fromMS, toMS+auditSlack.Milliseconds(), func(r *kgo.Record) {
		var rec domain.AuditRecord
		if decode(r, &rec) {
			a.AddAudit(&rec)
		}
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// ReadTopics replays the orders.v1 records whose timestamps are in
// [from, to), partitions merged in event-time order: each partition is
// read in offset order (as the detector reads it) and, of the partitions'
// next orders, the one with the smallest ts goes first. A partition that
// runs ahead of the others is paused, so memory stays bounded.
func ReadTopics(ctx context.Context, kc kafka.Config, from, to time.Time, r *Replay, p *Progress) error {
	sp, err := spans(ctx, kc, domain.TopicOrders, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return err
	}
	m := &merge{r: r, qs: map[int32]*partQueue{}, bounds: r.cfg.OrderBounds}
	var total int64
	for part, s := range sp {
		m.qs[part] = &partQueue{part: part, end: s.end, done: s.start >= s.end}
		total += s.end - s.start
	}
	p.SetTotal(total)
	if total == 0 {
		return nil
	}
	cl, err := consumer(kc, domain.TopicOrders, sp)
	if err != nil {
		return err
	}
	defer cl.Close()
	m.cl = cl
	for {
		m.emit()
		if m.finished() {
			return nil
		}
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", domain.TopicOrders, err)
		}
		if err := fetchError(domain.TopicOrders, fetches); err != nil {
			return err
		}
		var n int64
		fetches.EachRecord(func(rec *kgo.Record) {
			n++
			m.add(rec)
		})
		p.Add(n, n)
	}
}

// Queue bounds of one partition in the merge.
const (
	pauseAt  = 1 << 14
	resumeAt = 1 << 10
)

// merge orders the records of several partitions by ts.
type merge struct {
	r      *Replay
	cl     *kgo.Client
	qs     map[int32]*partQueue
	bounds domain.OrderBounds
}

type partQueue struct {
	part   int32
	end    int64
	done   bool // every record up to end was read
	paused bool
	items  []item
	head   int
}

type item struct {
	o   domain.Order
	off int64
	err error
}

func (q *partQueue) len() int { return len(q.items) - q.head }

func (m *merge) add(rec *kgo.Record) {
	q := m.qs[rec.Partition]
	if q == nil || q.done || rec.Offset >= q.end {
		return
	}
	if rec.Offset+1 >= q.end {
		q.done = true
	}
	if rec.Attrs.IsControl() {
		return
	}
	it := item{off: rec.Offset}
	it.o, it.err = router.DecodeOrderWithin(rec.Value, m.bounds)
	if it.err == nil && string(rec.Key) != it.o.AccountID {
		it.err = fmt.Errorf("record key %q is not the account_id %q (the router REJECTs it, the detector leaves it out)",
			rec.Key, it.o.AccountID)
	}
	q.items = append(q.items, it)
	if q.len() >= pauseAt && !q.paused {
		q.paused = true
		m.cl.PauseFetchPartitions(map[string][]int32{domain.TopicOrders: {q.part}})
	}
}

// emit replays queued records while every partition that may still have
// an earlier one has one queued.
func (m *merge) emit() {
	for {
		var best *partQueue
		for _, q := range m.qs {
			if q.len() == 0 {
				if !q.done {
					m.resumeAll()
					return // its next record may be the earliest
				}
				continue
			}
			if best == nil || less(&q.items[q.head], q.part, &best.items[best.head], best.part) {
				best = q
			}
		}
		if best == nil {
			return
		}
		it := &best.items[best.head]
		if it.err != nil {
			m.r.Bad(domain.TopicOrders+" "+strconv.Itoa(int(best.part))+"/"+strconv.FormatInt(it.off, 10), it.err)
		} else {
			m.r.Order(&it.o, best.part)
		}
		*it = item{}
		best.head++
		if best.head == len(best.items) {
			best.items, best.head = best.items[:0], 0
		} else if best.head >= resumeAt && 2*best.head >= len(best.items) {
			n := copy(best.items, best.items[best.head:])
			clear(best.items[n:])
			best.items, best.head = best.items[:n], 0
		}
	}
}

// less orders two queued records: bad ones first (they take no time),
// then by ts, then by partition.
func less(a *item, ap int32, b *item, bp int32) bool {
	switch {
	case (a.err != nil) != (b.err != nil):
		return a.err != nil
	case a.err == nil && a.o.TS != b.o.TS:
		return a.o.TS < b.o.TS
	}
	return ap < bp
}

// resumeAll resumes the paused partitions that drained: the merge waits
// for a partition with nothing queued, and must not starve it.
func (m *merge) resumeAll() {
	for _, q := range m.qs {
		if q.paused && q.len() < resumeAt {
			q.paused = false
			m.cl.ResumeFetchPartitions(map[string][]int32{domain.TopicOrders: {q.part}})
		}
	}
}

func (m *merge) finished() bool {
	for _, q := range m.qs {
		if !q.done || q.len() > 0 {
			return false
		}
	}
	return true
}
