package detector

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the detector's Prometheus collectors. They always exist; they
// are registered only when Config.Registerer is set.
type metrics struct {
	evaluated      prometheus.Counter
	late           prometheus.Counter
	clamped        prometheus.Counter
	invalid        prometheus.Counter
	ignored        *prometheus.CounterVec
	duplicates     prometheus.Counter
	breaches       *prometheus.CounterVec
	normals        prometheus.Counter
	riskSignals    prometheus.Counter
	produceErrors  prometheus.Counter
	signalErrors   *prometheus.CounterVec
	signalSeconds  *prometheus.HistogramVec
	signalsPending prometheus.Gauge
	evalSeconds    prometheus.Histogram
	keys           prometheus.Gauge
	keyBytes       prometheus.Gauge
	replaying      prometheus.Gauge
	evicted        prometheus.Counter
}

func newMetrics() *metrics {
	const ns, sub = "riskgate", "detector"
	return &metrics{
		evaluated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "orders_evaluated_total", Help: "Orders admitted and evaluated (the account stage counts each order once)."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "late_records_total", Help: "Orders later than the allowed lateness, counted and left out of the windows."}),
		clamped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "clamped_records_total", Help: "Orders stamped beyond the allowed future skew, whose ts was clamped."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "invalid_records_total", Help: "Records of orders.v1 or the repartition topic that did not decode or are not valid orders (qty or price beyond the order bounds among them)."}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "records_ignored_total", Help: "Records of orders.v1 left out of every window, by reason: cancel (a CANCEL opens no exposure), key_mismatch (keyed by other than its account_id; the router REJECTs it)."}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "repartition_duplicates_total", Help: "Repartitioned records dropped as already counted (re-forwarded after a rebalance)."}),
		breaches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "breaches_total", Help: "Breach signals sent, by the rule that named them; a breach resent because no state showed it handled counts again."}, []string{"rule"}),
		normals: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "normals_total", Help: "Scopes reported normal after NormalAfter under every threshold."}),
		riskSignals: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "risk_signals_total", Help: "Records produced to risk_signals.v1."}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "produce_errors_total", Help: "Records that could not be produced (risk signals, repartitioned orders)."}),
		signalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "signal_errors_total", Help: "Failed attempts to signal a workflow, by kind (breach, normal)."}, []string{"kind"}),
		signalSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "signal_duration_seconds", Help: "From consuming the deciding record to the workflow signal returning, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"kind"}),
		signalsPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "signals_pending", Help: "Scopes with a breach or normal signal not yet delivered; each is retried until it is."}),
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "evaluation_duration_seconds", Help: "Time to evaluate one record against every window and rule of its key.",
			Buckets: prometheus.ExponentialBuckets(1e-7, 4, 10)}),
		keys: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "keys", Help: "Keys (scopes) whose windows are held in memory."}),
		keyBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "key_bytes", Help: "Estimated memory held by the keys' windows."}),
		replaying: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "rebuilding_partitions", Help: "Assigned partitions still rebuilding their windows."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "evicted_keys_total", Help: "Idle keys evicted."}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.evaluated, m.late, m.clamped, m.invalid, m.ignored, m.duplicates,
		m.breaches, m.normals, m.riskSignals, m.produceErrors, m.signalErrors, m.signalSeconds, m.signalsPending,
		m.evalSeconds, m.keys, m.keyBytes, m.replaying, m.evicted} {
		if err := r.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
