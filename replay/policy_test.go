package replay

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// TestPolicyFollowsTheWorkflow drives one scope's modelled KillSwitch
// through the workflow's detector paths: a kill, a stale normal ignored, a
// repeated breach applied once, probation after cooldown and normal, a
// re-kill on probation with the cooldown doubled, and the third offence in
// a day pinning the scope so that it is never released by itself.
func TestPolicyFollowsTheWorkflow(t *testing.T) {
	var published []domain.State
	p := newPolicy(workflows.Settings{Cooldown: time.Minute, Probation: 30 * time.Second, ProbationRate: 5},
		func(inc *incident, _ domain.Action, _ domain.Trigger, _ int64) { published = append(published, inc.st) })
	const s = domain.Scope("ACCOUNT:A")
	breach := func(cmd string, ts int64) {
		p.breach(domain.BreachSignal{CmdID: cmd, TS: ts, Scope: s, Action: domain.ActionKill, CorrID: cmd}, ts)
	}
	normal := func(ts int64) { p.normal(domain.NormalSignal{TS: ts, Scope: s}, ts) }
	runTo := func(ts int64) {
		for d := p.nextDeadline(); d > 0 && d <= ts; d = p.nextDeadline() {
			p.fire(d)
		}
	}
	status := func() domain.State { st, _ := p.state(s); return st }
	want := func(step string, status domain.Status, cooldownUntil int64) {
		t.Helper()
		st, _ := p.state(s)
		if st.Status != status || (cooldownUntil != 0 && st.CooldownUntil != cooldownUntil) {
			t.Fatalf("%s: %s until %d, want %s until %d", step, st.Status, st.CooldownUntil, status, cooldownUntil)
		}
	}

	breach("b1", 1_000)
	want("first breach", domain.StatusKilled, 61_000)
	breach("b1", 2_000) // the detector's resend
	normal(900)         // decided before the breach: stale
	runTo(61_000)
	want("cooldown over without a normal", domain.StatusKilled, 0)
	normal(70_000)
	want("normal after the cooldown: probation", domain.StatusThrottled, 100_000)
	if st := status(); st.MaxRatePerSecond != 5 || st.Trigger != domain.TriggerSystem {
		t.Fatalf("probation %+v", st)
	}
	breach("b2", 80_000)
	want("breach on probation: cooldown doubled", domain.StatusKilled, 80_000+120_000)
	normal(90_000)
	runTo(200_000)
	want("second cooldown over, normal: probation", domain.StatusThrottled, 230_000)
	runTo(230_000)
	want("probation over without a breach", domain.StatusActive, 0)
	breach("b3", 300_000) // third offence within the day: a new run, pinned
	want("third offence", domain.StatusKilled, 360_000)
	normal(310_000)
	runTo(10_000_000)
	if st := status(); st.Status != domain.StatusKilled || st.AutoUnkillEnabled {
		t.Fatalf("pinned scope: %+v, want KILLED with auto-unkill off", st)
	}
	kills := 0
	for _, st := range published {
		if st.Status == domain.StatusKilled {
			kills++
		}
	}
	if kills != 3 || len(published) != 6 {
		t.Errorf("%d states published (%d kills), want 6 with 3 kills: %+v", len(published), kills, published)
	}
	for i := 1; i < len(published); i++ {
		if published[i].Version <= published[i-1].Version {
			t.Errorf("version %d after %d", published[i].Version, published[i-1].Version)
		}
	}
}
