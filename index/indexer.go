package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/retry"
)

// IndexedTopics are the topics the indexer reads.
var IndexedTopics = []string{domain.TopicAudit, domain.TopicCommands, domain.TopicState, domain.TopicRiskSignals, domain.TopicLimitsCommands}

// IndexerConfig configures an Indexer.
type IndexerConfig struct {
	// Kafka is the cluster to read.
	Kafka kafka.Config
	// Index receives the records.
	Index Writer
	// Log is the logger. Default slog.Default().
	Log *slog.Logger
	// Registerer receives the indexer's metrics. Nil registers none.
	Registerer prometheus.Registerer
	// Topics overrides IndexedTopics.
	Topics []string
}

// Indexer copies the audit, command, state and signal topics into an index.
// It reads partitions directly (no consumer group): the index itself holds
// the next offset of every partition, written in the same transaction as the
// records, so a restart resumes exactly where the last commit ended.
type Indexer struct {
	cfg      IndexerConfig
	log      *slog.Logger
	indexed  atomic.Int64
	bad      atomic.Int64
	ready    atomic.Bool
	mRecords *prometheus.CounterVec
	mBad     *prometheus.CounterVec
	mBatch   prometheus.Histogram
}

// NewIndexer builds an indexer; Run starts it.
func NewIndexer(cfg IndexerConfig) (*Indexer, error) {
	if cfg.Index == nil {
		return nil, errors.New("indexer: Index is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.Topics) == 0 {
		cfg.Topics = IndexedTopics
	}
	x := &Indexer{
		cfg: cfg,
		log: cfg.Log,
		mRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskgate_indexer_records_total",
			Help: "Records stored in the audit index, by topic.",
		}, []string{"topic"}),
		mBad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskgate_indexer_undecodable_total",
			Help: "Records skipped because they did not decode, by topic.",
		}, []string{"topic"}),
		mBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "riskgate_indexer_batch_duration_seconds",
			Help:    "Time to store one batch in the index.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{x.mRecords, x.mBad, x.mBatch} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register indexer metrics: %w", err)
			}
		}
	}
	return x, nil
}

// Indexed is the number of records stored since start.
func (x *Indexer) Indexed() int64 { return x.indexed.Load() }

// Undecodable is the number of records skipped since start.
func (x *Indexer) Undecodable() int64 { return x.bad.Load() }

// Ready reports whether the indexer has connected and is consuming.
func (x *Indexer) Ready() bool { return x.ready.Load() }

// Run indexes until ctx ends. It returns nil on cancellation.
func (x *Indexer) Run(ctx context.Context) error {
	pos, err := x.cfg.Index.Positions(ctx)
	if err != nil {
		return err
	}
	parts, err := x.partitions(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	offsets := make(map[string]map[int32]kgo.Offset, len(parts))
	for topic, ps := range parts {
		offsets[topic] = make(map[int32]kgo.Offset, len(ps))
		for _, p := range ps {
			if next, ok := pos[topic][p]; ok {
				offsets[topic][p] = kgo.NewOffset().At(next)
			} else {
				offsets[topic][p] = kgo.NewOffset().AtStart()
			}
		}
	}
	cl, err := x.cfg.Kafka.NewClient(
		kgo.ConsumePartitions(offsets),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	x.ready.Store(true)
	defer x.ready.Store(false)
	x.log.Info("indexer started", "topics", x.cfg.Topics, "resumed_partitions", countPositions(pos))

	var b Batch
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			x.log.Warn("indexer fetch error", "topic", t, "partition", p, "err", err)
		})
		b.Reset()
		fetches.EachRecord(func(r *kgo.Record) { x.add(&b, r) })
		if len(b.Next) == 0 {
			continue
		}
		// A stop lets the batch in hand finish (within StopGrace), so it
		// never ends a batch halfway through its writes.
		actx, done := outliving(ctx, StopGrace)
		err := x.apply(actx, &b)
		done()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// StopGrace is how long the indexer, stopped (its context ended), goes on
// storing the batch it holds. DynamoDB stores a batch in several writes and
// its positions last; a batch cut off halfway is stored again from the old
// positions at the next start, harmlessly, since every item's key comes from
// its record's position — but under the keys of the release that starts,
// which an upgrade may have changed (the audit key did), leaving the items
// of the old keys beside them. A stop therefore waits for the batch; the
// retries of a store that keeps failing end with the grace.
const StopGrace = 10 * time.Second

// outliving returns a context that ends grace after ctx does (or when the
// returned cancel is called).
func outliving(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return c, func() { stop(); cancel() }
}

// applyRetry is how a batch the store refused is retried: six tries over
// about six seconds with jitter (a SQLite writer busy, DynamoDB throttling),
// then the indexer stops and its supervisor restarts it from the stored
// positions.
var applyRetry = retry.Policy{Initial: 200 * time.Millisecond, Max: 3 * time.Second}

const applyTries = 6

// apply stores a batch, retrying while the store is busy; the batch is only
// lost if ctx ends, and then nothing of it was committed.
func (x *Indexer) apply(ctx context.Context, b *Batch) error {
	attempt := 0
	err := retry.Do(ctx, applyRetry, applyTries, func() error {
		attempt++
		start := time.Now()
		if err := x.cfg.Index.Apply(ctx, b); err != nil {
			return err
		}
		x.mBatch.Observe(time.Since(start).Seconds())
		x.indexed.Add(int64(b.Len()))
		x.mRecords.WithLabelValues(domain.TopicAudit).Add(float64(len(b.Audit)))
		x.mRecords.WithLabelValues(domain.TopicCommands).Add(float64(len(b.Commands)))
		x.mRecords.WithLabelValues(domain.TopicState).Add(float64(len(b.States)))
		x.mRecords.WithLabelValues(domain.TopicRiskSignals).Add(float64(len(b.Signals)))
		x.mRecords.WithLabelValues(domain.TopicLimitsCommands).Add(float64(len(b.Limits)))
		return nil
	}, func(err error, wait time.Duration) {
		x.log.Warn("index batch failed, retrying", "records", b.Len(), "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
	})
	if err != nil {
		return fmt.Errorf("store %d records in the index (%d attempts): %w", b.Len(), attempt, err)
	}
	return nil
}

// add decodes one record into the batch and advances its partition.
func (x *Indexer) add(b *Batch, r *kgo.Record) {
	b.Advance(r.Topic, r.Partition, r.Offset+1)
	pos := Pos{Partition: r.Partition, Offset: r.Offset}
	var err error
	switch r.Topic {
	case domain.TopicAudit:
		var a domain.AuditRecord
		if err = json.Unmarshal(r.Value, &a); err == nil && a.OrderID == "" && a.Decision == "" {
			err = errors.New("neither order_id nor decision")
		}
		if err == nil {
			b.Audit = append(b.Audit, AuditEntry{pos, a})
		}
	case domain.TopicCommands:
		var c domain.Command
		if err = json.Unmarshal(r.Value, &c); err == nil {
			b.Commands = append(b.Commands, CommandEntry{pos, c})
		}
	case domain.TopicState:
		if len(r.Value) == 0 {
			return // a tombstone: nothing to record
		}
		var s domain.State
		if s, err = domain.DecodeState(r.Value); err == nil {
			b.States = append(b.States, StateEntry{pos, s})
		}
	case domain.TopicRiskSignals:
		var s domain.RiskSignal
		if err = json.Unmarshal(r.Value, &s); err == nil {
			b.Signals = append(b.Signals, SignalEntry{pos, s})
		}
	case domain.TopicLimitsCommands:
		var c domain.LimitsCommand
		if err = json.Unmarshal(r.Value, &c); err == nil && (c.Scope == "" || c.Action == "") {
			err = errors.New("no scope or no action")
		}
		if err == nil {
			b.Limits = append(b.Limits, LimitsCommandEntry{pos, c})
		}
	default:
		return
	}
	if err != nil {
		x.bad.Add(1)
		x.mBad.WithLabelValues(r.Topic).Inc()
		x.log.Warn("undecodable record skipped by the indexer", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
	}
}

// partitions lists every partition of the indexed topics, waiting for topics
// that do not exist yet.
func (x *Indexer) partitions(ctx context.Context) (map[string][]int32, error) {
	cl, err := x.cfg.Kafka.NewClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, x.cfg.Topics...)
		out := make(map[string][]int32)
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					out[o.Topic] = append(out[o.Topic], o.Partition)
				}
			})
			if len(out) == len(x.cfg.Topics) {
				return out, nil
			}
			err = fmt.Errorf("%d of %d topics found", len(out), len(x.cfg.Topics))
		}
		x.log.Warn("indexer waiting for topics", "topics", x.cfg.Topics, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list partitions of %v: %w", x.cfg.Topics, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func countPositions(p map[string]map[int32]int64) int {
	n := 0
	for _, m := range p {
		n += len(m)
	}
	return n
}
