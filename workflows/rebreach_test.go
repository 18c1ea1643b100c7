package workflows_test

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// A scope that breaches again after the detector called it normal must not
// be released while it breaches: the workflow forgets the normal, whatever
// the scope's status, and every auto-release waits for a normal that came
// after the last breach.

// breachAt signals a breach stamped with the detector's event time ts (ms).
func (h *harness) breachAt(d time.Duration, sig workflows.BreachSignal) {
	if sig.Scope == "" {
		sig.Scope = h.scope
	}
	if sig.Metric == "" {
		sig.Rule, sig.Metric, sig.Value, sig.Threshold, sig.Window = "orders_60s", "order_count", 150, 100, "60s"
	}
	h.at(d, func() { h.env.SignalWorkflow(workflows.SignalBreach, sig) })
}

// normalAt signals a normal stamped with the detector's event time ts (ms).
func (h *harness) normalAt(d time.Duration, cmdID string, ts int64) {
	h.at(d, func() {
		h.env.SignalWorkflow(workflows.SignalNormal, workflows.NormalSignal{CmdID: cmdID, Scope: h.scope, TS: ts})
	})
}

// backstop unkills at d if the run is still open, so that a test of a scope
// that (wrongly or rightly) stays killed still ends.
func (h *harness) backstop(d time.Duration) {
	h.at(d, func() {
		if !h.env.IsWorkflowCompleted() {
			h.update(0, workflows.UpdateUnkill, req("olga", "backstop"))
		}
	})
}

func TestBreachAfterNormal(t *testing.T) {
	const sec = int64(1000) // detector event time, ms
	throttled := step{domain.ActionThrottle, domain.StatusThrottled}
	tests := []struct {
		name string
		// signals sends the sequence; the cooldown is 5 min, probation 2 min.
		signals func(h *harness)
		want    []step
		// at are the times of the publications after the first kill.
		at []time.Duration
	}{
		{
			name: "breach while killed: no auto-unkill at the cooldown's end",
			signals: func(h *harness) {
				h.breachAt(0, workflows.BreachSignal{CmdID: "b1", TS: 1 * sec})
				h.normalAt(time.Minute, "det-normal:1", 60*sec)
				h.breachAt(2*time.Minute, workflows.BreachSignal{CmdID: "b2", TS: 120 * sec})
				h.normalAt(9*time.Minute, "det-normal:2", 540*sec)
			},
			want: []step{kill, probe, unkilled},
			at:   []time.Duration{9 * time.Minute, 11 * time.Minute},
		},
		{
			// The detector names a normal by the state version it saw, and a
			// breach while KILLED publishes nothing: its next normal has the
			// same cmd_id as the one the breach made the workflow forget.
			name: "the next normal may reuse the forgotten normal's cmd_id",
			signals: func(h *harness) {
				h.breachAt(0, workflows.BreachSignal{CmdID: "b1", TS: 1 * sec})
				h.normalAt(time.Minute, "det-normal:v1", 60*sec)
				h.breachAt(2*time.Minute, workflows.BreachSignal{CmdID: "b2", TS: 120 * sec})
				h.normalAt(4*time.Minute, "det-normal:v1", 240*sec)
				// A retry of that normal is still applied once.
				h.normalAt(4*time.Minute+time.Second, "det-normal:v1", 240*sec)
			},
			want: []step{kill, probe, unkilled},
			at:   []time.Duration{5 * time.Minute, 7 * time.Minute},
		},
		{
			name: "a normal older than the last breach is stale",
			signals: func(h *harness) {
				h.breachAt(0, workflows.BreachSignal{CmdID: "b1", TS: 1 * sec})
				h.breachAt(time.Minute, workflows.BreachSignal{CmdID: "b2", TS: 90 * sec})
				// Decided at 60 s, before b2, and delivered after it.
				h.normalAt(2*time.Minute, "det-normal:late", 60*sec)
				h.normalAt(10*time.Minute, "det-normal:fresh", 600*sec)
			},
			want: []step{kill, probe, unkilled},
			at:   []time.Duration{10 * time.Minute, 12 * time.Minute},
		},
		{
			name: "a breach with an unusable action still forgets the normal",
			signals: func(h *harness) {
				h.breachAt(0, workflows.BreachSignal{CmdID: "b1", TS: 1 * sec})
				h.normalAt(time.Minute, "n1", 60*sec)
				h.breachAt(2*time.Minute, workflows.BreachSignal{CmdID: "b2", TS: 120 * sec, Action: domain.ActionThrottle})
				h.normalAt(8*time.Minute, "n2", 480*sec)
			},
			want: []step{kill, probe, unkilled},
			at:   []time.Duration{8 * time.Minute, 10 * time.Minute},
		},
		{
			name: "a throttle rule breached on probation ends the probation",
			signals: func(h *harness) {
				h.breachAt(0, workflows.BreachSignal{CmdID: "b1", TS: 1 * sec})
				h.normalAt(time.Minute, "n1", 60*sec)
				// Probation from 5m to 7m; at 6m a throttle rule breaches.
				h.breachAt(6*time.Minute, workflows.BreachSignal{CmdID: "b2", TS: 360 * sec,
					Action: domain.ActionThrottle, MaxRatePerSecond: 2})
				h.normalAt(8*time.Minute, "n2", 480*sec)
			},
			// Throttled at the rule's rate for a cooldown (to 11m), lifted
			// then because the normal came after the breach.
			want: []step{kill, probe, throttled, unkilled},
			at:   []time.Duration{5 * time.Minute, 6 * time.Minute, 11 * time.Minute},
		},
		{
			name: "probation waits for a normal after a breach it could not act on",
			signals: func(h *harness) {
				h.breachAt(0, workflows.BreachSignal{CmdID: "b1", TS: 1 * sec})
				h.normalAt(time.Minute, "n1", 60*sec)
				h.breachAt(6*time.Minute, workflows.BreachSignal{CmdID: "b2", TS: 360 * sec, Action: "HALT"})
				h.normalAt(9*time.Minute, "n2", 540*sec)
			},
			want: []step{kill, probe, unkilled},
			at:   []time.Duration{5 * time.Minute, 9 * time.Minute},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, acct, workflows.Settings{})
			tc.signals(h)
			h.backstop(30 * time.Minute)
			h.run(workflows.Input{})
			pubs := h.checkPubs(tc.want...)
			for i, want := range tc.at {
				if got := pubs[i+1].At; got != want {
					t.Errorf("publication %d (%s %s) at %v, want %v", i+1, pubs[i+1].Command.Action,
						pubs[i+1].State.Status, got, want)
				}
			}
			if tc.want[2] == throttled {
				p := pubs[2]
				if p.State.MaxRatePerSecond != 2 || p.State.Trigger != domain.TriggerDetector || !p.State.AutoUnkillEnabled {
					t.Errorf("throttle breach on probation published %+v, want THROTTLED at 2/s by the detector", p.State)
				}
			}
		})
	}
}
