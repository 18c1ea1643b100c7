package detector

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// TestBreachAfterNormalReachesAKilledScope is issue 17's first sequence: a
// runaway is killed, pauses long enough to be reported normal, and resumes
// while the scope is still KILLED. The workflow holds the normal and would
// auto-unkill at the end of the cooldown, so the new breach must reach it
// however the detector came to know the kill.
func TestBreachAfterNormalReachesAKilledScope(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	killed := domain.State{Scope: acct, Status: domain.StatusKilled, Trigger: domain.TriggerDetector, Version: 2,
		UpdatedTS: t0 + 2_000, AutoUnkillEnabled: true}
	tests := []struct {
		name string
		// operator: the kill is an operator's, adopted; otherwise the
		// engine's own breach caused it.
		operator bool
		// evict: the key is evicted between the normal and the resumption
		// (and the kill adopted again by the next ticks).
		evict bool
	}{
		{name: "killed by the detector's breach"},
		{name: "killed by an operator", operator: true},
		{name: "key evicted while quiet", evict: true},
		{name: "operator kill, key evicted while quiet", operator: true, evict: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := states{}
			r := oneRule(countRule(domain.ScopeAccount, time.Minute, 10))
			r.NormalAfter = 2 * time.Minute
			r.IdleAfter = 30 * time.Minute
			if tc.evict {
				r.IdleAfter = time.Minute
			}
			e, s := newTestEngine(t, r, st)
			// tick advances time as the detector does: adopting every kill
			// on the state topic, then re-evaluating and evicting.
			tick := func(at int64) {
				for _, k := range st {
					e.Adopt(k, 0, at)
				}
				e.Tick(at, nil)
			}
			ts := t0
			if tc.operator {
				st[acct] = killed
				tick(ts)
			} else {
				for range 20 {
					ts += 100
					e.ObserveAll(obs(ts, "A", "X"), 0, true)
				}
				if len(s.breaches) != 1 {
					t.Fatalf("%d breaches for the first burst, want 1", len(s.breaches))
				}
				st[acct] = killed
			}
			// Quiet for about three minutes: reported normal.
			quietFrom := ts
			for ts < quietFrom+4*60_000 {
				ts += 1000
				tick(ts)
			}
			if len(s.normals) == 0 {
				t.Fatal("no normal after the pause")
			}
			if evicted := e.Stats().Evicted; tc.evict != (evicted > 0) {
				t.Fatalf("%d keys evicted", evicted)
			}
			before := len(s.breaches)
			// The runaway resumes; the scope is still KILLED.
			for range 20 {
				ts += 100
				e.ObserveAll(obs(ts, "A", "X"), 0, true)
				if ts%1000 == 0 {
					tick(ts)
				}
			}
			if got := len(s.breaches) - before; got != 1 {
				t.Fatalf("%d breaches after the normal while KILLED, want 1", got)
			}
			b := s.breaches[len(s.breaches)-1]
			if b.Scope != acct || b.TS < s.normals[0].TS {
				t.Fatalf("breach %+v, want one for %s after the normal at %d", b, acct, s.normals[0].TS)
			}
			if before > 0 && b.CmdID == s.breaches[0].CmdID {
				t.Fatalf("the new breach reuses the first incident's cmd_id %s: the workflow would drop it", b.CmdID)
			}
			// Once per incident still: more orders in breach send nothing more.
			for range 200 {
				ts += 100
				e.ObserveAll(obs(ts, "A", "X"), 0, true)
			}
			if got := len(s.breaches) - before; got != 1 {
				t.Fatalf("%d breaches for one incident on a KILLED scope, want 1", got)
			}
		})
	}
}

// A detector restarted after it reported a killed scope normal cannot know
// whether it did; a breach it rebuilds on a KILLED scope is sent again (the
// same cmd_id, so a workflow that had it applies it once).
func TestRebuiltBreachOnKilledScopeIsSent(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	st := states{acct: {Scope: acct, Status: domain.StatusKilled, Version: 2}}
	e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
	ts := t0
	for range 20 {
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, false)
	}
	ts += 100
	e.ObserveAll(obs(ts, "A", "X"), 0, true)
	if len(s.breaches) != 1 {
		t.Fatalf("%d breaches once live, want 1", len(s.breaches))
	}
	if want := "det:ACCOUNT:A:" + obs(t0+1100, "A", "X").OrderID; s.breaches[0].CmdID != want {
		t.Fatalf("cmd_id %s, want the crossing order's %s", s.breaches[0].CmdID, want)
	}
}

// The workflow's auto-unkill from probation is not an operator's release:
// a scope still in breach when the state shows it ACTIVE by the system has
// its breach sent again.
func TestBreachResentAfterSystemRelease(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	st := states{}
	e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
	ts := t0
	for len(s.breaches) < 1 {
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	st[acct] = domain.State{Scope: acct, Status: domain.StatusActive, Trigger: domain.TriggerSystem,
		UpdatedTS: ts + 500, Version: 5}
	for range 300 {
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if len(s.breaches) < 2 {
		t.Fatalf("%d breaches: a scope auto-released while in breach was not signalled again", len(s.breaches))
	}
	// An operator's release is respected.
	st[acct] = domain.State{Scope: acct, Status: domain.StatusActive, Trigger: domain.TriggerOperator,
		UpdatedTS: ts + 500, Version: 6}
	n := len(s.breaches)
	for range 300 {
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if len(s.breaches) != n {
		t.Fatalf("%d more breaches after an operator released the scope, want none", len(s.breaches)-n)
	}
}
