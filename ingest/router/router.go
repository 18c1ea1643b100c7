// Package router is riskgate's hot path: it enforces the latest kill state
// and the pre-trade limits (ingest/limits) on every order of orders.v1. It
// bootstraps killswitch.state.v1, risk.limits.v1 and marketdata.ref.v1 before
// routing anything (fail closed), then, in a consumer group, decides each
// order (ALLOW, BLOCK, DROP, THROTTLE, DUPLICATE or REJECT) and writes the
// ALLOWed order to orders.gated.v1, one audit record per order to audit.v1,
// undecodable input to orders.dlq.v1, limit breaches and credit warnings to
// risk_signals.v1 and the changelog (the dedup window and the limits' usage),
// all with the consumed offsets in one Kafka transaction, so a crash neither
// loses nor doubles a decision nor resets a budget.
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/retry"
)

// Defaults of Config.
const (
	DefaultGroup              = "riskgate-router"
	DefaultService            = "riskgate-router"
	DefaultDedupWindow        = time.Hour
	DefaultMaxBatch           = 10000
	DefaultTransactionTimeout = 10 * time.Second
	DefaultMaxStateAge        = 30 * time.Second
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
	// changelog topic's retention must be at least this long. The window
	// costs about 56 bytes of memory per order it holds (1h at 1,000
	// orders/s: 200 MB across the group).
	DedupWindow time.Duration
	// DedupTopic is the dedup window's changelog, partitioned like
	// orders.v1; created (retention twice the window) if missing. Default
	// domain.TopicDedup. Routers of different groups need different topics.
	DedupTopic string
	// MaxBatch caps the orders decided in one transaction. Default 10000:
	// a transaction's fixed cost (offset commit, markers) is then small per
	// order, and under light load batches stay small anyway.
	MaxBatch int
	// TransactionTimeout bounds how long a crashed instance's open
	// transaction blocks read_committed readers when no successor fences it.
	// Default 10s.
	TransactionTimeout time.Duration
	// Clock drives the dedup window and the throttles' token buckets.
	// Default time.Now.
	Clock func() time.Time
	// MaxStateAge bounds how old the kill state, and the limits, may be:
	// when the router cannot confirm for longer than this that it has read
	// every record of killswitch.state.v1 (or, with limits, of
	// risk.limits.v1 or marketdata.ref.v1) — the topic cannot be read, or
	// its end offsets cannot be listed — it stops routing and is not ready,
	// until it can. Default 30s. Each topic is probed every MaxStateAge/4,
	// at most every second.
	MaxStateAge time.Duration
	// OrderBounds are the largest qty and price an order may have; beyond
	// them it is REJECTed. Zero fields mean domain's defaults. The
	// detector must be given the same bounds.
	OrderBounds domain.OrderBounds
	// Limits are the pre-trade limits' defaults and ceilings (DESIGN §9,
	// deploy/limits.yaml); nil means limits.Default().
	Limits *limits.Config
	// NoLimits turns the pre-trade limits off: no BLOCK, no usage in the
	// changelog, no limits topics read. For measuring the path without
	// them.
	NoLimits bool
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
	// replaying is the partitions whose changelog is being replayed (nil:
	// none): their orders wait, so the router is not ready.
	replaying atomic.Pointer[[]int32]
	// realClock: Config.Clock was defaulted, so decision times derive from
	// the monotonic readings taken for the latency anyway.
	realClock bool

	// events carries group callbacks to the routing loop, which owns
	// everything below it.
	evMu   sync.Mutex
	events []groupEvent

	stores    map[int32]*dedupStore
	keys      [chunkSize]dedupKey // dedup identities of the chunk in flight
	owned     map[int32]struct{}  // orders.v1 partitions assigned to this instance
	nparts    int                 // partitions of orders.v1
	clParts   int32               // partitions of the dedup changelog
	em        *emitter
	changelog *changelog
	lim       *limits.Engine // nil: Config.NoLimits
	prep      [chunkSize]limits.Prepared
	cps       []checkpointState // by partition
	cpDue     []int32           // partitions checkpointed in the transaction in flight
	evicted   time.Time
	blocks    []float64 // by limits.Kind, in the transaction in flight
	breaches  *breachGate
	feeds     []*killstate.Follower // risk.limits.v1 and marketdata.ref.v1; none without limits
	// followed is every topic the router must hold current to route: the
	// kill state, and the limits' topics when it enforces limits.
	followed []*killstate.Follower
	counts   [len(decisionKinds)]float64
	lag      map[int32]int64
	rebuilds map[int32]*rebuild // credit rebuilds in flight, by partition

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
	if cfg.DedupTopic == "" {
		cfg.DedupTopic = domain.TopicDedup
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.TransactionTimeout <= 0 {
		cfg.TransactionTimeout = DefaultTransactionTimeout
	}
	if cfg.MaxStateAge <= 0 {
		cfg.MaxStateAge = DefaultMaxStateAge
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
	if err := cfg.OrderBounds.Validate(); err != nil {
		return nil, fmt.Errorf("router order bounds: %w", err)
	}
	r := &Router{
		cfg:      cfg,
		log:      cfg.Log,
		table:    NewTable(cfg.Clock),
		hash:     newHasher(),
		stores:   make(map[int32]*dedupStore),
		owned:    make(map[int32]struct{}),
		lag:      make(map[int32]int64),
		rebuilds: make(map[int32]*rebuild),

		realClock: realClock,
	}
	r.txnID = cfg.Group + "-" + cfg.InstanceID
	if cfg.InstanceID == "" {
		r.txnID = cfg.Group + "-" + domain.NewID()
	}
	r.promise = r.onProduced
	r.changelog = newChangelog(cfg.DedupTopic, r.promise)
	if !cfg.NoLimits {
		lc := limits.Default()
		if cfg.Limits != nil {
			lc = *cfg.Limits
		}
		eng, err := limits.New(lc)
		if err != nil {
			return nil, fmt.Errorf("router limits: %w", err)
		}
		r.lim = eng
	}
	r.breaches = newBreachGate()
	r.blocks = make([]float64, len(limits.Kinds())+1)
	probe := killstate.ProbeEvery(min(cfg.MaxStateAge/4, time.Second))
	r.follower = killstate.NewFollower(cfg.Kafka, r.table, r.log, probe)
	if r.lim != nil {
		r.feeds = limitsFollowers(cfg.Kafka, r.lim, r.log, probe)
	}
	r.followed = append([]*killstate.Follower{r.follower}, r.feeds...)
	m, err := newMetrics(cfg.Registerer, r.table, r.follower, r.feeds, r.lim, r.Ready)
	if err != nil {
		return nil, err
	}
	r.m = m
	return r, nil
}

// Ready reports whether the kill state (and the limits' topics) are
// bootstrapped to the high watermark, none older than Config.MaxStateAge,
// and orders are being routed: the router is in its group and not
// replaying the changelog of partitions it was assigned.
func (r *Router) Ready() bool {
	return r.ready.Load() && r.replaying.Load() == nil && r.feedsReady() && r.checkState() == nil
}

// Table is the router's kill-state table.
func (r *Router) Table() *Table { return r.table }

// Run bootstraps the kill state, then routes orders until ctx ends. It
// returns nil on cancellation and an error only when it cannot go on.
func (r *Router) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopFollower, err := r.follower.Start(ctx)
	defer stopFollower()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bootstrap kill state: %w", err)
	}
	r.m.bootstrap.Set(r.follower.BootstrapDuration().Seconds())
	if r.lim != nil {
		// Fail closed: no order is decided before the limits and the
		// reference prices are read to their high watermarks.
		stopFeeds, err := r.startFeeds(ctx)
		defer stopFeeds()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}

	n, err := ensureChangelog(ctx, r.cfg.Kafka, r.cfg.DedupTopic, r.cfg.DedupWindow, r.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r.changelog.resize(int(n))
	r.nparts = int(n)
	r.clParts = n

	b := sessionRetry.New()
	for {
		started := time.Now()
		err := r.runSession(ctx)
		if ctx.Err() != nil {
			r.leaveGroup()
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return fatal.error
		}
		if errors.Is(err, errStateStale) {
			// Fail closed: out of the group, so instances that can read
			// the state take the partitions; back once this one can.
			r.log.Error("routing stopped: what the router must hold current is too old; resuming once it is read again", "err", err)
			if !r.waitState(ctx) {
				return nil
			}
			r.log.Info("kill state and limits current again; routing resumes")
			b.Reset()
			continue
		}
		wait := b.NextAfter(started)
		r.log.Error("routing session failed; starting a new one", "err", err, "retry_in", wait.Round(time.Millisecond))
		if retry.Wait(ctx, wait) != nil {
			return nil
		}
	}
}

// sessionRetry is the wait between failed routing sessions: short, since
// orders wait meanwhile, with jitter so that a group's instances that lost
// Kafka together do not rejoin in lockstep; a session that routed for a
// minute starts the waits over.
var sessionRetry = retry.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second, StableAfter: time.Minute}

// leaveGroup makes a static member leave the group on a clean shutdown, so
// its partitions move to the other instances at once instead of after the
// session timeout. A crashed instance does not leave: restarted under the
// same InstanceID it takes its partitions straight back.
func (r *Router) leaveGroup() {
	if r.cfg.InstanceID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := r.cfg.Kafka.NewClient()
	if err != nil {
		r.log.Warn("leave group", "group", r.cfg.Group, "err", err)
		return
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).LeaveGroup(ctx, kadm.LeaveGroup(r.cfg.Group).InstanceIDs(r.cfg.InstanceID).Reason("router shutting down"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		r.log.Warn("leave group", "group", r.cfg.Group, "instance_id", r.cfg.InstanceID, "err", err)
	}
}

// fatalError ends Run instead of starting a new session.
type fatalError struct{ error }

// partitioner writes the dedup changelog to the partition of the orders it
// records and hashes keys (like Kafka's default) for every other topic.
type partitioner struct{ changelog string }

var (
	manualPartitioner = kgo.ManualPartitioner()
	keyPartitioner    = kgo.StickyKeyPartitioner(nil)
)

// ForTopic implements kgo.Partitioner.
func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.changelog {
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
		// Bounds how long a new assignment can wait for its first poll.
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(partitioner{r.cfg.DedupTopic}),
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
	s, err := r.cfg.Kafka.NewGroupTransactSession(opts...)
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

// idlePoll bounds how long the routing loop waits for orders before it
// comes round to the work an idle router still has.
const idlePoll = time.Second

// runSession routes with one transactional session until it fails or ctx
// ends. Dedup state is rebuilt from the changelog for every session, since
// a new session starts from the committed offsets.
func (r *Router) runSession(ctx context.Context) error {
	// Reset before the session exists: its client joins the group at once,
	// and its first assignment must not be lost.
	clear(r.stores)
	clear(r.lag)
	if r.lim != nil {
		for p := range r.owned {
			r.lim.Revoke(p)
		}
	}
	r.setOwned(nil, false)
	r.evMu.Lock()
	r.events = nil
	r.evMu.Unlock()
	sess, err := r.newSession()
	if err != nil {
		return err
	}
	// Fence a predecessor with this transactional id (this instance before
	// a crash) before anything else: its open transaction is aborted now,
	// so neither the group's offsets nor the changelog replay wait for it
	// to time out.
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		sess.Close()
		return fmt.Errorf("init transactional producer %s: %w", r.txnID, err)
	}
	r.em = newEmitter(ctx, r, sess)
	defer func() {
		r.ready.Store(false)
		r.stopRebuilds(nil, true)
		r.em.close()
		// Close leaves the group, which waits for a rebalance that a poll
		// may still block (a transaction ended by an error or by ctx).
		sess.AllowRebalance()
		sess.Close()
		// Close revokes everything; the next session replays.
		r.evMu.Lock()
		r.events = nil
		r.evMu.Unlock()
	}()
	r.ready.Store(true)
	r.log.Info("routing orders", "group", r.cfg.Group, "transactional_id", r.txnID,
		"scopes", r.table.Len(), "bootstrap", r.follower.BootstrapDuration().Round(time.Millisecond))

	for {
		// A poll returns only with orders, so it is bounded: an idle
		// router must still replay the partitions it is assigned and
		// checkpoint their usage (checkpointIdle).
		pctx, cancel := context.WithTimeout(ctx, idlePoll)
		fetches := sess.PollRecords(pctx, r.cfg.MaxBatch)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			// Close leaves the group, which needs the rebalance this poll
			// blocked.
			sess.AllowRebalance()
			return ctx.Err()
		}
		fetches.EachError(func(t string, p int32, err error) {
			if t == "" && p == -1 && errors.Is(err, context.DeadlineExceeded) {
				return // the poll's bound, injected by the client
			}
			r.log.Warn("orders fetch error", "topic", t, "partition", p, "err", err)
		})
		if err := r.applyEvents(ctx); err != nil {
			sess.AllowRebalance()
			return err
		}
		r.applyRebuilds()
		if fetches.NumRecords() == 0 {
			if err := r.checkpointIdle(ctx, sess); err != nil {
				sess.AllowRebalance()
				return err
			}
			sess.AllowRebalance()
			continue
		}
		if err := r.checkState(); err != nil {
			// Nothing of this poll is decided: a later session reads it
			// again from the committed offsets.
			sess.AllowRebalance()
			return err
		}
		if err := r.transact(ctx, sess, fetches); err != nil {
			return err
		}
		sess.AllowRebalance()
	}
}

// applyEvents drops the dedup state of revoked partitions and replays the
// changelog of assigned ones, in callback order, and scales the throttles to
// the partitions now owned.
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
			if r.lim != nil {
				// Assigned: replay restores it from nothing.
				r.lim.Revoke(p)
			}
		}
		r.setOwned(ev.parts, ev.assigned)
		r.stopRebuilds(ev.parts, false)
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

// setOwned records parts as assigned to or revoked from this instance (nil
// and false: none owned) and gives the table its share of the partitions,
// so the group's instances together enforce a throttle's rate.
func (r *Router) setOwned(parts []int32, assigned bool) {
	if parts == nil && !assigned {
		clear(r.owned)
	}
	for _, p := range parts {
		if assigned {
			r.owned[p] = struct{}{}
			// orders.v1 may have gained partitions since the start.
			r.nparts = max(r.nparts, int(p)+1)
		} else {
			delete(r.owned, p)
		}
	}
	r.table.SetPartitionShare(len(r.owned), r.nparts)
	if r.lim != nil {
		r.lim.SetPartitionShare(len(r.owned), r.nparts)
	}
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

// unrestored fails the limits closed on a usage record of the changelog
// that does not restore: the orders it counted were decided at most a
// transaction timeout after the record's timestamp (the start of its
// transaction; a longer one is aborted by the broker and not replayed).
func (r *Router) unrestored(rec *kgo.Record, err error) {
	r.log.Error("limits usage record of the changelog does not restore: failing closed on the usage it held (see /readyz)",
		"partition", rec.Partition, "offset", rec.Offset, "err", err)
	r.lim.FailUsageClosed(rec.Partition, rec.Timestamp.Add(r.cfg.TransactionTimeout).UnixMilli(),
		"offset "+strconv.FormatInt(rec.Offset, 10)+": "+err.Error())
}

func (r *Router) replay(ctx context.Context, parts []int32) error {
	r.replaying.Store(&parts)
	defer r.replaying.Store(nil)
	if err := r.coverChangelog(ctx, parts); err != nil {
		return err
	}
	start := time.Now()
	if r.lim != nil {
		for _, p := range parts {
			r.lim.Revoke(p)
		}
	}
	now := r.cfg.Clock()
	cutoff := now.Add(-r.cfg.DedupWindow).UnixMilli()
	stores, lost, err := r.changelog.replay(ctx, r.cfg.Kafka, parts, r.hash, cutoff,
		r.lim, now.Add(-r.usageReplay()).UnixMilli(), r.unrestored)
	if err != nil {
		return fmt.Errorf("replay dedup changelog for partitions %v: %w", parts, err)
	}
	if len(lost) > 0 {
		if err := r.rebuildDedup(ctx, stores, lost, cutoff); err != nil {
			return fmt.Errorf("rebuild dedup window for partitions %v: %w", parts, err)
		}
	}
	n := 0
	for p, s := range stores {
		r.stores[p] = s
		n += s.len()
		// A checkpoint soon, so the next replay need not go back further.
		r.checkpointState(p).reset()
	}
	r.log.Info("dedup window replayed", "partitions", parts, "ids", n, "took", time.Since(start).Round(time.Millisecond))
	r.startRebuilds(ctx, parts)
	return nil
}
