// Package router is riskgate's hot path: it enforces the latest kill state on
// every order of orders.v1. It bootstraps killswitch.state.v1 before routing
// anything (fail closed), then, in a consumer group, decides each order
// (ALLOW, DROP, THROTTLE, DUPLICATE or REJECT) and writes the ALLOWed order to
// orders.gated.v1, one audit record per order to audit.v1, undecodable input
// to orders.dlq.v1 and the dedup window's changelog, all with the consumed
// offsets in one Kafka transaction, so a crash neither loses nor doubles a
// decision.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
)

// Defaults of Config.
const (
	DefaultGroup              = "riskgate-router"
	DefaultService            = "riskgate-router"
	DefaultDedupWindow        = time.Hour
	DefaultMaxBatch           = 5000
	DefaultTransactionTimeout = 10 * time.Second
)

// Config configures a Router. Only Kafka is required.
type Config struct {
	// Kafka says how to reach the cluster.
	Kafka kafka.Config
	// Group is the consumer group on orders.v1. Default "riskgate-router".
	Group string
	// Service names the router in audit records. Default "riskgate-router".
	Service string
	// Log receives the router's logs. Default slog.Default().
	Log *slog.Logger
	// Registerer gets the router's metrics; nil registers nothing. Never
	// the global registry unless passed explicitly, so several routers can
	// live in one process.
	Registerer prometheus.Registerer
	// InstanceID names this instance stably across restarts (for example
	// the pod name of a StatefulSet); it must be unique among live
	// instances of the group. When set, the router is a static group member
	// with transactional id "<Group>-<InstanceID>", so a restarted instance
	// takes its partitions back at once and fences its predecessor's open
	// transaction instead of waiting for timeouts. Empty: a dynamic member
	// with a random transactional id.
	InstanceID string
	// DedupWindow is how long an order_id is remembered. Default 1h. The
	// changelog topic's retention must be at least this long.
	DedupWindow time.Duration
	// MaxBatch caps the orders decided in one transaction. Default 5000.
	MaxBatch int
	// TransactionTimeout bounds how long a crashed instance's open
	// transaction blocks read_committed readers when no successor fences it.
	// Default 10s.
	TransactionTimeout time.Duration
	// Clock drives the dedup window and the throttles' token buckets.
	// Default time.Now.
	Clock func() time.Time
}

// Router decides orders. Build it with New and run it with Run.
type Router struct {
	cfg      Config
	log      *slog.Logger
	table    *Table
	follower *killstate.Follower
	m        *metrics
	hash     hasher
	txnID    string
	ready    atomic.Bool
	// realClock: Config.Clock was defaulted, so one time.Now serves both
	// the decision time and its latency.
	realClock bool

	// events carries group callbacks to the routing loop, which owns
	// everything below it.
	evMu   sync.Mutex
	events []groupEvent

	stores     map[int32]*dedupStore
	partitions int32
	arena      []byte
	recs       []kgo.Record
	nrec       int
	changelog  [][]byte
	clDirty    []bool
	counts     [len(decisionKinds)]float64
	lag        map[int32]int64

	prodMu  sync.Mutex
	prodErr error
	promise func(*kgo.Record, error)
}

type groupEvent struct {
	assigned bool
	parts    []int32
}

// New validates cfg, fills its defaults and registers the metrics.
func New(cfg Config) (*Router, error) {
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Service == "" {
		cfg.Service = DefaultService
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = DefaultDedupWindow
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.TransactionTimeout <= 0 {
		cfg.TransactionTimeout = DefaultTransactionTimeout
	}
	realClock := cfg.Clock == nil
	if realClock {
		cfg.Clock = time.Now
	}
	if cfg.InstanceID != "" {
		if err := domain.ValidateID(cfg.InstanceID); err != nil {
			return nil, fmt.Errorf("router instance id: %w", err)
		}
	}
	r := &Router{
		cfg:    cfg,
		log:    cfg.Log,
		table:  NewTable(cfg.Clock),
		hash:   newHasher(),
		stores: make(map[int32]*dedupStore),
		lag:    make(map[int32]int64),

		realClock: realClock,
	}
	r.txnID = cfg.Group + "-" + cfg.InstanceID
	if cfg.InstanceID == "" {
		r.txnID = cfg.Group + "-" + domain.NewID()
	}
	r.promise = r.onProduced
	m, err := newMetrics(cfg.Registerer, r.table)
	if err != nil {
		return nil, err
	}
	r.m = m
	r.follower = killstate.NewFollower(cfg.Kafka, r.table, r.log)
	return r, nil
}

// Ready reports whether the kill state is bootstrapped to the high watermark
// and orders are being routed.
func (r *Router) Ready() bool { return r.ready.Load() }

// Table is the router's kill-state table.
func (r *Router) Table() *Table { return r.table }

// Run bootstraps the kill state, then routes orders until ctx ends. It
// returns nil on cancellation and an error only when it cannot go on.
func (r *Router) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	followErr := make(chan error, 1)
	wg.Go(func() { followErr <- r.follower.Run(ctx) })

	select {
	case <-r.follower.ReadyC():
	case err := <-followErr:
		if err == nil {
			err = ctx.Err()
		}
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bootstrap kill state: %w", err)
	case <-ctx.Done():
		return nil
	}
	r.m.bootstrap.Set(r.follower.BootstrapDuration().Seconds())

	n, err := ensureChangelog(ctx, r.cfg.Kafka, r.cfg.DedupWindow, r.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r.partitions = n

	defer func() {
		r.ready.Store(false)
		r.m.ready.Set(0)
	}()
	backoff := 250 * time.Millisecond
	for {
		err := r.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return fatal.error
		}
		r.log.Error("routing session failed; starting a new one", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// fatalError ends Run instead of starting a new session.
type fatalError struct{ error }

// partitioner writes the dedup changelog to the partition of the orders it
// records and hashes keys (like Kafka's default) for every other topic.
type partitioner struct{}

var (
	manualPartitioner = kgo.ManualPartitioner()
	keyPartitioner    = kgo.StickyKeyPartitioner(nil)
)

func (partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == domain.TopicDedup {
		return manualPartitioner.ForTopic(t)
	}
	return keyPartitioner.ForTopic(t)
}

func (r *Router) newSession() (*kgo.GroupTransactSession, error) {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(domain.TopicOrders),
		kgo.TransactionalID(r.txnID),
		kgo.TransactionTimeout(r.cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.BlockRebalanceOnPoll(),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(partitioner{}),
		kgo.MaxBufferedRecords(3*r.cfg.MaxBatch + 1024),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.pushEvent(true, m)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.pushEvent(false, m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.pushEvent(false, m)
		}),
	}
	if r.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(r.cfg.InstanceID))
	}
	opts = append(r.cfg.Kafka.Opts(), opts...)
	s, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, fatalError{fmt.Errorf("router session for group %s: %w", r.cfg.Group, err)}
	}
	return s, nil
}

func (r *Router) pushEvent(assigned bool, m map[string][]int32) {
	parts := m[domain.TopicOrders]
	if len(parts) == 0 {
		return
	}
	r.evMu.Lock()
	r.events = append(r.events, groupEvent{assigned, append([]int32(nil), parts...)})
	r.evMu.Unlock()
}

// runSession routes with one transactional session until it fails or ctx
// ends. Dedup state is rebuilt from the changelog for every session, since
// a new session starts from the committed offsets.
func (r *Router) runSession(ctx context.Context) error {
	sess, err := r.newSession()
	if err != nil {
		return err
	}
	clear(r.stores)
	clear(r.lag)
	r.evMu.Lock()
	r.events = nil
	r.evMu.Unlock()
	r.arena = nil
	defer func() {
		sess.Close()
		// Close revokes everything; the next session replays.
		r.evMu.Lock()
		r.events = nil
		r.evMu.Unlock()
	}()
	r.ready.Store(true)
	r.m.ready.Set(1)
	r.log.Info("routing orders", "group", r.cfg.Group, "transactional_id", r.txnID,
		"scopes", r.table.Len(), "bootstrap", r.follower.BootstrapDuration().Round(time.Millisecond))

	for {
		fetches := sess.PollRecords(ctx, r.cfg.MaxBatch)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			// Close leaves the group, which needs the rebalance this poll
			// blocked.
			sess.AllowRebalance()
			return ctx.Err()
		}
		fetches.EachError(func(t string, p int32, err error) {
			r.log.Warn("orders fetch error", "topic", t, "partition", p, "err", err)
		})
		if err := r.applyEvents(ctx); err != nil {
			sess.AllowRebalance()
			return err
		}
		if fetches.NumRecords() == 0 {
			sess.AllowRebalance()
			continue
		}
		if err := r.transact(ctx, sess, fetches); err != nil {
			return err
		}
		sess.AllowRebalance()
	}
}

// applyEvents drops the dedup state of revoked partitions and replays the
// changelog of assigned ones, in callback order.
func (r *Router) applyEvents(ctx context.Context) error {
	r.evMu.Lock()
	evs := r.events
	r.events = nil
	r.evMu.Unlock()
	var replay []int32
	for _, ev := range evs {
		for _, p := range ev.parts {
			delete(r.stores, p)
			delete(r.lag, p)
		}
		if ev.assigned {
			replay = append(replay, ev.parts...)
		} else {
			replay = removeAll(replay, ev.parts)
		}
	}
	if len(replay) == 0 {
		return nil
	}
	return r.replay(ctx, replay)
}

func removeAll(s, drop []int32) []int32 {
	out := s[:0]
	for _, p := range s {
		keep := true
		for _, d := range drop {
			if p == d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, p)
		}
	}
	return out
}

func (r *Router) replay(ctx context.Context, parts []int32) error {
	start := time.Now()
	stores, err := replayChangelog(ctx, r.cfg.Kafka, parts, r.hash, r.cfg.Clock().Add(-r.cfg.DedupWindow).UnixMilli())
	if err != nil {
		return fmt.Errorf("replay dedup changelog for partitions %v: %w", parts, err)
	}
	n := 0
	for p, s := range stores {
		r.stores[p] = s
		n += s.len()
	}
	r.log.Info("dedup window replayed", "partitions", parts, "ids", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// transact decides one polled batch in one transaction.
func (r *Router) transact(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches) error {
	now := r.cfg.Clock()
	cutoff := now.Add(-r.cfg.DedupWindow).UnixMilli()
	for _, s := range r.stores {
		s.expire(cutoff)
		s.begin()
	}
	r.arena = r.arena[:0]
	r.nrec = 0
	r.counts = [len(decisionKinds)]float64{}
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
			store = r.stores[fp.Partition]
			store.begin()
		}
		for _, rec := range fp.Records {
			r.route(ctx, sess, rec, store, cutoff)
		}
		last := fp.Records[len(fp.Records)-1].Offset
		r.lag[fp.Partition] = max(fp.HighWatermark-last-1, 0)
	})
	if loopErr == nil {
		r.flushChangelog(ctx, sess)
	}
	r.prodMu.Lock()
	prodErr := r.prodErr
	r.prodMu.Unlock()
	commit := loopErr == nil && prodErr == nil
	committed, err := sess.End(ctx, kgo.TransactionEndTry(commit))
	if !committed {
		for _, s := range r.stores {
			s.rollback()
		}
		r.m.aborts.Inc()
	}
	switch {
	case err != nil:
		// The producer may be fenced or failed: a new session re-inits it.
		// Records of this batch may still be referenced by the old client.
		r.arena, r.recs, r.nrec = nil, nil, 0
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

// record returns a zeroed record from the batch's pool.
func (r *Router) record() *kgo.Record {
	if r.nrec == len(r.recs) {
		// Records handed out earlier stay valid in the old array.
		r.recs = make([]kgo.Record, max(2*len(r.recs), 3*r.cfg.MaxBatch+64))
		r.nrec = 0
	}
	rec := &r.recs[r.nrec]
	r.nrec++
	*rec = kgo.Record{}
	return rec
}

func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// route decides one order and produces its records into the transaction.
func (r *Router) route(ctx context.Context, sess *kgo.GroupTransactSession, in *kgo.Record, store *dedupStore, cutoff int64) {
	start := time.Now()
	o, err := DecodeOrder(in.Value)
	if err != nil {
		r.reject(ctx, sess, in, &o, err, start)
		return
	}
	now := start
	if !r.realClock {
		now = r.cfg.Clock()
	}
	var v Verdict
	key := r.hash.key(o.OrderID, o.Type == domain.OrderCancel)
	if store.has(key, cutoff) {
		v = Verdict{Decision: domain.DecisionDuplicate, Reason: ReasonDuplicate}
	} else {
		v = r.table.Decide(&o, now.UnixNano())
		store.add(key, now.UnixMilli())
		r.appendChangelog(ctx, sess, in.Partition, now.UnixMilli(), o.OrderID, o.Type == domain.OrderCancel)
	}
	took := time.Since(start)
	r.m.decisionSec.Observe(took.Seconds())
	r.counts[decisionIndex(v.Decision)]++

	a := domain.AuditRecord{
		TS:               now.UnixMilli(),
		Decision:         v.Decision,
		OrderID:          o.OrderID,
		AccountID:        o.AccountID,
		Symbol:           o.Symbol,
		Strategy:         o.Strategy,
		OrderTS:          o.TS,
		OrderType:        string(o.Type),
		ScopeMatches:     v.Matches[:v.NMatches],
		KillswitchStatus: v.Status,
		Reason:           v.Reason,
		CorrID:           v.CorrID,
		StateVersion:     v.Version,
		Service:          r.cfg.Service,
		DecisionNS:       max(took.Nanoseconds(), 1),
		Partition:        in.Partition,
		Offset:           in.Offset,
	}
	r.produceAudit(ctx, sess, &a)
	if v.Decision == domain.DecisionAllow {
		g := r.record()
		g.Topic = domain.TopicGated
		g.Key = in.Key
		g.Value = in.Value
		sess.Produce(ctx, g, r.promise)
	} else if r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.Debug("order not routed", "order_id", o.OrderID, "decision", v.Decision,
			"scope", v.Scope, "corr_id", v.CorrID, "reason", v.Reason)
	}
}

func (r *Router) produceAudit(ctx context.Context, sess *kgo.GroupTransactSession, a *domain.AuditRecord) {
	off := len(r.arena)
	r.arena = appendAudit(r.arena, a)
	rec := r.record()
	rec.Topic = domain.TopicAudit
	rec.Key = bytesOf(a.OrderID)
	rec.Value = r.arena[off:len(r.arena):len(r.arena)]
	sess.Produce(ctx, rec, r.promise)
}

// reject sends an undecodable or invalid record to the DLQ, and audits it as
// REJECT when it has an order_id.
func (r *Router) reject(ctx context.Context, sess *kgo.GroupTransactSession, in *kgo.Record, o *domain.Order, cause error, start time.Time) {
	dlq := r.record()
	dlq.Topic = domain.TopicDLQ
	dlq.Value = in.Value
	dlq.Headers = []kgo.RecordHeader{
		{Key: "error", Value: []byte(cause.Error())},
		{Key: "source_topic", Value: []byte(in.Topic)},
		{Key: "source_partition", Value: strconv.AppendInt(nil, int64(in.Partition), 10)},
		{Key: "source_offset", Value: strconv.AppendInt(nil, in.Offset, 10)},
		{Key: "service", Value: []byte(r.cfg.Service)},
	}
	sess.Produce(ctx, dlq, r.promise)
	r.counts[decisionIndex(domain.DecisionReject)]++
	r.m.dlq.Inc()
	r.log.Warn("order rejected", "order_id", o.OrderID, "scope", "", "corr_id", "",
		"partition", in.Partition, "offset", in.Offset, "err", cause)
	if o.OrderID == "" {
		return
	}
	took := time.Since(start)
	r.m.decisionSec.Observe(took.Seconds())
	a := domain.AuditRecord{
		TS:        r.cfg.Clock().UnixMilli(),
		Decision:  domain.DecisionReject,
		OrderID:   o.OrderID,
		AccountID: o.AccountID,
		Symbol:    o.Symbol,
		Strategy:  o.Strategy,
		OrderTS:   o.TS,
		OrderType: string(o.Type),
		Reason:    cause.Error(),
		Service:   r.cfg.Service,
		// A reject is decided by the decoder alone.
		DecisionNS: max(took.Nanoseconds(), 1),
		Partition:  in.Partition,
		Offset:     in.Offset,
	}
	r.produceAudit(ctx, sess, &a)
}

// appendChangelog adds an identity to its partition's changelog record,
// producing the record early when it grows large.
func (r *Router) appendChangelog(ctx context.Context, sess *kgo.GroupTransactSession, p int32, ms int64, id string, cancel bool) {
	for int(p) >= len(r.changelog) {
		r.changelog = append(r.changelog, nil)
		r.clDirty = append(r.clDirty, false)
	}
	if !r.clDirty[p] {
		r.changelog[p] = beginChangelog(r.changelog[p][:0], ms)
		r.clDirty[p] = true
	}
	r.changelog[p] = appendChangelogID(r.changelog[p], id, cancel)
	if len(r.changelog[p]) >= changelogMaxBytes {
		r.produceChangelog(ctx, sess, p)
	}
}

func (r *Router) flushChangelog(ctx context.Context, sess *kgo.GroupTransactSession) {
	for p := range r.changelog {
		if r.clDirty[p] {
			r.produceChangelog(ctx, sess, int32(p))
		}
	}
}

func (r *Router) produceChangelog(ctx context.Context, sess *kgo.GroupTransactSession, p int32) {
	off := len(r.arena)
	r.arena = append(r.arena, r.changelog[p]...)
	r.changelog[p] = r.changelog[p][:0]
	r.clDirty[p] = false
	rec := r.record()
	rec.Topic = domain.TopicDedup
	rec.Partition = p
	rec.Value = r.arena[off:len(r.arena):len(r.arena)]
	sess.Produce(ctx, rec, r.promise)
}
