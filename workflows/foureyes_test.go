package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// Every path that ends or loosens the kill of a four-eyes scope (GLOBAL by
// default) needs the approvals of different operators, and a new breach
// voids approvals given before it.

func TestFourEyesUnpin(t *testing.T) {
	h := newHarness(t, domain.Global, workflows.Settings{})
	h.breach(0, "b1")
	h.normal(time.Minute, "n1")
	h.update(2*time.Minute, workflows.UpdatePin, req("alice", "investigating"))
	// The cooldown ends at 5m; the scope is normal, so only the pin holds it.
	first := h.update(6*time.Minute, workflows.UpdateUnpin, req("alice", "all clear"))
	again := h.update(6*time.Minute+time.Second, workflows.UpdateUnpin, req("alice", "really"))
	held := h.queryState(6*time.Minute + 30*time.Second)
	second := h.update(7*time.Minute, workflows.UpdateUnpin, req("bob", "agreed"))
	h.run(workflows.Input{})

	if first.Err != nil || first.State.AutoUnkillEnabled || len(first.State.Approvals) != 1 || first.State.Approvals[0].Operator != "alice" {
		t.Errorf("first unpin of GLOBAL returned %+v, want an approval with auto-unkill still off", first)
	}
	if !again.Rejected || !workflows.IsConflict(again.Err) {
		t.Errorf("second unpin by the same operator: %+v, want a conflict", again)
	}
	if held.Status != domain.StatusKilled || held.AutoUnkillEnabled {
		t.Errorf("GLOBAL after one operator's unpin: %+v, want KILLED and pinned", *held)
	}
	if second.Err != nil {
		t.Errorf("second operator's unpin: %v", second.Err)
	}
	pubs := h.checkPubs(kill, step{domain.ActionPin, domain.StatusKilled}, step{domain.ActionUnpin, domain.StatusKilled},
		probe, unkilled)
	if pubs[2].At != 7*time.Minute || pubs[2].Command.Operator != "bob" || !strings.Contains(pubs[2].Command.Reason, "alice, bob") {
		t.Errorf("unpin published at %v by %s (%q), want at 7m by bob naming both operators",
			pubs[2].At, pubs[2].Command.Operator, pubs[2].Command.Reason)
	}
}

func TestFourEyesLooseningRejected(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness) // the GLOBAL kill or throttle
		req   workflows.OperatorRequest
		upd   string
	}{
		{
			name:  "re-kill with auto-unkill and a short cooldown",
			setup: func(h *harness) { h.update(0, workflows.UpdateKill, req("alice", "exchange incident")) },
			upd:   workflows.UpdateKill,
			req:   workflows.OperatorRequest{Operator: "alice", Reason: "let it go", AutoUnkill: true, CooldownSeconds: 1},
		},
		{
			name: "throttle at a higher rate",
			setup: func(h *harness) {
				h.update(0, workflows.UpdateThrottle, workflows.OperatorRequest{Operator: "alice", Reason: "hot", MaxRatePerSecond: 5})
			},
			upd: workflows.UpdateThrottle,
			req: workflows.OperatorRequest{Operator: "alice", Reason: "wider", MaxRatePerSecond: 500},
		},
		{
			name: "throttle that turns auto-unkill on",
			setup: func(h *harness) {
				h.update(0, workflows.UpdateThrottle, workflows.OperatorRequest{Operator: "alice", Reason: "hot", MaxRatePerSecond: 5})
			},
			upd: workflows.UpdateThrottle,
			req: workflows.OperatorRequest{Operator: "alice", Reason: "lift soon", MaxRatePerSecond: 5, CooldownSeconds: 1, AutoUnkill: true},
		},
		{
			name:  "throttle of a kill",
			setup: func(h *harness) { h.breach(0, "b1") },
			upd:   workflows.UpdateThrottle,
			req:   workflows.OperatorRequest{Operator: "alice", Reason: "ease", MaxRatePerSecond: 5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, domain.Global, workflows.Settings{})
			h.normal(0, "n0")
			tc.setup(h)
			res := h.update(time.Minute, tc.upd, tc.req)
			held := h.queryState(2 * time.Minute)
			h.update(3*time.Minute, workflows.UpdateUnkill, req("alice", "done"))
			h.update(4*time.Minute, workflows.UpdateUnkill, req("bob", "done"))
			h.run(workflows.Input{})
			if !res.Rejected || !workflows.IsConflict(res.Err) || !strings.Contains(res.Err.Error(), "four eyes") {
				t.Fatalf("%s of GLOBAL by one operator: %+v, want a conflict naming four eyes", tc.upd, res)
			}
			if held.Status == domain.StatusActive {
				t.Errorf("GLOBAL released by one operator: %+v", *held)
			}
			pubs := h.pub.snapshot()
			if last := pubs[len(pubs)-1]; last.At != 4*time.Minute || last.State.Status != domain.StatusActive {
				t.Errorf("GLOBAL ACTIVE at %v, want only at the second operator's unkill (4m)", last.At)
			}
		})
	}
}

func TestFourEyesTighteningAllowed(t *testing.T) {
	h := newHarness(t, domain.Global, workflows.Settings{})
	h.update(0, workflows.UpdateThrottle, workflows.OperatorRequest{Operator: "alice", Reason: "hot", MaxRatePerSecond: 5})
	slower := h.update(time.Minute, workflows.UpdateThrottle, workflows.OperatorRequest{Operator: "alice", Reason: "slower", MaxRatePerSecond: 1})
	k := h.update(2*time.Minute, workflows.UpdateKill, req("alice", "stop"))
	ext := h.update(3*time.Minute, workflows.UpdateExtend, workflows.OperatorRequest{Operator: "alice", Reason: "longer", CooldownSeconds: 600})
	h.update(4*time.Minute, workflows.UpdateUnkill, req("alice", "done"))
	h.update(5*time.Minute, workflows.UpdateUnkill, req("bob", "done"))
	h.run(workflows.Input{})
	for name, r := range map[string]*updateResult{"slower throttle": slower, "kill": k, "extend": ext} {
		if r.Err != nil {
			t.Errorf("%s of GLOBAL by one operator: %v", name, r.Err)
		}
	}
	h.checkPubs(step{domain.ActionThrottle, domain.StatusThrottled}, step{domain.ActionThrottle, domain.StatusThrottled},
		kill, step{domain.ActionExtend, domain.StatusKilled}, unkilled)
}

func TestBreachClearsPendingApproval(t *testing.T) {
	h := newHarness(t, domain.Global, workflows.Settings{})
	h.breach(0, "b1")
	alice := h.update(time.Minute, workflows.UpdateUnkill, req("alice", "looks fine"))
	// The scope breaches again: alice approved what she saw before it.
	h.breach(2*time.Minute, "b2")
	cleared := h.queryState(2*time.Minute + time.Second)
	bob := h.update(3*time.Minute, workflows.UpdateUnkill, req("bob", "agreed"))
	carol := h.update(4*time.Minute, workflows.UpdateUnkill, req("carol", "agreed"))
	hist := h.queryHistory(4*time.Minute - time.Second)
	h.run(workflows.Input{})

	if alice.Err != nil || len(alice.State.Approvals) != 1 {
		t.Fatalf("alice's approval: %+v", alice)
	}
	if len(cleared.Approvals) != 0 {
		t.Errorf("approvals after a new breach: %+v, want none", cleared.Approvals)
	}
	if bob.Err != nil || bob.State.Status != domain.StatusKilled || len(bob.State.Approvals) != 1 || bob.State.Approvals[0].Operator != "bob" {
		t.Errorf("bob's unkill after the breach: %+v, want approval 1 of 2", bob)
	}
	if carol.Err != nil || carol.State.Status != domain.StatusActive {
		t.Errorf("carol's unkill: %+v, want ACTIVE", carol)
	}
	pubs := h.checkPubs(kill, unkilled)
	if pubs[1].At != 4*time.Minute {
		t.Errorf("released at %v, want at carol's unkill (4m)", pubs[1].At)
	}
	var voided bool
	for _, tr := range *hist {
		voided = voided || strings.Contains(tr.Reason, "cleared by a new breach")
	}
	if !voided {
		t.Errorf("history does not say the approval was cleared: %+v", *hist)
	}
}
