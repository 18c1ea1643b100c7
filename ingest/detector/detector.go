package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/router"
)

// Config configures a Detector.
type Config struct {
	// Kafka says how to reach the cluster.
	Kafka kafka.Config
	// Group is the consumer group the detector instances share.
	// Default "riskgate-detector".
	Group string
	// InstanceID names this instance stably across restarts (for example
	// the pod name of a StatefulSet); it must be unique among live
	// instances of the group. When set, the detector is a static group
	// member: a restarted instance (after a crash, a SIGKILL) takes its
	// partitions back at once instead of leaving them unassigned until the
	// group's session timeout, during which nobody detects on them. A
	// static member that stops does not leave the group either, so the
	// name must be one the instance comes back under. Empty: a dynamic
	// member, which hands its partitions over at once on a clean stop.
	InstanceID string
	// Signaler delivers breaches and normals. Required.
	Signaler Signaler
	// Rules are the detection rules; the zero value means DefaultRules.
	Rules Rules
	// Log receives the detector's logs. Default slog.Default().
	Log *slog.Logger
	// Registerer, when set, gets the detector's Prometheus metrics.
	Registerer prometheus.Registerer
	// Partitions is the partition count used when Run creates the
	// repartition topic. Default 3.
	Partitions int32
	// Now is the wall clock that future-skewed timestamps are clamped to.
	// Default time.Now.
	Now func() time.Time
	// TickInterval is how often idle incidents are re-evaluated and idle
	// keys evicted. Default 1 s.
	TickInterval time.Duration
	// OrderBounds are the largest qty and price an order may have; an
	// order beyond them is not counted (the router REJECTs it). Zero fields
	// mean domain's defaults; give the routers the same bounds.
	OrderBounds domain.OrderBounds
	// EscalateBlocks is how many pre-trade limit BLOCKs of one scope in a
	// router's minute escalate to a kill with trigger limit (any
	// credit_limit BLOCK does at once); see limitwatch.go. Default
	// DefaultEscalateBlocks (10); negative turns escalation off.
	EscalateBlocks int
}

// DefaultGroup is the consumer group of Config.Group's default.
const DefaultGroup = "riskgate-detector"

// Detector consumes orders.v1 in a consumer group, counts each order for its
// account and forwards it through the repartition topic to the instances
// owning its symbol, strategy and GLOBAL keys, evaluates every rule on every
// order, and signals breaches and normals once per incident.
type Detector struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	table  *killstate.Table
	follow *killstate.Follower
	disp   *dispatcher

	mu     sync.Mutex // guards engine, parts and the clock below
	engine *Engine
	parts  map[tp]*partState
	nparts map[string]int
	// maxEvent is the newest admitted event time and wallAtMax the wall time
	// it was seen at: ticks extrapolate event time from them.
	maxEvent  int64
	wallAtMax time.Time
	consumed  time.Time // when the batch being evaluated was fetched

	cl       *kgo.Client
	adm      *kadm.Client // its own client: the group may call adjustOffsets before cl is set
	joined   atomic.Bool
	rebuilds atomic.Int64
	partsKey kgo.Partitioner

	forwardSym, forwardStrat, forwardGlobal bool
	late, clamped, evaluated                atomic.Int64
}

type tp struct {
	topic string
	part  int32
}

// partState is one assigned partition: where its rebuild ends and its
// stream time (the newest order ts seen), against which lateness is judged.
type partState struct {
	liveFrom   int64
	streamTime int64
	// lastSource, for repartition partitions: the newest source offset
	// counted per dimension and orders.v1 partition, to drop records
	// forwarded twice.
	lastSource map[sourceKey]int64
}

type sourceKey struct {
	dim  domain.ScopeType
	part int32
}

// New checks the configuration and builds a Detector; Run starts it.
func New(cfg Config) (*Detector, error) {
	if cfg.Signaler == nil {
		return nil, errors.New("detector: Signaler is required")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = time.Second
	}
	if cfg.EscalateBlocks == 0 {
		cfg.EscalateBlocks = DefaultEscalateBlocks
	}
	if err := cfg.OrderBounds.Validate(); err != nil {
		return nil, fmt.Errorf("detector order bounds: %w", err)
	}
	if cfg.InstanceID != "" {
		if err := domain.ValidateID(cfg.InstanceID); err != nil {
			return nil, fmt.Errorf("detector instance id: %w", err)
		}
	}
	d := &Detector{
		cfg:      cfg,
		log:      cfg.Log,
		m:        newMetrics(),
		parts:    make(map[tp]*partState),
		nparts:   make(map[string]int),
		partsKey: kgo.StickyKeyPartitioner(nil),
	}
	d.table = killstate.NewTable(nil)
	d.follow = killstate.NewFollower(cfg.Kafka, d.table, cfg.Log)
	eng, err := NewEngine(cfg.Rules, sink{d}, d.table.Get)
	if err != nil {
		return nil, fmt.Errorf("detector rules: %w", err)
	}
	d.engine = eng
	d.forwardSym = eng.HasRules(domain.ScopeSymbol)
	d.forwardStrat = eng.HasRules(domain.ScopeStrategy)
	d.forwardGlobal = eng.HasRules(domain.ScopeGlobal)
	d.disp = newDispatcher(cfg.Signaler, cfg.Log, d.m)
	if err := d.m.register(cfg.Registerer); err != nil {
		return nil, fmt.Errorf("register detector metrics: %w", err)
	}
	return d, nil
}

// Rules returns the rules in force, defaults filled in.
func (d *Detector) Rules() Rules { return d.engine.Rules() }

// Ready reports whether the detector has bootstrapped the kill state, joined
// its group and rebuilt the windows of every partition it was assigned.
func (d *Detector) Ready() bool {
	return d.follow.Ready() && d.joined.Load() && d.rebuilds.Load() == 0
}

// States is the kill-state table the detector follows.
func (d *Detector) States() *killstate.Table { return d.table }

// Run consumes until ctx ends. It returns nil on cancellation.
func (d *Detector) Run(ctx context.Context) error {
	// Deferred in this order so that cancellation always comes before the
	// wait: an error return must not wait on goroutines that only stop when
	// ctx ends.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := d.ensureTopic(ctx); err != nil {
		d.log.Warn("could not create the repartition topic; expecting it to exist", "topic", domain.TopicDetectorRepartition, "err", err)
	}

	stopFollower, err := d.follow.Start(ctx)
	defer stopFollower()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("follow kill state: %w", err)
	}

	d.disp.start(ctx)
	defer func() { cancel(); d.disp.wait() }()

	admc, err := d.cfg.Kafka.NewClient()
	if err != nil {
		return err
	}
	defer admc.Close()
	d.adm = kadm.NewClient(admc)
	opts := []kgo.Opt{
		kgo.ConsumerGroup(d.cfg.Group),
		kgo.ConsumeTopics(domain.TopicOrders, domain.TopicDetectorRepartition),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.AdjustFetchOffsetsFn(d.adjustOffsets),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { d.joined.Store(true) }),
		kgo.OnPartitionsRevoked(d.dropPartitions),
		kgo.OnPartitionsLost(d.dropPartitions),
		kgo.ProducerLinger(0),
		// A poll of 4096 orders can produce three forwards and up to four
		// risk signals each; the default buffer of 10,000 would stall it.
		kgo.MaxBufferedRecords(1 << 17),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	if d.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(d.cfg.InstanceID))
	}
	cl, err := d.cfg.Kafka.NewClient(opts...)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.cl = cl
	d.mu.Unlock()
	// A poll blocks rebalances until AllowRebalance; leaving the group on
	// Close needs one, so allow it first or Close deadlocks.
	defer func() { cl.AllowRebalance(); cl.Close() }()

	wg.Go(func() { d.tickLoop(ctx) })
	wg.Go(func() { d.watchLimits(ctx) })
	d.log.Info("detector started", "group", d.cfg.Group, "rules", len(d.engine.Rules().Rules))
	for {
		fetches := cl.PollRecords(ctx, 4096)
		if ctx.Err() != nil {
			return nil
		}
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			d.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		d.processBatch(ctx, fetches)
		cl.AllowRebalance()
	}
}

func (d *Detector) ensureTopic(ctx context.Context) error {
	cl, err := d.cfg.Kafka.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, s := range kafka.Topics(d.cfg.Partitions) {
		if s.Name == domain.TopicDetectorRepartition {
			_, err := kafka.CreateTopics(ctx, kadm.NewClient(cl), []kafka.TopicSpec{s})
			return err
		}
	}
	return nil
}

// processBatch evaluates one poll's records, forwards the live ones to the
// repartition topic and marks the orders for commit once forwarded.
func (d *Detector) processBatch(ctx context.Context, fetches kgo.Fetches) {
	var forwarded, marks []*kgo.Record
	d.mu.Lock()
	d.consumed = time.Now()
	fetches.EachRecord(func(r *kgo.Record) {
		start := time.Now()
		switch r.Topic {
		case domain.TopicOrders:
			fw, live := d.processOrder(r)
			forwarded = append(forwarded, fw...)
			if live {
				// Marking a rebuilt record would move the commit back.
				marks = append(marks, r)
			}
		case domain.TopicDetectorRepartition:
			d.processRepartitioned(r)
		}
		d.m.evalSeconds.Observe(time.Since(start).Seconds())
	})
	d.m.keys.Set(float64(d.engine.Keys()))
	d.mu.Unlock()

	for _, r := range forwarded {
		d.cl.Produce(ctx, r, d.produced)
	}
	if len(forwarded) > 0 {
		if err := d.cl.Flush(ctx); err != nil {
			return
		}
	}
	if len(marks) > 0 {
		d.cl.MarkCommitRecords(marks...)
	}
}

func (d *Detector) produced(r *kgo.Record, err error) {
	switch {
	case err == nil || errors.Is(err, context.Canceled):
	case errors.Is(err, kgo.ErrMaxBuffered):
		d.m.produceErrors.Inc() // one per record while Kafka is behind: no log line each
	default:
		d.m.produceErrors.Inc()
		d.log.Warn("produce failed", "topic", r.Topic, "scope", string(r.Key), "err", err)
	}
}

// partition returns the state of the record's partition and whether the
// record is live (past the partition's rebuild).
func (d *Detector) partition(r *kgo.Record) (*partState, bool) {
	k := tp{r.Topic, r.Partition}
	ps := d.parts[k]
	if ps == nil { // assigned without adjustOffsets: consume live
		ps = &partState{}
		d.parts[k] = ps
	}
	if ps.liveFrom > 0 && r.Offset >= ps.liveFrom {
		d.rebuilt(ps, r)
	}
	return ps, ps.liveFrom == 0
}

// finishRebuild ends a partition's rebuild after its last rebuilt record.
func (d *Detector) finishRebuild(ps *partState, r *kgo.Record) {
	if ps.liveFrom > 0 && r.Offset+1 >= ps.liveFrom {
		d.rebuilt(ps, r)
	}
}

func (d *Detector) rebuilt(ps *partState, r *kgo.Record) {
	ps.liveFrom = 0
	d.m.replaying.Set(float64(d.rebuilds.Add(-1)))
	d.log.Info("windows rebuilt", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "keys", d.engine.Keys())
}

// processOrder evaluates one orders.v1 record. It decodes with the router's
// allocation-free decoder (its strings alias the record, which the engine
// copies wherever it keeps one) and builds no string unless a debug line is
// written, so an admitted order costs no allocation before the engine.
func (d *Detector) processOrder(r *kgo.Record) (fw []*kgo.Record, live bool) {
	ps, live := d.partition(r)
	defer d.finishRebuild(ps, r)
	o, err := router.DecodeOrderWithin(r.Value, d.cfg.OrderBounds)
	debug := d.log.Enabled(context.Background(), slog.LevelDebug)
	if err != nil {
		d.m.invalid.Inc()
		if debug {
			d.log.Debug("undecodable order skipped (the router audits it)", "partition", r.Partition, "offset", r.Offset, "order_id", o.OrderID, "err", err)
		}
		return nil, live
	}
	if reason := ignoreReason(r, &o); reason != "" {
		d.m.ignored.WithLabelValues(reason).Inc()
		if debug {
			d.log.Debug("order left out of the windows", "reason", reason, "scope", "ACCOUNT:"+o.AccountID,
				"order_id", o.OrderID, "key", string(r.Key))
		}
		return nil, live
	}
	ts, clamped, ok := d.admit(ps, o.TS)
	if clamped {
		d.m.clamped.Inc()
		d.clamped.Add(1)
		if debug {
			d.log.Debug("future order ts clamped", "scope", "ACCOUNT:"+o.AccountID, "order_id", o.OrderID, "ts", o.TS, "clamped_to", ts)
		}
	}
	if !ok {
		d.m.late.Inc()
		d.late.Add(1)
		d.engine.Count(o.AccountID, r.Partition, true, clamped)
		if debug {
			d.log.Debug("late order not counted", "scope", "ACCOUNT:"+o.AccountID, "order_id", o.OrderID, "ts", o.TS, "stream_time", ps.streamTime)
		}
		return nil, live
	}
	if clamped {
		d.engine.Count(o.AccountID, r.Partition, false, true)
	}
	ob := Observation{TS: ts, Notional: d.engine.OrderNotional(o.Qty, o.Price), Symbol: o.Symbol,
		Account: o.AccountID, Strategy: o.Strategy, OrderID: o.OrderID}
	d.evaluated.Add(1)
	d.m.evaluated.Inc()
	d.engine.Observe(domain.ScopeAccount, &ob, r.Partition, live)
	if !live {
		return nil, false
	}
	forward := func(scope string) {
		fw = append(fw, &kgo.Record{Topic: domain.TopicDetectorRepartition, Key: []byte(scope),
			Value: encodeForward(&ob, r.Partition, r.Offset)})
	}
	if d.forwardSym {
		forward("SYMBOL:" + o.Symbol)
	}
	if d.forwardStrat && o.Strategy != "" {
		forward("STRATEGY:" + o.Strategy)
	}
	if d.forwardGlobal {
		forward(string(domain.Global))
	}
	return fw, true
}

func (d *Detector) processRepartitioned(r *kgo.Record) {
	ps, live := d.partition(r)
	defer d.finishRebuild(ps, r)
	ob, srcPart, srcOff, err := decodeForward(r.Value)
	if err != nil {
		d.m.invalid.Inc()
		d.log.Warn("undecodable repartitioned record skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	typ, _, _ := strings.Cut(string(r.Key), ":")
	if ps.lastSource == nil {
		ps.lastSource = make(map[sourceKey]int64)
	}
	src := sourceKey{domain.ScopeType(typ), srcPart}
	if last, seen := ps.lastSource[src]; seen && srcOff <= last {
		d.m.duplicates.Inc()
		return
	}
	ps.lastSource[src] = srcOff
	if ob.TS > d.maxEvent {
		d.maxEvent, d.wallAtMax = ob.TS, time.Now()
	}
	d.engine.Observe(domain.ScopeType(typ), &ob, r.Partition, live)
}

// adjustOffsets starts every newly assigned partition a rebuild horizon back
// (the longest window plus the lateness, by timestamp) and notes where the
// rebuild ends: the group's committed offset for orders.v1 (its start when
// the group has none), the end of the partition for the repartition topic.
func (d *Detector) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	rules := d.engine.Rules()
	horizon := MaxWindowOf(rules) + rules.Lateness
	var topics []string
	for t := range offsets {
		topics = append(topics, t)
	}
	adm := d.adm
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets for the rebuild: %w", err)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, d.cfg.Now().Add(-horizon).UnixMilli(), topics...)
	if err == nil {
		err = after.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets by time for the rebuild: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, parts := range offsets {
		n := 0
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic == t {
				n++
			}
		})
		d.nparts[t] = n
		for p, off := range parts {
			end, _ := ends.Lookup(t, p)
			from, ok := after.Lookup(t, p)
			start := end.Offset
			if ok {
				start = min(from.Offset, end.Offset)
			}
			live := end.Offset
			if t == domain.TopicOrders {
				// Orders past the group's commit were never evaluated live (or
				// not surely forwarded): evaluate them live now. Without a
				// commit no detector of this group ever ran, so everything in
				// the horizon is live: nothing was signalled for it yet.
				if c := off.EpochOffset().Offset; c >= 0 && c <= end.Offset {
					live = c
				} else {
					live = start
				}
			}
			start = min(start, live)
			ps := &partState{liveFrom: live}
			if start < live {
				d.rebuilds.Add(1)
			} else {
				ps.liveFrom = 0
			}
			d.parts[tp{t, p}] = ps
			parts[p] = kgo.NewOffset().At(start)
			d.log.Info("partition assigned", "topic", t, "partition", p, "rebuild_from", start, "live_from", live)
		}
	}
	d.m.replaying.Set(float64(d.rebuilds.Load()))
	d.joined.Store(true)
	return offsets, nil
}

// MaxWindowOf is the longest window of the rules: how far back a restart
// rebuilds.
func MaxWindowOf(r Rules) time.Duration {
	var w time.Duration
	for _, ru := range r.Rules {
		w = max(w, ru.Window)
	}
	return w
}

func (d *Detector) dropPartitions(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, parts := range lost {
		for _, p := range parts {
			if ps := d.parts[tp{t, p}]; ps != nil && ps.liveFrom > 0 {
				d.rebuilds.Add(-1) // revoked mid-rebuild
			}
			delete(d.parts, tp{t, p})
			d.engine.DropPartition(p, t == domain.TopicDetectorRepartition)
			d.log.Info("partition released", "topic", t, "partition", p)
		}
	}
	d.m.replaying.Set(float64(d.rebuilds.Load()))
}

// live reports whether a key's partition is past its rebuild.
func (d *Detector) live(t domain.ScopeType, part int32) bool {
	topic := domain.TopicOrders
	if t != domain.ScopeAccount {
		topic = domain.TopicDetectorRepartition
	}
	ps, ok := d.parts[tp{topic, part}]
	return ok && ps.liveFrom == 0
}

// owner returns the partition that owns a scope's key and whether this
// instance holds it, live.
func (d *Detector) owner(s domain.Scope) (int32, bool) {
	topic, key := domain.TopicDetectorRepartition, []byte(s)
	if s.Type() == domain.ScopeAccount {
		topic, key = domain.TopicOrders, []byte(s.ID())
	}
	n := d.nparts[topic]
	if n == 0 {
		return 0, false
	}
	p := int32(d.partsKey.ForTopic(topic).Partition(&kgo.Record{Key: key}, n))
	return p, d.live(s.Type(), p)
}

func (d *Detector) tickLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.tick()
		}
	}
}

// tick re-evaluates incidents at the extrapolated event time, adopts kills
// made by others, and evicts idle keys.
func (d *Detector) tick() {
	states := d.table.All()
	d.mu.Lock()
	defer d.mu.Unlock()
	wall := time.Now()
	now := wall.UnixMilli()
	if d.maxEvent > 0 {
		now = d.maxEvent + wall.Sub(d.wallAtMax).Milliseconds()
	}
	d.consumed = wall
	for _, st := range states {
		if st.Status == domain.StatusActive {
			continue
		}
		if p, ok := d.owner(st.Scope); ok {
			d.engine.Adopt(st, p, now)
		}
	}
	before := d.engine.Stats().Evicted
	d.engine.Tick(now, d.live)
	d.m.evicted.Add(float64(d.engine.Stats().Evicted - before))
	keys, bytes := d.engine.KeyBytes()
	d.m.keys.Set(float64(keys))
	d.m.keyBytes.Set(float64(bytes))
}
