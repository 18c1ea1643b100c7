package workflows_test

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// Operator-given durations are bounded by Settings.MaxOperatorCooldown, so
// no cooldown_seconds can wrap cooldown_until into the past (and release
// the scope) or hold a kill's auto-unkill off for centuries.
func TestOperatorCooldownBounded(t *testing.T) {
	// 2^61-1 s: times 1000 it wraps to -1000 ms.
	const wraps = 2_305_843_009_213_693_951
	tests := []struct {
		name     string
		settings workflows.Settings
		update   string
		req      workflows.OperatorRequest
		accepted bool
	}{
		{name: "extend that would wrap", update: workflows.UpdateExtend,
			req: workflows.OperatorRequest{Operator: "olga", Reason: "longer", CooldownSeconds: wraps}},
		{name: "kill that would wrap", update: workflows.UpdateKill,
			req: workflows.OperatorRequest{Operator: "olga", Reason: "again", CooldownSeconds: wraps, AutoUnkill: true}},
		{name: "throttle that would wrap", update: workflows.UpdateThrottle,
			req: workflows.OperatorRequest{Operator: "olga", Reason: "ease", MaxRatePerSecond: 1, CooldownSeconds: wraps, AutoUnkill: true}},
		{name: "kill above the configured maximum", settings: workflows.Settings{MaxOperatorCooldown: time.Hour},
			update: workflows.UpdateKill, req: workflows.OperatorRequest{Operator: "olga", Reason: "again", CooldownSeconds: 3601}},
		{name: "extend beyond the configured maximum in total", settings: workflows.Settings{MaxOperatorCooldown: time.Hour},
			// The kill's 5 min cooldown has 4 min left: 3,500 s more is over an hour.
			update: workflows.UpdateExtend, req: workflows.OperatorRequest{Operator: "olga", Reason: "longer", CooldownSeconds: 3500}},
		{name: "extend up to the configured maximum", settings: workflows.Settings{MaxOperatorCooldown: time.Hour},
			update: workflows.UpdateExtend, req: workflows.OperatorRequest{Operator: "olga", Reason: "longer", CooldownSeconds: 3360},
			accepted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, acct, tc.settings)
			h.breach(0, "b1")
			h.normal(30*time.Second, "n1")
			res := h.update(time.Minute, tc.update, tc.req)
			held := h.queryState(2 * time.Minute)
			h.backstop(2 * time.Hour)
			h.run(workflows.Input{})
			if tc.accepted {
				if res.Err != nil || res.State.CooldownUntil != res.State.UpdatedTS+time.Hour.Milliseconds() {
					t.Errorf("extend to the maximum: %+v, want accepted with the cooldown an hour from now", res)
				}
				return
			}
			if !res.Rejected || !workflows.IsInvalid(res.Err) {
				t.Fatalf("%s with cooldown_seconds %d: %+v, want rejected as invalid", tc.update, tc.req.CooldownSeconds, res)
			}
			if held.Status != domain.StatusKilled || held.CooldownUntil <= held.UpdatedTS {
				t.Errorf("state after the rejected %s: %+v, want KILLED with its cooldown ahead", tc.update, *held)
			}
		})
	}
}
