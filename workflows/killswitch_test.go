package workflows_test

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

const acct = domain.Scope("ACCOUNT:12345")

func TestBreachKillsThenCooldownAutoUnkills(t *testing.T) {
	tests := []struct {
		name     string
		settings workflows.Settings
		normalAt time.Duration // 0: never
		want     []step
		activeAt time.Duration // when the last publication happens
	}{
		{
			name:     "probation after normal",
			settings: workflows.Settings{Cooldown: 5 * time.Minute},
			normalAt: 2 * time.Minute,
			want: []step{
				{domain.ActionKill, domain.StatusKilled},
				{domain.ActionThrottle, domain.StatusThrottled},
				{domain.ActionUnkill, domain.StatusActive},
			},
			activeAt: 5*time.Minute + 2*time.Minute,
		},
		{
			name:     "normal after the cooldown",
			settings: workflows.Settings{Cooldown: 5 * time.Minute},
			normalAt: 9 * time.Minute,
			want: []step{
				{domain.ActionKill, domain.StatusKilled},
				{domain.ActionThrottle, domain.StatusThrottled},
				{domain.ActionUnkill, domain.StatusActive},
			},
			activeAt: 9*time.Minute + 2*time.Minute,
		},
		{
			name:     "straight to ACTIVE without probation or normal",
			settings: workflows.Settings{Cooldown: 30 * time.Second, Probation: -1, IgnoreNormal: true},
			want: []step{
				{domain.ActionKill, domain.StatusKilled},
				{domain.ActionUnkill, domain.StatusActive},
			},
			activeAt: 30 * time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, acct, tc.settings)
			h.breach(0, "b1")
			if tc.normalAt > 0 {
				h.normal(tc.normalAt, "n1")
			}
			killed := h.queryState(time.Second)
			h.run(workflows.Input{})
			if killed.Status != domain.StatusKilled || killed.Trigger != domain.TriggerDetector || killed.CorrID != "corr-b1" {
				t.Errorf("state after the breach: %+v", *killed)
			}
			pubs := h.checkPubs(tc.want...)
			if pubs[0].At != 0 {
				t.Errorf("KILLED published at %v, want at once", pubs[0].At)
			}
			if got := pubs[len(pubs)-1].At; got != tc.activeAt {
				t.Errorf("ACTIVE published at %v, want %v", got, tc.activeAt)
			}
			if want := pubs[0].State.UpdatedTS + tc.settings.Cooldown.Milliseconds(); pubs[0].State.CooldownUntil != want {
				t.Errorf("cooldown_until %d, want %d", pubs[0].State.CooldownUntil, want)
			}
			if st := h.result(); st.Status != domain.StatusActive {
				t.Errorf("result %+v, want ACTIVE", st)
			}
		})
	}
}

func TestUnkillDuringCooldown(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.breach(0, "b1")
	bad := h.update(time.Minute, workflows.UpdateUnkill, workflows.OperatorRequest{Reason: "", Operator: "olga"})
	res := h.update(2*time.Minute, workflows.UpdateUnkill, workflows.OperatorRequest{Reason: "false positive", Operator: "olga"})
	h.run(workflows.Input{})
	if !bad.Rejected || !workflows.IsInvalid(bad.Err) {
		t.Errorf("unkill without a reason: %+v, want rejected as invalid", bad)
	}
	if res.Err != nil || res.State.Status != domain.StatusActive || res.State.UpdatedBy != "olga" {
		t.Fatalf("unkill returned %+v", res)
	}
	pubs := h.checkPubs(step{domain.ActionKill, domain.StatusKilled}, step{domain.ActionUnkill, domain.StatusActive})
	if pubs[1].At != 2*time.Minute {
		t.Errorf("ACTIVE published at %v, want at the unkill (2m)", pubs[1].At)
	}
	if c := pubs[1].Command; c.Operator != "olga" || c.TriggeredBy != domain.TriggerOperator || c.Reason != "false positive" {
		t.Errorf("unkill command %+v", c)
	}
	if h.result().Version != res.State.Version {
		t.Errorf("result version %d, update returned %d", h.result().Version, res.State.Version)
	}
}

func TestDuplicateBreachesPublishOnce(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{Cooldown: time.Minute, Probation: -1, IgnoreNormal: true})
	// The same signal delivered three times, and two more breaches of the
	// same incident, some in the first workflow task, some later.
	h.breach(0, "b1")
	h.breach(0, "b1")
	h.breach(0, "b2")
	h.breach(10*time.Second, "b1")
	h.breach(20*time.Second, "b3")
	h.run(workflows.Input{})
	pubs := h.checkPubs(step{domain.ActionKill, domain.StatusKilled}, step{domain.ActionUnkill, domain.StatusActive})
	if pubs[0].Command.CmdID != "b1" {
		t.Errorf("kill command %q, want the first breach b1", pubs[0].Command.CmdID)
	}
}
