// Package killstate follows the compacted killswitch.state.v1 topic: it reads
// every partition (no consumer group, so every instance sees every scope),
// bootstraps to the high watermark before it reports ready, and keeps
// following, knowing how current what it read is (FreshAsOf). Table is a
// simple concurrent view of the result. NewTopicFollower follows another
// compacted topic the same way (the router's limits and reference prices).
package killstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// Sink receives the state topic's records in offset order per partition.
type Sink interface {
	// ApplyState is called for every decoded state record. Implementations
	// ignore a record whose version is not newer than the one they hold.
	ApplyState(domain.State)
	// DeleteState is called for a tombstone.
	DeleteState(domain.Scope)
}

// FailClosedSink is a Sink told about a state record whose value cannot be
// decoded, for the scope its key names. Whatever the record said, a kill
// it may have carried must hold: the sink treats the scope as KILLED, with
// reason as the reason, until a decodable record newer than the one it
// held, or a tombstone, arrives for the scope.
type FailClosedSink interface {
	Sink
	FailClosed(scope domain.Scope, reason string)
}

// RecordSink is a Sink that can apply a state record's value itself, to
// skip building a domain.State (a large table bootstraps faster). The
// Follower offers it every record value first; when ApplyStateRecord reports
// false it decodes the value with domain.DecodeState and calls ApplyState as
// for any Sink. An implementation must apply exactly what ApplyState would.
type RecordSink interface {
	Sink
	ApplyStateRecord(value []byte) bool
}

// Follower reads killswitch.state.v1 into a Sink, or another compacted
// topic into a function (NewTopicFollower).
type Follower struct {
	cfg    kafka.Config
	topic  string
	handle func(*kgo.Record) // a record that is not a control record
	sink   Sink
	log    *slog.Logger
	ready  atomic.Bool
	readyC chan struct{}
	bad    atomic.Int64
	// BootstrapDuration is how long the bootstrap took, once Ready.
	bootstrap atomic.Int64
	fresh     freshness
}

// Option configures a Follower.
type Option func(*Follower)

// ProbeEvery sets how often the follower asks the brokers for the state
// topic's end offsets to tell how current its state is (FreshAsOf).
// Default 1s; each probe is one ListOffsets request.
func ProbeEvery(d time.Duration) Option {
	return func(f *Follower) {
		if d > 0 {
			f.fresh.every = d
		}
	}
}

// NewFollower returns a follower that feeds sink.
func NewFollower(cfg kafka.Config, sink Sink, log *slog.Logger, opts ...Option) *Follower {
	f := newFollower(cfg, domain.TopicState, log, opts)
	f.sink = sink
	f.handle = f.apply
	return f
}

// NewTopicFollower returns a follower of the compacted topic that feeds
// every record (tombstones included) to apply, in offset order per
// partition. A record apply returns an error for is counted (Undecodable)
// and logged; apply itself decides what the record's key must fall back to
// (failing closed).
func NewTopicFollower(cfg kafka.Config, topic string, apply func(key, value []byte) error, log *slog.Logger, opts ...Option) *Follower {
	f := newFollower(cfg, topic, log, opts)
	f.handle = func(r *kgo.Record) {
		if err := apply(r.Key, r.Value); err != nil {
			f.bad.Add(1)
			f.log.Error("record not applied", "topic", topic, "key", string(r.Key), "partition", r.Partition,
				"offset", r.Offset, "err", err)
		}
	}
	return f
}

func newFollower(cfg kafka.Config, topic string, log *slog.Logger, opts []Option) *Follower {
	if log == nil {
		log = slog.Default()
	}
	f := &Follower{cfg: cfg, topic: topic, log: log, readyC: make(chan struct{})}
	f.fresh.every = time.Second
	for _, o := range opts {
		o(f)
	}
	return f
}

// Topic is the topic the follower reads.
func (f *Follower) Topic() string { return f.topic }

// Ready reports whether the bootstrap reached the high watermark of every
// partition. Until then nothing may be decided from the sink.
func (f *Follower) Ready() bool { return f.ready.Load() }

// ReadyC is closed when the bootstrap completes.
func (f *Follower) ReadyC() <-chan struct{} { return f.readyC }

// BootstrapDuration is how long the bootstrap took; zero until Ready.
func (f *Follower) BootstrapDuration() time.Duration { return time.Duration(f.bootstrap.Load()) }

// Undecodable counts records that could not be decoded (state records
// offered to a FailClosedSink when their key names a scope) or applied.
func (f *Follower) Undecodable() int64 { return f.bad.Load() }

// Run bootstraps and then follows the topic until ctx ends. It refuses to
// start (kafka.ErrNotCompacted) when the topic's cleanup.policy is not
// compact.
func (f *Follower) Run(ctx context.Context) error {
	start := time.Now()
	ends, err := f.endOffsets(ctx)
	if err != nil {
		return err
	}
	parts := make(map[int32]kgo.Offset, len(ends))
	for p := range ends {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := f.cfg.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	// pending holds the partitions still short of their bootstrap watermark.
	pending := make(map[int32]int64)
	for p, end := range ends {
		if end > 0 {
			pending[p] = end
		}
	}
	f.fresh.begin(ends, start)
	var probe sync.WaitGroup
	defer probe.Wait()
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	probe.Go(func() { f.probe(probeCtx, cl) })

	f.checkReady(pending, start)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			f.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		f.fresh.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) {
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
			f.fresh.read(r.Partition, r.Offset)
			if r.Attrs.IsControl() {
				return
			}
			f.handle(r)
		})
		f.fresh.reached()
		f.fresh.mu.Unlock()
		f.checkReady(pending, start)
	}
}

// Start runs the follower in the background and returns once it has
// bootstrapped, or with the error that stopped it first (ctx's error if ctx
// ended). stop cancels the follower and waits for it to end; it is safe to
// call on either path, more than once.
func (f *Follower) Start(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	var runErr error
	go func() {
		defer close(finished)
		runErr = f.Run(ctx)
	}()
	stop = func() { cancel(); <-finished }
	select {
	case <-f.ReadyC():
		return stop, nil
	case <-finished:
		if runErr == nil {
			runErr = ctx.Err()
		}
		if runErr == nil {
			runErr = errors.New("follower stopped before its bootstrap")
		}
		cancel()
		return stop, runErr
	case <-ctx.Done():
		stop()
		return stop, ctx.Err()
	}
}

func (f *Follower) checkReady(pending map[int32]int64, start time.Time) {
	if len(pending) == 0 && !f.ready.Load() {
		f.bootstrap.Store(int64(time.Since(start)))
		f.ready.Store(true)
		close(f.readyC)
		f.log.Info("compacted topic bootstrapped", "topic", f.topic, "took", time.Since(start).Round(time.Millisecond))
	}
}

func (f *Follower) apply(r *kgo.Record) {
	if len(r.Value) == 0 {
		scope, err := domain.ParseScope(string(r.Key))
		if err != nil {
			f.bad.Add(1)
			f.log.Warn("state tombstone with a bad key skipped", "key", string(r.Key), "offset", r.Offset, "err", err)
			return
		}
		f.sink.DeleteState(scope)
		return
	}
	if rs, ok := f.sink.(RecordSink); ok && rs.ApplyStateRecord(r.Value) {
		return
	}
	st, err := domain.DecodeState(r.Value)
	if err != nil {
		f.bad.Add(1)
		scope, kerr := domain.ParseScope(string(r.Key))
		fc, ok := f.sink.(FailClosedSink)
		if kerr != nil || !ok {
			f.log.Error("undecodable state record skipped", "key", string(r.Key), "partition", r.Partition,
				"offset", r.Offset, "err", err)
			return
		}
		why := fmt.Sprintf("undecodable state record at %d/%d: %v", r.Partition, r.Offset, err)
		f.log.Error("undecodable state record: its scope fails closed (KILLED) until a newer decodable record",
			"scope", scope, "corr_id", "", "partition", r.Partition, "offset", r.Offset, "err", err)
		fc.FailClosed(scope, why)
		return
	}
	f.sink.ApplyState(st)
}

func (f *Follower) endOffsets(ctx context.Context) (map[int32]int64, error) {
	return kafka.CompactedEndOffsets(ctx, f.cfg, f.topic, f.log)
}

// Table is a concurrent scope → state map that keeps the newest version.
type Table struct {
	mu     sync.RWMutex
	states map[domain.Scope]domain.State
	// onChange, when set, is called (outside the lock) with every accepted change.
	onChange func(domain.State, bool)
}

// NewTable returns an empty table. onChange may be nil; it receives each
// accepted state and whether it was a deletion.
func NewTable(onChange func(st domain.State, deleted bool)) *Table {
	return &Table{states: make(map[domain.Scope]domain.State), onChange: onChange}
}

// ApplyState stores st unless the table holds the same or a newer version.
func (t *Table) ApplyState(st domain.State) {
	t.mu.Lock()
	cur, ok := t.states[st.Scope]
	if ok && cur.Version >= st.Version {
		t.mu.Unlock()
		return
	}
	t.states[st.Scope] = st
	t.mu.Unlock()
	if t.onChange != nil {
		t.onChange(st, false)
	}
}

// DeleteState forgets a scope.
func (t *Table) DeleteState(s domain.Scope) {
	t.mu.Lock()
	st, ok := t.states[s]
	delete(t.states, s)
	t.mu.Unlock()
	if ok && t.onChange != nil {
		t.onChange(st, true)
	}
}

// Get returns the state of one scope.
func (t *Table) Get(s domain.Scope) (domain.State, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	st, ok := t.states[s]
	return st, ok
}

// All returns every state, ordered by scope.
func (t *Table) All() []domain.State {
	t.mu.RLock()
	out := slices.Collect(maps.Values(t.states))
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b domain.State) int {
		switch {
		case a.Scope < b.Scope:
			return -1
		case a.Scope > b.Scope:
			return 1
		}
		return 0
	})
	return out
}

// Each calls fn with every state held, in no order, under the table's read
// lock: fn must be quick and must not call the table. It costs no copy of
// the table, so a metrics scrape can count a large one.
func (t *Table) Each(fn func(domain.State)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, st := range t.states {
		fn(st)
	}
}

// Len is the number of scopes held.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.states)
}
