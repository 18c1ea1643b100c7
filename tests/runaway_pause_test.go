package tests

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
)

// TestPausedRunawayIsNotReleased is the fail-open sequence of a runaway
// that pauses during its cooldown, on the real stack: it breaches and is
// KILLED; it goes quiet long enough for the detector to report it normal;
// it resumes while still KILLED. The new breach must reach the workflow, so
// when the cooldown ends the scope stays KILLED instead of going to
// probation while the runaway runs on.
func TestPausedRunawayIsNotReleased(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const cooldown = 25 * time.Second
	rules := detector.Rules{NormalAfter: 2 * time.Second, Rules: []detector.Rule{
		{Name: "account_count_10s", Dimension: domain.ScopeAccount, Window: 10 * time.Second, Metric: detector.MetricCount, Threshold: 20, Action: domain.ActionKill},
	}}
	s := startStack(t, devstack.Options{Cooldown: cooldown, Detector: detector.Config{Rules: rules}})
	cl := producer(t, s)
	send := func(n int) {
		t.Helper()
		rs := make([]*kgo.Record, 0, n)
		for range n {
			rs = append(rs, detRecord(t, order("RUNAWAY", "MSFT")))
		}
		if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	scope := domain.Scope("ACCOUNT:RUNAWAY")
	normals := func() float64 { return gauge(t, s, "riskgate_detector_normals_total") }

	send(30)
	var killed domain.State
	eventually(t, 60*time.Second, "the runaway KILLED", func() bool {
		var ok bool
		killed, ok = s.States.Get(scope)
		return ok && killed.Status == domain.StatusKilled
	})
	// Quiet until the detector has told the workflow the scope is normal.
	before := normals()
	eventually(t, 60*time.Second, "the detector reporting the paused runaway normal", func() bool { return normals() > before })
	if st, _ := s.States.Get(scope); st.Status != domain.StatusKilled {
		t.Fatalf("released before its cooldown ended: %+v", st)
	}
	cooldownEnds := time.UnixMilli(killed.CooldownUntil)
	if time.Until(cooldownEnds) < 3*time.Second {
		t.Fatalf("the machine is too slow for this test's timeline: the cooldown ends %s after the normal", time.Until(cooldownEnds))
	}

	// It resumes at 4 orders/s (40 per 10 s against a limit of 20) until
	// well past the end of the cooldown.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				send(1)
			}
		}
	}()
	for time.Now().Before(cooldownEnds.Add(8 * time.Second)) {
		if st, _ := s.States.Get(scope); st.Status != domain.StatusKilled {
			t.Fatalf("%s went %s (%s) while the runaway was still breaching", scope, st.Status, st.Reason)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	<-done
}

// gauge reads one unlabelled metric of the stack's registry (0 if absent).
func gauge(t *testing.T, s *devstack.Stack, name string) float64 {
	t.Helper()
	mfs, err := s.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var v float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				v += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v += m.GetGauge().GetValue()
			}
		}
		return v
	}
	return 0
}
