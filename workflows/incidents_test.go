package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// day0 is the start of the incidents' timeline (the workflow clock).
var day0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// detectorIncident runs one whole detector incident of acct starting at
// start: breach, normal a minute later, probation after the 5 min cooldown,
// ACTIVE 2 min later (the run completes). A pinned kill is released by an
// operator 10 min in instead. It returns what the run published.
func detectorIncident(t *testing.T, store *stateStore, start time.Time, n int) []published {
	t.Helper()
	h := newIncident(t, acct, workflows.Settings{}, store, start)
	h.breach(0, fmt.Sprintf("b%d", n))
	h.normal(time.Minute, fmt.Sprintf("n%d", n))
	h.at(10*time.Minute, func() {
		if !h.env.IsWorkflowCompleted() {
			h.update(0, workflows.UpdateUnkill, req("olga", "reviewed"))
		}
	})
	h.run(workflows.Input{})
	if st := h.result(); st.Status != domain.StatusActive {
		t.Fatalf("incident %d ended %s", n, st.Status)
	}
	return h.pub.snapshot()
}

// versionsAbove fails unless every version of pubs is above floor.
func versionsAbove(t *testing.T, n int, pubs []published, floor int64) {
	t.Helper()
	for i, p := range pubs {
		if p.State.Version <= floor {
			t.Errorf("incident %d, publication %d: version %d not above the previous incident's %d", n, i, p.State.Version, floor)
		}
	}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func TestThirdIncidentInADayPins(t *testing.T) {
	store := newStateStore()
	var last int64
	for n, start := range []time.Time{day0, day0.Add(3 * time.Hour), day0.Add(20 * time.Hour)} {
		pubs := detectorIncident(t, store, start, n+1)
		versionsAbove(t, n+1, pubs, last)
		last = pubs[len(pubs)-1].State.Version
		k := pubs[0]
		if k.Command.Action != domain.ActionKill || len(k.State.Offences) != n+1 {
			t.Fatalf("incident %d: first publication %s with offences %v, want a kill with %d", n+1,
				k.Command.Action, k.State.Offences, n+1)
		}
		if got := pubs[len(pubs)-1].State.Offences; len(got) != n+1 {
			t.Errorf("incident %d: last state carries offences %v, want %d of them for the next incident", n+1, got, n+1)
		}
		pinned := !k.State.AutoUnkillEnabled
		if n < 2 {
			if pinned || len(pubs) != 3 {
				t.Errorf("incident %d: pinned=%v, %d publications; want an auto-unkill (kill, probation, ACTIVE)", n+1, pinned, len(pubs))
			}
			continue
		}
		if !pinned || !strings.Contains(k.Command.Reason, "offence 3 within 24h0m0s") {
			t.Errorf("third incident in a day: pinned=%v reason %q, want pinned as offence 3", pinned, k.Command.Reason)
		}
		if len(pubs) != 2 || pubs[1].Command.Operator != "olga" {
			t.Errorf("third incident published %d transitions (last by %q), want kill then the operator's unkill",
				len(pubs), pubs[len(pubs)-1].Command.Operator)
		}
	}
	if store.reads != 3 {
		t.Errorf("PriorState read %d times, want once per incident", store.reads)
	}
}

func TestOffenceOlderThanADayDoesNotCount(t *testing.T) {
	store := newStateStore()
	starts := []time.Time{day0, day0.Add(time.Hour), day0.Add(24*time.Hour + 30*time.Minute), day0.Add(24*time.Hour + 45*time.Minute)}
	var kills []published
	for n, start := range starts {
		kills = append(kills, detectorIncident(t, store, start, n+1)[0])
	}
	// At 24h30m the first offence (day0) is out of the window: two count.
	third := kills[2].State
	if !third.AutoUnkillEnabled {
		t.Errorf("third kill pinned although the first offence is more than a day old: %q", kills[2].Command.Reason)
	}
	if want := []int64{ms(starts[1]), ms(starts[2])}; fmt.Sprint(third.Offences) != fmt.Sprint(want) {
		t.Errorf("third kill's offences %v, want %v (the 25 h old one dropped)", third.Offences, want)
	}
	// At 24h45m the offences of 1h, 24h30m and 24h45m are within a day.
	if fourth := kills[3]; fourth.State.AutoUnkillEnabled || !strings.Contains(fourth.Command.Reason, "offence 3") {
		t.Errorf("fourth kill (third offence within a day) not pinned: %q", fourth.Command.Reason)
	}
}

func TestNewRunVersionAboveAClockBehind(t *testing.T) {
	store := newStateStore()
	first := detectorIncident(t, store, day0, 1)
	prev := first[len(first)-1].State.Version

	// The next incident's workflow clock is an hour behind the last one's
	// (a restored server, a skewed host). It starts with an operator kill
	// (UpdateWithStart), whose handler must wait for the prior state.
	h := newIncident(t, acct, workflows.Settings{}, store, day0.Add(-time.Hour))
	k := h.update(0, workflows.UpdateKill, req("olga", "runaway"))
	h.update(time.Minute, workflows.UpdateUnkill, req("olga", "fixed"))
	h.run(workflows.Input{})
	pubs := h.checkPubs(kill, unkilled)
	if now := h.env.Now(); ms(now) >= ms(day0) {
		t.Fatalf("clock at %v, want behind the first incident", now)
	}
	if k.Err != nil || k.State.Version <= prev {
		t.Errorf("operator kill returned version %d (err %v), want above the previous incident's %d", k.State.Version, k.Err, prev)
	}
	versionsAbove(t, 2, pubs, prev)
	if pubs[0].State.CorrID == first[0].State.CorrID {
		t.Errorf("new incident kept the previous corr_id %s", pubs[0].State.CorrID)
	}
}

func TestPriorStateUnavailableDoesNotHoldTheKill(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.env.RegisterActivityWithOptions(func(context.Context, domain.Scope) (domain.State, error) {
		return domain.State{}, temporal.NewNonRetryableApplicationError("state topic unreachable", "Unavailable", nil)
	}, activity.RegisterOptions{Name: activities.PriorStateName})
	h.breach(0, "b1")
	h.update(time.Minute, workflows.UpdateUnkill, req("olga", "done"))
	h.run(workflows.Input{})
	pubs := h.checkPubs(kill, unkilled)
	if pubs[0].At != 0 || pubs[0].State.Version != h.env.Now().Add(-time.Minute).UnixMicro() {
		t.Errorf("kill published at %v with version %d, want at once with the workflow time", pubs[0].At, pubs[0].State.Version)
	}
}

func TestBreachWhileClosingIsNotLost(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.breach(0, "b1")
	h.update(2*time.Minute, workflows.UpdateUnkill, req("olga", "done"))
	// Delivered while the release is published: the run is about to
	// complete, and the breach lands in its last workflow task.
	h.at(2*time.Minute, func() {
		h.env.SignalWorkflowSkippingWorkflowTask(workflows.SignalBreach, workflows.BreachSignal{
			CmdID: "b2", Scope: acct, Metric: "order_count", Value: 150, Threshold: 100})
	})
	h.normal(3*time.Minute, "n1")
	h.run(workflows.Input{})
	pubs := h.checkPubs(kill, unkilled, kill, probe, unkilled)
	if pubs[2].Command.CmdID != "b2" || pubs[2].At != 2*time.Minute {
		t.Errorf("second kill %s at %v, want b2 at once", pubs[2].Command.CmdID, pubs[2].At)
	}
}

func TestRunStartedWithTheBreach(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{Cooldown: time.Minute, Probation: -1, IgnoreNormal: true})
	// SendBreach starts the run with the breach as input; a retried
	// delivery of the same breach as a signal is a no-op.
	h.breach(time.Second, "b1")
	h.run(workflows.Input{Breach: &workflows.BreachSignal{CmdID: "b1", Scope: acct, Metric: "order_count",
		Value: 150, Threshold: 100, CorrID: "corr-b1"}})
	pubs := h.checkPubs(kill, unkilled)
	if pubs[0].At != 0 || pubs[0].Command.CmdID != "b1" || pubs[0].State.CorrID != "corr-b1" {
		t.Errorf("kill %+v at %v, want b1 at once", pubs[0].Command, pubs[0].At)
	}
}
