package router

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// A batch is routed by two goroutines: the routing loop decodes,
// deduplicates and decides each order in offset order, and an emitter
// encodes the audit records and produces them with the gated orders, so the
// two halves of the work per order run on two cores.

// item is one decided order on its way from the routing loop to the emitter.
type item struct {
	in   *kgo.Record
	o    domain.Order // strings alias in.Value
	v    Verdict
	err  error // the decode or validation error of a REJECT
	ts   int64 // decision time, Unix ms, on the router's clock
	wall time.Time
	took int64 // decision latency, ns
	// lim is the limits' result of a BLOCK, or of an ALLOW that set off
	// a credit warning (creditWarning: 50, 75 or 90).
	lim           limits.Result
	creditWarning int
	// breach: the BLOCK writes its scope's limit-breach record, the
	// scope's blocks-th BLOCK of the block window.
	breach bool
	blocks int64
}

const chunkSize = 256

type chunk struct {
	items [chunkSize]item
	n     int
}

// emitter owns the records and the value arena of the batch in flight.
type emitter struct {
	r    *Router
	ctx  context.Context
	sess *kgo.GroupTransactSession

	in    chan *chunk
	free  chan *chunk
	batch sync.WaitGroup // chunks handed over and not yet emitted
	done  chan struct{}

	arena    []byte
	limitBuf []byte // the BLOCK's limit name being written
	recs     []kgo.Record
	nrec     int
}

const chunksInFlight = 8

func newEmitter(ctx context.Context, r *Router, sess *kgo.GroupTransactSession) *emitter {
	e := &emitter{
		r:    r,
		ctx:  ctx,
		sess: sess,
		in:   make(chan *chunk, chunksInFlight),
		free: make(chan *chunk, chunksInFlight),
		done: make(chan struct{}),
	}
	for range chunksInFlight {
		e.free <- new(chunk)
	}
	go e.run()
	return e
}

// close stops the emitter once it has emitted everything handed over.
func (e *emitter) close() {
	close(e.in)
	<-e.done
}

func (e *emitter) run() {
	defer close(e.done)
	for c := range e.in {
		for i := range c.n {
			it := &c.items[i]
			e.emit(it)
			*it = item{}
		}
		c.n = 0
		e.free <- c
		e.batch.Done()
	}
}

// chunk returns an empty chunk, waiting while the emitter is behind.
func (e *emitter) chunk() *chunk { return <-e.free }

// send hands a chunk over.
func (e *emitter) send(c *chunk) {
	e.batch.Add(1)
	e.in <- c
}

// wait returns once every chunk handed over is emitted. The emitter is then
// idle until the next send, so the routing loop may reset it.
func (e *emitter) wait() { e.batch.Wait() }

// reset starts a batch; the previous batch's records must all be done.
func (e *emitter) reset() {
	e.arena = e.arena[:0]
	e.nrec = 0
}

// drop forgets the records and the arena, for when a failed client may
// still reference them.
func (e *emitter) drop() { e.arena, e.recs, e.nrec = nil, nil, 0 }

// record returns a zeroed record from the batch's pool.
func (e *emitter) record() *kgo.Record {
	if e.nrec == len(e.recs) {
		// Records handed out earlier stay valid in the old array.
		e.recs = make([]kgo.Record, max(2*len(e.recs), 2*e.r.cfg.MaxBatch+64))
		e.nrec = 0
	}
	rec := &e.recs[e.nrec]
	e.nrec++
	*rec = kgo.Record{}
	return rec
}

func (e *emitter) emit(it *item) {
	if it.err != nil {
		e.reject(it)
		return
	}
	o, v := &it.o, &it.v
	a := e.auditOf(it, v.Decision, v.Reason)
	a.ScopeMatches = v.Matches[:v.NMatches]
	a.KillswitchStatus = v.Status
	a.CorrID = v.CorrID
	a.StateVersion = v.Version
	if v.Decision == domain.DecisionBlock {
		e.limitBuf = it.lim.AppendLimit(e.limitBuf[:0])
		a.Limit = unsafe.String(unsafe.SliceData(e.limitBuf), len(e.limitBuf))
		a.LimitValue, a.LimitsVersion = it.lim.Value, it.lim.Version
	}
	e.audit(&a, it.wall, true)
	if it.breach {
		rs := breachSignal(&it.lim, it.ts, it.blocks)
		e.signal(&rs, it)
	}
	if it.creditWarning > 0 {
		rs := creditSignal(&it.lim, o.AccountID, it.creditWarning, it.ts)
		e.signal(&rs, it)
	}
	if v.Decision == domain.DecisionAllow {
		g := e.record()
		g.Topic = domain.TopicGated
		g.Key = it.in.Key
		g.Value = it.in.Value
		g.Timestamp = it.wall
		e.sess.Produce(e.ctx, g, e.r.promise)
	} else if e.r.log.Enabled(e.ctx, slog.LevelDebug) {
		e.r.log.Debug("order not routed", "order_id", o.OrderID, "decision", v.Decision,
			"scope", v.Scope, "corr_id", v.CorrID, "reason", v.Reason)
	}
}

func (e *emitter) audit(a *domain.AuditRecord, wall time.Time, validated bool) {
	off := len(e.arena)
	e.arena = appendAudit(e.arena, a, validated)
	rec := e.record()
	rec.Timestamp = wall
	rec.Topic = domain.TopicAudit
	rec.Key = bytesOf(a.OrderID)
	rec.Value = e.arena[off:len(e.arena):len(e.arena)]
	e.sess.Produce(e.ctx, rec, e.r.promise)
}

// reject sends an undecodable or invalid record to the DLQ, and audits it
// as REJECT when it has an order_id.
func (e *emitter) reject(it *item) {
	in, o, cause := it.in, &it.o, it.err
	dlq := e.record()
	dlq.Timestamp = it.wall
	dlq.Topic = domain.TopicDLQ
	dlq.Value = in.Value
	dlq.Headers = []kgo.RecordHeader{
		{Key: "error", Value: []byte(cause.Error())},
		{Key: "source_topic", Value: []byte(in.Topic)},
		{Key: "source_partition", Value: strconv.AppendInt(nil, int64(in.Partition), 10)},
		{Key: "source_offset", Value: strconv.AppendInt(nil, in.Offset, 10)},
		{Key: "service", Value: []byte(e.r.cfg.Service)},
	}
	e.sess.Produce(e.ctx, dlq, e.r.promise)
	e.r.m.dlq.Inc()
	e.r.log.Warn("order rejected", "order_id", o.OrderID, "scope", "", "corr_id", "",
		"partition", in.Partition, "offset", in.Offset, "err", cause)
	if o.OrderID == "" {
		return
	}
	a := e.auditOf(it, domain.DecisionReject, cause.Error())
	e.audit(&a, it.wall, false)
}

// auditOf starts the audit record of an order: what every decision,
// REJECT included, records of the order and of the router.
func (e *emitter) auditOf(it *item, d domain.Decision, reason string) domain.AuditRecord {
	o := &it.o
	return domain.AuditRecord{
		TS:         it.ts,
		Decision:   d,
		OrderID:    o.OrderID,
		AccountID:  o.AccountID,
		Symbol:     o.Symbol,
		Strategy:   o.Strategy,
		OrderTS:    o.TS,
		OrderType:  string(o.Type),
		Reason:     reason,
		Service:    e.r.cfg.Service,
		DecisionNS: max(it.took, 1),
		Partition:  it.in.Partition,
		Offset:     it.in.Offset,
	}
}
