package activities

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskgate/riskgate/domain"
)

// PublishMetrics are the publisher's Prometheus collectors: how long a
// transition takes to reach the state topic, and which transitions are not
// there yet because publishing fails. During a Kafka outage routers enforce
// the last published state while the workflow has moved on; these say so.
type PublishMetrics struct {
	published prometheus.Counter
	failures  *prometheus.CounterVec
	lag       prometheus.Histogram

	now func() time.Time

	mu sync.Mutex
	// pending holds, per scope whose last publish failed, the time (Unix
	// ms) of its oldest transition not yet published.
	pending map[domain.Scope]int64
}

// NewPublishMetrics registers the publisher's metrics with reg:
//
//	riskgate_worker_publications_total            transitions published (command and state acknowledged)
//	riskgate_worker_publish_failures_total{topic} failed publish attempts, by the topic that failed
//	riskgate_worker_publish_lag_seconds           from a transition to its state acknowledged, retries included
//	riskgate_worker_unpublished_scopes            scopes whose newest transition is not published (the last attempt failed)
//	riskgate_worker_unpublished_age_seconds       age of the oldest transition not published, 0 when none
func NewPublishMetrics(reg prometheus.Registerer) (*PublishMetrics, error) {
	const ns, sub = "riskgate", "worker"
	m := &PublishMetrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "publications_total", Help: "Transitions published: command and state acknowledged by Kafka."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "publish_failures_total", Help: "Failed attempts to publish a transition, by the topic that failed; the workflow retries."},
			[]string{"topic"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "publish_lag_seconds", Help: "From a transition in the workflow to its state acknowledged on the state topic, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}),
		now:     time.Now,
		pending: map[domain.Scope]int64{},
	}
	unpublished := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
		Name: "unpublished_scopes", Help: "Scopes whose newest transition is not on the state topic: routers enforce an older state."},
		func() float64 { n, _ := m.unpublished(); return float64(n) })
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
		Name: "unpublished_age_seconds", Help: "Age of the oldest transition not yet on the state topic; 0 when every transition is published."},
		func() float64 { _, a := m.unpublished(); return a.Seconds() })
	if reg != nil {
		var errs []error
		for _, c := range []prometheus.Collector{m.published, m.failures, m.lag, unpublished, age} {
			if err := reg.Register(c); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("register publisher metrics: %w", err)
		}
	}
	return m, nil
}

// ok records pub acknowledged.
func (m *PublishMetrics) ok(pub Publication) {
	m.published.Inc()
	if ts := pub.State.UpdatedTS; ts > 0 {
		m.lag.Observe(max(0, m.now().Sub(time.UnixMilli(ts)).Seconds()))
	}
	m.mu.Lock()
	delete(m.pending, pub.State.Scope)
	m.mu.Unlock()
}

// failed records that pub, and every later transition of its scope, is not
// published.
func (m *PublishMetrics) failed(pub Publication, topic string) {
	m.failures.WithLabelValues(topic).Inc()
	ts := pub.State.UpdatedTS
	if ts <= 0 {
		ts = m.now().UnixMilli()
	}
	m.mu.Lock()
	if cur, ok := m.pending[pub.State.Scope]; !ok || ts < cur {
		m.pending[pub.State.Scope] = ts
	}
	m.mu.Unlock()
}

func (m *PublishMetrics) unpublished() (int, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest int64
	for _, ts := range m.pending {
		if oldest == 0 || ts < oldest {
			oldest = ts
		}
	}
	if oldest == 0 {
		return len(m.pending), 0
	}
	return len(m.pending), max(0, m.now().Sub(time.UnixMilli(oldest)))
}
