package tests

import (
	"context"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workers"
	"github.com/riskgate/riskgate/workflows"
)

// TestKillSwitchDurability kills a scope with a 20 s cooldown, stops the
// worker, and starts it again 30 s later: the cooldown's timer fired on the
// server meanwhile, so the restarted worker auto-unkills (probation, then
// ACTIVE) and every transition reaches Kafka exactly once and in order.
func TestKillSwitchDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 40 s; skipped with -short")
	}
	t.Parallel()
	in := startKSInfra(t)
	tr := in.readTransitions(t)
	w := in.startWorker(t, workers.Config{Cooldown: 20 * time.Second, Probation: 2 * time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const scope = domain.Scope("ACCOUNT:12345")
	if err := workflows.SendBreach(ctx, in.client, workflows.BreachSignal{
		CmdID: domain.NewID(), TS: time.Now().UnixMilli(), Scope: scope, Rule: "orders_60s",
		Metric: "order_count", Value: 150, Threshold: 100, Window: "60s",
	}); err != nil {
		t.Fatal(err)
	}
	killed := tr.waitState(t, scope, domain.StatusKilled, 30*time.Second)
	if err := workflows.SendNormal(ctx, in.client, workflows.NormalSignal{CmdID: domain.NewID(), Scope: scope}); err != nil {
		t.Fatal(err)
	}
	// Let the workflow take the normal signal before the worker goes away.
	ksEventually(t, 10*time.Second, "normal applied", func() bool {
		v, err := in.client.QueryWorkflow(ctx, scope.WorkflowID(), "", workflows.QueryIncident)
		var c workflows.Carry
		return err == nil && v.Get(&c) == nil && c.Normal
	})

	if left := time.Until(time.UnixMilli(killed.CooldownUntil)); left < 5*time.Second {
		t.Fatalf("the machine is too slow for this test's timeline: the cooldown ends %v after the normal was applied, before the worker could be stopped", left.Round(time.Millisecond))
	}
	w.stop()
	stopped := time.Now()
	time.Sleep(30 * time.Second)
	if _, st := tr.sequence(scope); st[len(st)-1].Status != domain.StatusKilled {
		t.Fatalf("state changed without a worker: %+v", st[len(st)-1])
	}
	w.start()

	active := tr.waitState(t, scope, domain.StatusActive, 30*time.Second)
	t.Logf("auto-unkill published %v after the restart (worker was down %v; cooldown ended %v into the outage)",
		time.Since(stopped)-30*time.Second, 30*time.Second,
		time.UnixMilli(killed.CooldownUntil).Sub(stopped).Round(time.Second))
	if err := in.client.GetWorkflow(ctx, scope.WorkflowID(), "").Get(ctx, nil); err != nil {
		t.Fatalf("run did not complete: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // nothing more may arrive
	cmds, states := tr.sequence(scope)
	checkInOrder(t, cmds, states, domain.StatusKilled, domain.StatusThrottled, domain.StatusActive)
	wantActions := []domain.Action{domain.ActionKill, domain.ActionThrottle, domain.ActionUnkill}
	for i, c := range cmds {
		if c.Action != wantActions[i] {
			t.Errorf("command %d: %s, want %s", i, c.Action, wantActions[i])
		}
	}
	if active.CorrID != killed.CorrID || states[1].UpdatedTS < killed.CooldownUntil {
		t.Errorf("probation %+v began before the cooldown ended (%d) or changed corr_id", states[1], killed.CooldownUntil)
	}
}
