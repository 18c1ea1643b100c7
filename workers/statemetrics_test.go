package workers

import (
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/killstate"
)

// gauges gathers reg as name{label value} → value.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			out[name] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestStateMetrics(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	table := killstate.NewTable(nil)
	ready := false
	m := newStateMetrics(table, func() bool { return ready })
	m.now = func() time.Time { return now }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)

	table.ApplyState(domain.State{Scope: "ACCOUNT:1", Status: domain.StatusActive, Version: 1, UpdatedTS: ago(3 * time.Hour)})
	table.ApplyState(domain.State{Scope: "ACCOUNT:2", Status: domain.StatusKilled, Version: 1, UpdatedTS: ago(90 * time.Minute)})
	if got := gauges(t, reg); len(got) != 0 {
		t.Errorf("before the follower is ready: %v, want nothing (a partial count)", got)
	}

	ready = true
	table.ApplyState(domain.State{Scope: "ACCOUNT:2", Status: domain.StatusActive, Version: 2, UpdatedTS: ago(80 * time.Minute)})
	want := map[string]float64{
		"riskgate_worker_scopes{ACTIVE}": 2, "riskgate_worker_scopes{KILLED}": 0, "riskgate_worker_scopes{THROTTLED}": 0,
		"riskgate_worker_oldest_kill_age_seconds": 0,
	}
	if got := gauges(t, reg); !reflect.DeepEqual(got, want) {
		t.Errorf("no kill: %v, want %v", got, want)
	}

	table.ApplyState(domain.State{Scope: "ACCOUNT:3", Status: domain.StatusKilled, Version: 1, UpdatedTS: ago(90 * time.Minute)})
	table.ApplyState(domain.State{Scope: "SYMBOL:AAPL", Status: domain.StatusKilled, Version: 4, UpdatedTS: ago(10 * time.Minute)})
	table.ApplyState(domain.State{Scope: "STRATEGY:X", Status: domain.StatusThrottled, MaxRatePerSecond: 5, Version: 2, UpdatedTS: ago(4 * time.Hour)})
	want = map[string]float64{
		"riskgate_worker_scopes{ACTIVE}": 2, "riskgate_worker_scopes{KILLED}": 2, "riskgate_worker_scopes{THROTTLED}": 1,
		// The older kill's; the throttle's older transition does not count.
		"riskgate_worker_oldest_kill_age_seconds": 5400,
	}
	if got := gauges(t, reg); !reflect.DeepEqual(got, want) {
		t.Errorf("two kills and a throttle: %v, want %v", got, want)
	}

	// The older kill is released: the age is the remaining kill's.
	table.ApplyState(domain.State{Scope: "ACCOUNT:3", Status: domain.StatusActive, Version: 2, UpdatedTS: ago(time.Minute)})
	if got := gauges(t, reg)["riskgate_worker_oldest_kill_age_seconds"]; got != 600 {
		t.Errorf("oldest kill age after the release %v s, want 600", got)
	}
}
