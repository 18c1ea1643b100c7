package router

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/limits"
)

// decisionKinds indexes the per-batch decision counts.
var decisionKinds = [...]domain.Decision{
	domain.DecisionAllow, domain.DecisionDrop, domain.DecisionThrottle,
	domain.DecisionDuplicate, domain.DecisionReject, domain.DecisionBlock,
}

func decisionIndex(d domain.Decision) int {
	switch d {
	case domain.DecisionAllow:
		return 0
	case domain.DecisionDrop:
		return 1
	case domain.DecisionThrottle:
		return 2
	case domain.DecisionDuplicate:
		return 3
	case domain.DecisionBlock:
		return 5
	}
	return 4
}

type metrics struct {
	decisions   [len(decisionKinds)]prometheus.Counter
	decisionSec *latencyHistogram
	blocks      []prometheus.Counter // by limits.Kind
	bootstrap   prometheus.Gauge
	lag         prometheus.Gauge
	commits     prometheus.Counter
	aborts      prometheus.Counter
	txnRoute    prometheus.Histogram
	txnFlush    prometheus.Histogram
	txnEnd      prometheus.Histogram
	dlq         prometheus.Counter
	ready       prometheus.GaugeFunc
	dedupIDs    prometheus.Gauge
	// dedupRebuilds counts the dedup windows rebuilt from audit.v1.
	dedupRebuilds prometheus.Counter
	// rebuilt and rebuildFailed count the credit rebuilds from
	// orders.gated.v1 by outcome (nil without limits).
	rebuilt, rebuildFailed prometheus.Counter
	all                    []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, t *Table, f *killstate.Follower, feeds []*killstate.Follower, eng *limits.Engine,
	ready func() bool) (*metrics, error) {
	m := &metrics{}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskgate_router_decisions_total",
		Help: "Committed router decisions, by decision.",
	}, []string{"decision"})
	for i, d := range decisionKinds {
		m.decisions[i] = decisions.WithLabelValues(string(d))
	}
	blocks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskgate_router_blocks_total",
		Help: "Committed BLOCK decisions, by the kind of pre-trade limit that blocked the order.",
	}, []string{"kind"})
	m.blocks = make([]prometheus.Counter, len(limits.Kinds())+1)
	for _, k := range limits.Kinds() {
		m.blocks[k] = blocks.WithLabelValues(k.String())
	}
	m.decisionSec = newLatencyHistogram("riskgate_router_decision_duration_seconds",
		"Time to decode, deduplicate and decide one order inside the router.")
	m.bootstrap = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "riskgate_router_bootstrap_duration_seconds",
		Help: "How long reading killswitch.state.v1 to its high watermark took at start.",
	})
	m.lag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "riskgate_router_consumer_lag_records",
		Help: "orders.v1 records not yet consumed on the partitions this router owns, as of its last fetch.",
	})
	m.commits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskgate_router_txn_commits_total",
		Help: "Committed transactions (each covers a batch of orders).",
	})
	m.aborts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskgate_router_txn_aborts_total",
		Help: "Aborted transactions; their orders are decided again.",
	})
	// A transaction's phases, 0.5 ms … 16 s.
	txnPhase := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	}
	m.txnRoute = txnPhase("riskgate_router_txn_route_duration_seconds",
		"Time a transaction took to route its polled batch, from its start until every record it writes was handed "+
			"to the producer: decoding, deciding, encoding the audit. Ending it follows (riskgate_router_txn_end_duration_seconds).")
	m.txnFlush = txnPhase("riskgate_router_txn_flush_duration_seconds",
		"The first part of ending a transaction that commits: waiting for Kafka to acknowledge every record it "+
			"produced. The rest of riskgate_router_txn_end_duration_seconds is the offset commit and EndTxn with the coordinator.")
	m.txnEnd = txnPhase("riskgate_router_txn_end_duration_seconds",
		"Time a transaction took to end: flushing the records it produced to Kafka, then committing or aborting it. "+
			"The router decides nothing meanwhile, so a slow broker shows here first.")
	m.dlq = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskgate_router_dlq_records_total",
		Help: "Records sent to orders.dlq.v1 because they did not decode or validate.",
	})
	m.ready = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "riskgate_router_ready",
		Help: "1 while the kill state is bootstrapped and current and orders are being routed.",
	}, func() float64 {
		if ready() {
			return 1
		}
		return 0
	})
	m.dedupIDs = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "riskgate_router_dedup_ids",
		Help: "Order identities held in the dedup window for the partitions this router owns.",
	})
	m.dedupRebuilds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskgate_router_dedup_rebuilds_total",
		Help: "Replays that found a dedup record of the changelog they could not read and rebuilt those partitions' dedup windows from audit.v1 (the router's log names the records).",
	})
	scopes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "riskgate_router_state_scopes",
		Help: "Scopes held in the kill-state table.",
	}, func() float64 { return float64(t.Len()) })
	stale := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "riskgate_router_state_stale_total",
		Help: "State records ignored because their version was not newer than the one held.",
	}, func() float64 { return float64(t.Stale()) })
	undecodable := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "riskgate_router_state_undecodable_total",
		Help: "State records that could not be decoded; the scope each one's key names is held KILLED until a newer decodable record.",
	}, func() float64 { return float64(f.Undecodable()) })
	failedClosed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "riskgate_router_state_failed_closed_scopes",
		Help: "Scopes held KILLED because their latest state record could not be decoded.",
	}, func() float64 { return float64(len(t.FailedClosed())) })
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "riskgate_router_state_age_seconds",
		Help: "Time since the router last confirmed it had read every record of killswitch.state.v1; past the bound it stops routing.",
	}, func() float64 {
		age, _ := f.Age()
		return age.Seconds()
	})
	m.all = []prometheus.Collector{decisions, blocks, m.decisionSec, m.bootstrap, m.lag, m.commits, m.aborts,
		m.txnRoute, m.txnFlush, m.txnEnd, m.dlq, m.ready, m.dedupIDs, m.dedupRebuilds, scopes, stale, undecodable, failedClosed, age}
	for _, f := range feeds {
		topic := prometheus.Labels{"topic": f.Topic()}
		m.all = append(m.all, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "riskgate_router_limits_age_seconds",
			Help:        "Time since the router last confirmed it had read every record of a limits topic (risk.limits.v1, marketdata.ref.v1); past --max-state-age it stops routing.",
			ConstLabels: topic,
		}, func() float64 {
			age, _ := f.Age()
			return age.Seconds()
		}), prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "riskgate_router_limits_unreadable_total",
			Help:        "Records of a limits topic that could not be read; the scope or symbol each one's key names fails closed (BLOCK) until a readable record.",
			ConstLabels: topic,
		}, func() float64 { return float64(f.Undecodable()) }))
	}
	if eng != nil {
		m.all = append(m.all, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "riskgate_router_limits_failed_closed_scopes",
			Help: "Scopes whose limits, and symbols whose reference price, the router blocks orders of because their latest record could not be read.",
		}, func() float64 { return float64(eng.Stats().FailedClosed) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "riskgate_router_limits_unrestored_partitions",
			Help: "Partitions of the router's changelog with a limits usage record that did not restore: orders whose window caps or credit limit the lost usage could count against are BLOCKed (unrestored_usage) until it cannot.",
		}, func() float64 { return float64(eng.Stats().Unrestored) }))
		rebuilds := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskgate_router_limits_credit_rebuilds_total",
			Help: "Rebuilds of a trading day's credit from orders.gated.v1 for a changelog partition whose usage did not restore, by outcome: " +
				"rebuilt (orders are then blocked on it for window caps only), failed (a gated order did not decode: the block holds to the end of the day).",
		}, []string{"outcome"})
		m.rebuilt, m.rebuildFailed = rebuilds.WithLabelValues("rebuilt"), rebuilds.WithLabelValues("failed")
		m.all = append(m.all, rebuilds)
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range m.all {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register router metrics: %w", err)
	}
	return m, nil
}

// Buckets of the decision-latency histogram: 100ns·2^i for i < latencyBuckets
// (100ns … 3.3ms), then +Inf.
const (
	latencyBase    = 100 // ns
	latencyBuckets = 16
)

// latencyHistogram is the decision-latency histogram. The routing loop
// counts into a private batch without atomics and merges it once per
// transaction, so an observation costs a few nanoseconds instead of a
// prometheus.Histogram's atomic updates.
type latencyHistogram struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	counts [latencyBuckets + 1]uint64
	sumNS  int64

	// Owned by the routing loop.
	batch    [latencyBuckets + 1]uint64
	batchSum int64
}

func newLatencyHistogram(name, help string) *latencyHistogram {
	return &latencyHistogram{desc: prometheus.NewDesc(name, help, nil, nil)}
}

// observe counts one latency into the batch. Only the routing loop calls it.
func (h *latencyHistogram) observe(ns int64) {
	i := 0
	if ns > latencyBase {
		i = min(bits.Len64(uint64(ns-1)/latencyBase), latencyBuckets)
	}
	h.batch[i]++
	h.batchSum += ns
}

// flush publishes the batch.
func (h *latencyHistogram) flush() {
	h.mu.Lock()
	for i, n := range h.batch {
		h.counts[i] += n
	}
	h.sumNS += h.batchSum
	h.mu.Unlock()
	h.batch = [latencyBuckets + 1]uint64{}
	h.batchSum = 0
}

// Describe implements prometheus.Collector.
func (h *latencyHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector.
func (h *latencyHistogram) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	counts, sum := h.counts, h.sumNS
	h.mu.Unlock()
	buckets := make(map[float64]uint64, latencyBuckets)
	var cum uint64
	for i := range latencyBuckets {
		cum += counts[i]
		buckets[float64(int64(latencyBase)<<i)/1e9] = cum
	}
	cum += counts[latencyBuckets]
	ch <- prometheus.MustNewConstHistogram(h.desc, cum, float64(sum)/1e9, buckets)
}
