package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workers"
	"github.com/riskgate/riskgate/workflows"
)

// TestKillSwitchIncidentsAcrossRuns runs three detector incidents of one
// scope, each its own workflow run, with the worker restarted before the
// third: the restarted worker's follower reads the scope's offences back
// from killswitch.state.v1, so the third incident within a day pins the
// scope, and every version published is above the one before, across runs.
func TestKillSwitchIncidentsAcrossRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server; skipped with -short")
	}
	t.Parallel()
	in := startKSInfra(t)
	tr := in.readTransitions(t)
	w := in.startWorker(t, workers.Config{Cooldown: time.Second, Probation: time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const scope = domain.Scope("ACCOUNT:77")
	breach := func() domain.State {
		t.Helper()
		if err := workflows.SendBreach(ctx, in.client, workflows.BreachSignal{
			CmdID: domain.NewID(), TS: time.Now().UnixMilli(), Scope: scope, Rule: "orders_60s",
			Metric: "order_count", Value: 150, Threshold: 100, Window: "60s",
		}); err != nil {
			t.Fatal(err)
		}
		return tr.waitState(t, scope, domain.StatusKilled, 20*time.Second)
	}
	var runs []string
	for i := range 2 {
		k := breach()
		runs = append(runs, k.RunID)
		if !k.AutoUnkillEnabled || len(k.Offences) != i+1 {
			t.Fatalf("incident %d: %+v, want auto-unkill with %d offences", i+1, k, i+1)
		}
		if err := workflows.SendNormal(ctx, in.client, workflows.NormalSignal{CmdID: domain.NewID(), Scope: scope}); err != nil {
			t.Fatal(err)
		}
		tr.waitState(t, scope, domain.StatusActive, 20*time.Second)
		if err := in.client.GetWorkflow(ctx, scope.WorkflowID(), k.RunID).Get(ctx, nil); err != nil {
			t.Fatalf("incident %d did not complete: %v", i+1, err)
		}
	}

	// A fresh worker knows the scope only from the state topic.
	w.stop()
	w.start()
	third := breach()
	runs = append(runs, third.RunID)
	if third.AutoUnkillEnabled || len(third.Offences) != 3 || !strings.Contains(third.Reason, "offence 3") {
		t.Fatalf("third incident: %+v, want pinned as the third offence", third)
	}
	st, err := workflows.Operate(ctx, in.client, workflows.UpdateUnkill,
		workflows.OperatorRequest{Scope: scope, Operator: "olga", Reason: "reviewed"})
	if err != nil || st.Status != domain.StatusActive {
		t.Fatalf("unkill of the pinned scope: %+v, %v", st, err)
	}

	if runs[0] == runs[1] || runs[1] == runs[2] {
		t.Errorf("incidents shared a run: %v", runs)
	}
	cmds, states := tr.sequence(scope)
	checkInOrder(t, cmds, states,
		domain.StatusKilled, domain.StatusThrottled, domain.StatusActive,
		domain.StatusKilled, domain.StatusThrottled, domain.StatusActive,
		domain.StatusKilled, domain.StatusActive)
}
