package workflows_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

var (
	kill     = step{domain.ActionKill, domain.StatusKilled}
	probe    = step{domain.ActionThrottle, domain.StatusThrottled}
	unkilled = step{domain.ActionUnkill, domain.StatusActive}
)

func cooldownOf(p published) time.Duration {
	return time.Duration(p.State.CooldownUntil-p.State.UpdatedTS) * time.Millisecond
}

func TestPinnedScopeWaitsForOperator(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.breach(0, "b1")
	pin := h.update(time.Minute, workflows.UpdatePin, req("olga", "investigating"))
	h.normal(2*time.Minute, "n1")
	held := h.queryState(30 * time.Minute)
	unpin := h.update(31*time.Minute, workflows.UpdateUnpin, req("olga", "all clear"))
	h.run(workflows.Input{})

	if pin.Err != nil || pin.State.AutoUnkillEnabled || pin.State.Status != domain.StatusKilled {
		t.Errorf("pin returned %+v", pin)
	}
	if held.Status != domain.StatusKilled || held.AutoUnkillEnabled {
		t.Errorf("pinned scope after its cooldown and a normal signal: %+v, want KILLED without auto-unkill", *held)
	}
	if unpin.Err != nil {
		t.Errorf("unpin: %v", unpin.Err)
	}
	pubs := h.checkPubs(kill, step{domain.ActionPin, domain.StatusKilled}, step{domain.ActionUnpin, domain.StatusKilled},
		probe, unkilled)
	if pubs[3].At != 31*time.Minute || pubs[4].At != 33*time.Minute {
		t.Errorf("probation at %v and ACTIVE at %v, want 31m and 33m", pubs[3].At, pubs[4].At)
	}
}

func TestOperatorKill(t *testing.T) {
	tests := []struct {
		name   string
		kill   workflows.OperatorRequest
		want   []step
		lastAt time.Duration
	}{
		{
			name:   "stays killed until unkilled",
			kill:   req("olga", "fat finger"),
			want:   []step{kill, unkilled},
			lastAt: 20 * time.Minute,
		},
		{
			name: "auto-unkill when asked",
			kill: workflows.OperatorRequest{Operator: "olga", Reason: "cool off", CooldownSeconds: 60, AutoUnkill: true},
			want: []step{kill, probe, unkilled},
			// cooldown 60 s, then 2 min of probation
			lastAt: 3 * time.Minute,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, acct, workflows.Settings{})
			k := h.update(0, workflows.UpdateKill, tc.kill)
			h.normal(30*time.Second, "n1")
			held := h.queryState(10 * time.Minute)
			h.at(20*time.Minute, func() {
				if !h.env.IsWorkflowCompleted() {
					h.env.UpdateWorkflow(workflows.UpdateUnkill, "u1", &testsuite.TestUpdateCallback{
						OnReject: func(err error) { t.Errorf("unkill rejected: %v", err) },
					}, workflows.OperatorRequest{Scope: acct, Operator: "olga", Reason: "done"})
				}
			})
			h.run(workflows.Input{})
			if k.Err != nil || k.State.Status != domain.StatusKilled || k.State.Trigger != domain.TriggerOperator ||
				k.State.UpdatedBy != "olga" || k.State.AutoUnkillEnabled != tc.kill.AutoUnkill {
				t.Errorf("kill returned %+v", k)
			}
			if k.State.CorrID == "" {
				t.Error("operator kill has no corr_id")
			}
			if !tc.kill.AutoUnkill && held.Status != domain.StatusKilled {
				t.Errorf("operator kill after 10 min: %+v, want KILLED", *held)
			}
			pubs := h.checkPubs(tc.want...)
			if got := pubs[len(pubs)-1].At; got != tc.lastAt {
				t.Errorf("ACTIVE at %v, want %v", got, tc.lastAt)
			}
		})
	}
}

func TestEscalation(t *testing.T) {
	tests := []struct {
		name        string
		maxCooldown time.Duration
		cooldowns   []time.Duration // of the three kills
	}{
		{"doubling", time.Hour, []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute}},
		{"capped", 8 * time.Minute, []time.Duration{5 * time.Minute, 8 * time.Minute, 8 * time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, acct, workflows.Settings{MaxCooldown: tc.maxCooldown})
			c := tc.cooldowns
			// Each offence: breach, normal a minute later, probation at the
			// cooldown's end, breach again a minute into probation.
			at := time.Duration(0)
			for i := range 3 {
				h.breach(at, fmt.Sprintf("b%d", i+1))
				h.normal(at+time.Minute, fmt.Sprintf("n%d", i+1))
				at += c[i] + time.Minute
			}
			// After the third offence the scope is pinned: normal and the
			// cooldown's end change nothing.
			held := h.queryIncident(at + time.Hour)
			unkill := h.update(at+time.Hour+time.Minute, workflows.UpdateUnkill, req("olga", "reviewed"))
			h.run(workflows.Input{})

			pubs := h.checkPubs(kill, probe, kill, probe, kill, unkilled)
			for i, p := range []published{pubs[0], pubs[2], pubs[4]} {
				if got := cooldownOf(p); got != c[i] {
					t.Errorf("kill %d: cooldown %v, want %v", i+1, got, c[i])
				}
			}
			if pubs[4].State.AutoUnkillEnabled || !strings.Contains(pubs[4].Command.Reason, "offence 3") {
				t.Errorf("third offence %+v, want pinned with the reason saying so", pubs[4])
			}
			if !held.Pinned || held.State.Status != domain.StatusKilled || len(held.Offences) != 3 {
				t.Errorf("after the third offence: pinned=%v status=%s offences=%d", held.Pinned, held.State.Status, len(held.Offences))
			}
			if unkill.Err != nil || unkill.State.Status != domain.StatusActive {
				t.Errorf("operator unkill of a pinned scope: %+v", unkill)
			}
		})
	}
}

func TestOffencesOutsideTheWindowDoNotPin(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{OffenceWindow: 10 * time.Minute})
	// Offences at 0, 6m and 17m: never three within 10 minutes.
	h.breach(0, "b1")
	h.normal(time.Minute, "n1")
	h.breach(6*time.Minute, "b2")
	h.normal(7*time.Minute, "n2")
	h.breach(17*time.Minute, "b3")
	h.normal(18*time.Minute, "n3")
	h.run(workflows.Input{})
	pubs := h.checkPubs(kill, probe, kill, probe, kill, probe, unkilled)
	if !pubs[4].State.AutoUnkillEnabled {
		t.Errorf("third kill pinned although the first offence left the window: %+v", pubs[4].State)
	}
}

func TestFourEyes(t *testing.T) {
	type approval struct {
		at       time.Duration
		operator string
		rejected bool
		status   domain.Status
		approved int
	}
	tests := []struct {
		name      string
		scope     domain.Scope
		settings  workflows.Settings
		approvals []approval
	}{
		{
			name:  "two operators release GLOBAL",
			scope: domain.Global,
			approvals: []approval{
				{at: time.Minute, operator: "alice", status: domain.StatusKilled, approved: 1},
				{at: 2 * time.Minute, operator: "alice", rejected: true},
				{at: 4 * time.Minute, operator: "bob", status: domain.StatusActive},
			},
		},
		{
			name:  "first approval times out",
			scope: domain.Global,
			approvals: []approval{
				{at: time.Minute, operator: "alice", status: domain.StatusKilled, approved: 1},
				{at: 12 * time.Minute, operator: "bob", status: domain.StatusKilled, approved: 1},
				{at: 13 * time.Minute, operator: "carol", status: domain.StatusActive},
			},
		},
		{
			name:  "configured for accounts",
			scope: acct,
			settings: workflows.Settings{FourEyes: map[domain.ScopeType]workflows.ApprovalPolicy{
				domain.ScopeAccount: {Required: 2, Window: 5 * time.Minute},
			}},
			approvals: []approval{
				{at: time.Minute, operator: "alice", status: domain.StatusKilled, approved: 1},
				{at: 7 * time.Minute, operator: "bob", status: domain.StatusKilled, approved: 1},
				{at: 8 * time.Minute, operator: "alice", status: domain.StatusActive},
			},
		},
		{
			name:  "one operator for accounts by default",
			scope: acct,
			approvals: []approval{
				{at: time.Minute, operator: "alice", status: domain.StatusActive},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.scope, tc.settings)
			h.breach(0, "b1")
			results := make([]*updateResult, len(tc.approvals))
			for i, a := range tc.approvals {
				results[i] = h.update(a.at, workflows.UpdateUnkill, req(a.operator, "reviewed by "+a.operator))
			}
			first := tc.approvals[0]
			hist := h.queryHistory(first.at + time.Second)
			h.run(workflows.Input{})

			for i, a := range tc.approvals {
				r := results[i]
				if a.rejected {
					if !r.Rejected || !workflows.IsConflict(r.Err) {
						t.Errorf("approval %d by %s: %+v, want a conflict", i, a.operator, r)
					}
					continue
				}
				if r.Err != nil || r.State.Status != a.status || len(r.State.Approvals) != a.approved {
					t.Errorf("approval %d by %s: status %s approvals %+v err %v, want %s with %d",
						i, a.operator, r.State.Status, r.State.Approvals, r.Err, a.status, a.approved)
				}
				if a.approved == 1 && r.State.Approvals[0].Operator != a.operator {
					t.Errorf("approval %d recorded %+v", i, r.State.Approvals)
				}
			}
			pubs := h.checkPubs(kill, unkilled)
			last := tc.approvals[len(tc.approvals)-1]
			if pubs[1].At != last.at || pubs[1].Command.Operator != last.operator {
				t.Errorf("released at %v by %s, want %v by %s", pubs[1].At, pubs[1].Command.Operator, last.at, last.operator)
			}
			if first.approved == 1 && (len(*hist) != 2 || !strings.HasPrefix((*hist)[1].Reason, "approval 1 of 2")) {
				t.Errorf("history after the first approval: %+v", *hist)
			}
		})
	}
}

func TestDuplicateCmdID(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	first := h.update(0, workflows.UpdateKill, workflows.OperatorRequest{CmdID: "k1", Operator: "olga", Reason: "runaway"})
	var again updateResult
	h.at(time.Minute, func() {
		// The same command retried under a new update id (a client retry
		// after a timeout): the workflow recognises the cmd_id.
		h.env.UpdateWorkflow(workflows.UpdateKill, "k1-retry", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { again.Err, again.Rejected = err, true },
			OnComplete: func(v any, err error) {
				again.Err, again.Done = err, true
				if err == nil {
					again.State = decodeState(t, v)
				}
			},
		}, workflows.OperatorRequest{CmdID: "k1", Scope: acct, Operator: "olga", Reason: "runaway"})
	})
	// A signal that reuses the cmd_id is a no-op too.
	h.breach(2*time.Minute, "k1")
	h.update(3*time.Minute, workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: "u1", Operator: "olga", Reason: "done"})
	h.run(workflows.Input{})
	if first.Err != nil || again.Err != nil || !again.Done {
		t.Fatalf("kill: %+v, retry: %+v", first, again)
	}
	if again.State.Version != first.State.Version {
		t.Errorf("retry returned version %d, the kill %d", again.State.Version, first.State.Version)
	}
	h.checkPubs(kill, unkilled)
}

func TestValidationRejects(t *testing.T) {
	tests := []struct {
		name     string
		scope    domain.Scope
		killed   bool
		update   string
		req      workflows.OperatorRequest
		conflict bool // else invalid
	}{
		{name: "kill without reason", update: workflows.UpdateKill, req: workflows.OperatorRequest{Operator: "olga"}},
		{name: "kill without operator", update: workflows.UpdateKill, req: workflows.OperatorRequest{Reason: "x"}},
		{name: "kill of another scope", update: workflows.UpdateKill, req: workflows.OperatorRequest{Scope: "ACCOUNT:999", Operator: "olga", Reason: "x"}},
		{name: "kill of a malformed scope", update: workflows.UpdateKill, req: workflows.OperatorRequest{Scope: "ACCOUNT:", Operator: "olga", Reason: "x"}},
		{name: "negative cooldown", update: workflows.UpdateKill, req: workflows.OperatorRequest{Operator: "olga", Reason: "x", CooldownSeconds: -5}},
		{name: "throttle without rate", update: workflows.UpdateThrottle, req: req("olga", "slow down")},
		{name: "extend by zero", killed: true, update: workflows.UpdateExtend, req: req("olga", "longer")},
		{name: "unkill of an ACTIVE scope", update: workflows.UpdateUnkill, req: req("olga", "x"), conflict: true},
		{name: "extend of an ACTIVE scope", update: workflows.UpdateExtend,
			req: workflows.OperatorRequest{Operator: "olga", Reason: "x", CooldownSeconds: 60}, conflict: true},
		{name: "pin of an ACTIVE scope", update: workflows.UpdatePin, req: req("olga", "x"), conflict: true},
		{name: "unpin of an ACTIVE scope", update: workflows.UpdateUnpin, req: req("olga", "x"), conflict: true},
		{name: "throttle of a killed GLOBAL", scope: domain.Global, killed: true, update: workflows.UpdateThrottle,
			req: workflows.OperatorRequest{Operator: "olga", Reason: "x", MaxRatePerSecond: 5}, conflict: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scope := tc.scope
			if scope == "" {
				scope = acct
			}
			h := newHarness(t, scope, workflows.Settings{FourEyes: map[domain.ScopeType]workflows.ApprovalPolicy{}})
			if tc.killed {
				h.breach(0, "b1")
			}
			res := h.update(time.Second, tc.update, tc.req)
			if tc.killed {
				h.update(2*time.Second, workflows.UpdateUnkill, req("olga", "done"))
				if scope == domain.Global {
					h.update(3*time.Second, workflows.UpdateUnkill, req("bob", "done"))
				}
			}
			h.run(workflows.Input{})
			if !res.Rejected {
				t.Fatalf("%s accepted: %+v", tc.update, res)
			}
			if tc.conflict && !workflows.IsConflict(res.Err) || !tc.conflict && !workflows.IsInvalid(res.Err) {
				t.Errorf("rejection %v (conflict=%v invalid=%v), want conflict=%v", res.Err,
					workflows.IsConflict(res.Err), workflows.IsInvalid(res.Err), tc.conflict)
			}
			if tc.killed {
				h.checkPubs(kill, unkilled)
			} else {
				h.checkPubs()
			}
		})
	}
}

func TestThrottleAndExtend(t *testing.T) {
	t.Run("operator throttle, then a breach kills", func(t *testing.T) {
		h := newHarness(t, acct, workflows.Settings{})
		th := h.update(0, workflows.UpdateThrottle, workflows.OperatorRequest{Operator: "olga", Reason: "hot", MaxRatePerSecond: 5})
		h.breach(time.Minute, "b1")
		h.update(2*time.Minute, workflows.UpdateUnkill, req("olga", "done"))
		h.run(workflows.Input{})
		if th.Err != nil || th.State.Status != domain.StatusThrottled || th.State.MaxRatePerSecond != 5 {
			t.Errorf("throttle returned %+v", th)
		}
		pubs := h.checkPubs(step{domain.ActionThrottle, domain.StatusThrottled}, kill, unkilled)
		if pubs[1].State.Trigger != domain.TriggerDetector || pubs[1].State.MaxRatePerSecond != 0 {
			t.Errorf("breach during a throttle: %+v", pubs[1].State)
		}
	})
	t.Run("detector throttle lifts after cooldown and normal", func(t *testing.T) {
		h := newHarness(t, acct, workflows.Settings{})
		h.at(0, func() {
			h.env.SignalWorkflow(workflows.SignalBreach, workflows.BreachSignal{CmdID: "b1", Scope: acct,
				Metric: "top_symbol_share", Value: 0.9, Threshold: 0.7, Window: "60s",
				Action: domain.ActionThrottle, MaxRatePerSecond: 5})
		})
		h.normal(time.Minute, "n1")
		h.run(workflows.Input{})
		pubs := h.checkPubs(step{domain.ActionThrottle, domain.StatusThrottled}, unkilled)
		if pubs[0].State.MaxRatePerSecond != 5 || pubs[1].At != 5*time.Minute {
			t.Errorf("throttle %+v lifted at %v", pubs[0].State, pubs[1].At)
		}
	})
	t.Run("extend during cooldown", func(t *testing.T) {
		h := newHarness(t, acct, workflows.Settings{})
		h.breach(0, "b1")
		ext := h.update(time.Minute, workflows.UpdateExtend, workflows.OperatorRequest{Operator: "olga", Reason: "longer", CooldownSeconds: 600})
		h.normal(2*time.Minute, "n1")
		h.run(workflows.Input{})
		pubs := h.checkPubs(kill, step{domain.ActionExtend, domain.StatusKilled}, probe, unkilled)
		if want := pubs[0].State.CooldownUntil + 600_000; ext.State.CooldownUntil != want {
			t.Errorf("extended cooldown_until %d, want %d", ext.State.CooldownUntil, want)
		}
		if pubs[2].At != 15*time.Minute || pubs[3].At != 17*time.Minute {
			t.Errorf("probation at %v, ACTIVE at %v; want 15m and 17m", pubs[2].At, pubs[3].At)
		}
	})
	t.Run("extend after the cooldown re-arms it", func(t *testing.T) {
		h := newHarness(t, acct, workflows.Settings{})
		h.breach(0, "b1")
		h.update(6*time.Minute, workflows.UpdateExtend, workflows.OperatorRequest{Operator: "olga", Reason: "longer", CooldownSeconds: 60})
		h.normal(6*time.Minute+30*time.Second, "n1")
		h.run(workflows.Input{})
		pubs := h.checkPubs(kill, step{domain.ActionExtend, domain.StatusKilled}, probe, unkilled)
		if pubs[2].At != 7*time.Minute {
			t.Errorf("probation at %v, want 7m (the extended cooldown)", pubs[2].At)
		}
	})
}

func TestIdleRunEnds(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.normal(time.Second, "stray")
	h.run(workflows.Input{})
	if st := h.result(); st.Status != domain.StatusActive || st.Version != 0 {
		t.Errorf("idle run ended with %+v", st)
	}
	h.checkPubs()
}

func TestPublishRetriedInOrder(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.pub.failures = 3
	h.breach(0, "b1")
	h.update(time.Minute, workflows.UpdateUnkill, req("olga", "done"))
	h.run(workflows.Input{})
	h.checkPubs(kill, unkilled)
	if h.pub.calls < 5 {
		t.Errorf("%d publish calls, want the 3 failures retried", h.pub.calls)
	}
}

func TestSignalsFromTheWebUI(t *testing.T) {
	// Signals typed by hand carry no cmd_id and maybe no scope: they apply.
	h := newHarness(t, acct, workflows.Settings{})
	h.at(0, func() { h.env.SignalWorkflow(workflows.SignalBreach, map[string]any{"reason": "manual test"}) })
	h.at(time.Second, func() { h.env.SignalWorkflow(workflows.SignalBreach, map[string]any{"reason": "again"}) })
	h.at(time.Minute, func() { h.env.SignalWorkflow(workflows.SignalNormal, map[string]any{}) })
	h.run(workflows.Input{})
	pubs := h.checkPubs(kill, probe, unkilled)
	if pubs[0].Command.CmdID == "" || pubs[0].Command.Reason != "manual test" {
		t.Errorf("hand-typed breach became %+v", pubs[0].Command)
	}
}

// canInput decodes the input of the run a continue-as-new error starts.
func canInput(t *testing.T, err error) workflows.Input {
	t.Helper()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("run ended with %v, want continue-as-new", err)
	}
	var in workflows.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatalf("decode continue-as-new input: %v", err)
	}
	if in.Carry == nil || in.Settings == nil {
		t.Fatalf("continue-as-new input without carry or settings: %+v", in)
	}
	return in
}

func TestContinueAsNewUnderBurst(t *testing.T) {
	const burst = 300
	h := newHarness(t, acct, workflows.Settings{MaxInputsPerRun: 100})
	h.breach(0, "b-first")
	h.at(time.Second, func() {
		// One workflow task sees the whole burst: a normal, then breaches
		// (which win: the scope is not normal any more).
		h.env.SignalWorkflowSkippingWorkflowTask(workflows.SignalNormal, workflows.NormalSignal{CmdID: "n-burst", Scope: acct})
		for i := range burst - 2 {
			h.env.SignalWorkflowSkippingWorkflowTask(workflows.SignalBreach, workflows.BreachSignal{
				CmdID: fmt.Sprintf("b%03d", i), Scope: acct, Metric: "order_count", Value: 150, Threshold: 100})
		}
		h.env.SignalWorkflow(workflows.SignalBreach, workflows.BreachSignal{CmdID: "b-last", Scope: acct})
	})
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{Scope: acct})
	in := canInput(t, h.env.GetWorkflowError())
	first := h.checkPubs(kill)

	if got := len(in.Carry.Seen) + len(in.Carry.Pending); got != burst+1 {
		t.Fatalf("carried %d seen + %d pending = %d inputs, want %d", len(in.Carry.Seen), len(in.Carry.Pending), got, burst+1)
	}
	if len(in.Carry.Pending) == 0 {
		t.Fatal("nothing pending: the burst did not outrun the run")
	}
	if in.Carry.State.Status != domain.StatusKilled || in.Carry.State.Version != first[0].State.Version {
		t.Fatalf("carried state %+v", in.Carry.State)
	}

	// The next run applies the carried signals before anything else and
	// goes on with the incident: one more normal lets it auto-unkill.
	h2 := newHarness(t, acct, workflows.Settings{})
	inc := h2.queryIncident(time.Second)
	h2.normal(time.Minute, "n-after")
	h2.run(in)
	if len(inc.Seen) != burst+1 || len(inc.Pending) != 0 || inc.Normal {
		t.Errorf("next run knows %d cmd_ids (want %d), %d pending, normal=%v (want false: breaches came last)",
			len(inc.Seen), burst+1, len(inc.Pending), inc.Normal)
	}
	pubs := h2.checkPubs(probe, unkilled)
	if pubs[0].State.Version <= first[0].State.Version {
		t.Errorf("version went from %d to %d across continue-as-new", first[0].State.Version, pubs[0].State.Version)
	}
	if pubs[0].State.CorrID != first[0].State.CorrID {
		t.Errorf("corr_id changed across continue-as-new: %s → %s", first[0].State.CorrID, pubs[0].State.CorrID)
	}
}

func TestContinueAsNewWhenSuggested(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.breach(0, "b1")
	var pin *updateResult
	h.at(time.Minute, func() { h.env.SetContinueAsNewSuggested(true) })
	pin = h.update(time.Minute, workflows.UpdatePin, req("olga", "hold"))
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{Scope: acct})
	in := canInput(t, h.env.GetWorkflowError())
	h.checkPubs(kill, step{domain.ActionPin, domain.StatusKilled})
	if pin.Err != nil || !pin.Done || pin.State.AutoUnkillEnabled {
		t.Errorf("update in flight at continue-as-new: %+v, want it finished first", pin)
	}
	if !in.Carry.Pinned || in.Carry.State.Status != domain.StatusKilled || len(in.Carry.History) != 2 {
		t.Errorf("carried %+v", *in.Carry)
	}
}
