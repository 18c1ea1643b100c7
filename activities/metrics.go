package activities

import (
	"errors"
	"fmt"
	"slices"
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
	commands  *prometheus.CounterVec
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
//	riskgate_worker_publications_total             transitions published (command and state acknowledged)
//	riskgate_worker_commands_total{action,trigger} the same, by the command's action and trigger
//	riskgate_worker_publish_failures_total{topic}  failed publish attempts, by the topic that failed
//	riskgate_worker_publish_lag_seconds            from a transition to its state acknowledged, retries included
//	riskgate_worker_unpublished_scopes             scopes whose newest transition is not published (the last attempt failed)
//	riskgate_worker_unpublished_age_seconds        age of the oldest transition not published, 0 when none
func NewPublishMetrics(reg prometheus.Registerer) (*PublishMetrics, error) {
	const ns, sub = "riskgate", "worker"
	m := &PublishMetrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "publications_total", Help: "Transitions published: command and state acknowledged by Kafka."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "commands_total", Help: "Transitions published, by the command's action and trigger (a batch retried after a partial failure counts again)."},
			[]string{"action", "trigger"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "publish_failures_total", Help: "Failed attempts to publish a transition, by the topic that failed; the workflow retries."},
			[]string{"topic"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "publish_lag_seconds", Help: "From a transition in the workflow to its state acknowledged on the state topic, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}),
		now:     time.Now,
		pending: map[domain.Scope]int64{},
	}
	// Every series exists from the start at 0, so an alert on increase()
	// sees the first kill or failure after a restart, and the labels stay
	// bounded whatever a command says.
	for _, a := range commandActions {
		for _, t := range commandTriggers {
			m.commands.WithLabelValues(string(a), string(t))
		}
	}
	for _, topic := range []string{domain.TopicCommands, domain.TopicState} {
		m.failures.WithLabelValues(topic)
	}
	unpublished := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
		Name: "unpublished_scopes", Help: "Scopes whose newest transition is not on the state topic: routers enforce an older state."},
		func() float64 { n, _ := m.unpublished(); return float64(n) })
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
		Name: "unpublished_age_seconds", Help: "Age of the oldest transition not yet on the state topic; 0 when every transition is published."},
		func() float64 { _, a := m.unpublished(); return a.Seconds() })
	if reg != nil {
		var errs []error
		for _, c := range []prometheus.Collector{m.published, m.commands, m.failures, m.lag, unpublished, age} {
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

// The label values of riskgate_worker_commands_total.
var (
	commandActions = []domain.Action{domain.ActionKill, domain.ActionUnkill, domain.ActionThrottle,
		domain.ActionExtend, domain.ActionPin, domain.ActionUnpin}
	commandTriggers = []domain.Trigger{domain.TriggerDetector, domain.TriggerOperator, domain.TriggerSystem, domain.TriggerLimit}
)

// ok records pub acknowledged.
func (m *PublishMetrics) ok(pub Publication) {
	m.published.Inc()
	if slices.Contains(commandActions, pub.Command.Action) && slices.Contains(commandTriggers, pub.Command.TriggeredBy) {
		m.commands.WithLabelValues(string(pub.Command.Action), string(pub.Command.TriggeredBy)).Inc()
	}
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
