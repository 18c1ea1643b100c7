package workers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/killstate"
)

// stateMetrics reports the kill state as the worker reads it from
// killswitch.state.v1: how many scopes are in each status, and how long
// the longest-held kill has stood. It counts at scrape time, so it costs
// nothing between scrapes, and reports nothing until the follower has read
// the topic to its end (a partial count would say scopes were released).
type stateMetrics struct {
	table  *killstate.Table
	ready  func() bool
	now    func() time.Time
	scopes *prometheus.Desc
	oldest *prometheus.Desc
}

func newStateMetrics(table *killstate.Table, ready func() bool) *stateMetrics {
	return &stateMetrics{
		table: table, ready: ready, now: time.Now,
		scopes: prometheus.NewDesc("riskgate_worker_scopes",
			"Scopes on killswitch.state.v1 by kill status (ACTIVE, KILLED, THROTTLED).", []string{"status"}, nil),
		oldest: prometheus.NewDesc("riskgate_worker_oldest_kill_age_seconds",
			"Time since the longest-held KILLED scope's last transition (its updated_ts); 0 when no scope is KILLED.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *stateMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.scopes
	ch <- m.oldest
}

// Collect implements prometheus.Collector.
func (m *stateMetrics) Collect(ch chan<- prometheus.Metric) {
	if !m.ready() {
		return
	}
	var active, killed, throttled int
	var oldest int64 // Unix ms of the oldest KILLED state's transition
	m.table.Each(func(st domain.State) {
		switch st.Status {
		case domain.StatusKilled:
			killed++
			if st.UpdatedTS > 0 && (oldest == 0 || st.UpdatedTS < oldest) {
				oldest = st.UpdatedTS
			}
		case domain.StatusThrottled:
			throttled++
		default:
			active++
		}
	})
	ch <- prometheus.MustNewConstMetric(m.scopes, prometheus.GaugeValue, float64(active), string(domain.StatusActive))
	ch <- prometheus.MustNewConstMetric(m.scopes, prometheus.GaugeValue, float64(killed), string(domain.StatusKilled))
	ch <- prometheus.MustNewConstMetric(m.scopes, prometheus.GaugeValue, float64(throttled), string(domain.StatusThrottled))
	var age float64
	if oldest > 0 {
		age = max(0, m.now().Sub(time.UnixMilli(oldest)).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age)
}
