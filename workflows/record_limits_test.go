package workflows_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// recordLimitsSettings keep the recorded Limits scenarios short.
func recordLimitsSettings() workflows.LimitsSettings {
	s := limitsSettings()
	s.ApprovalWindow = 2 * time.Second
	s.MaxInputsPerRun = 10
	return s
}

// nopLimitsPublisher publishes nowhere: recording needs the workflow's side.
func nopLimitsPublisher(context.Context, []activities.LimitsPublication) error { return nil }

// TestRecordLimitsHistories records, like TestRecordHistories, one history
// per path of the Limits workflow, and the KillSwitch's paths added by the
// versions ui-summaries and limit-trigger, so that TestReplay holds them.
// It runs only with -record, on its own dev server:
//
//	go test ./workflows -run TestRecordLimitsHistories -record
func TestRecordLimitsHistories(t *testing.T) {
	if !*record {
		t.Skip("run with -record to (re)record testdata/")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var args []string
	for name, typ := range workflows.SearchAttributes {
		args = append(args, "--search-attribute", name+"="+typ)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "temporal.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: temporalBin(t), ExtraArgs: args, LogLevel: "error", Stdout: out, Stderr: out,
	})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	defer srv.Stop()
	c := srv.Client()

	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.New(recordSettings), workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.NewLimits(recordLimitsSettings()), workflow.RegisterOptions{Name: workflows.LimitsWorkflowName})
	store := newStateStore()
	w.RegisterActivityWithOptions(memPublisher{store}.Publish, activity.RegisterOptions{Name: activities.PublishName})
	w.RegisterActivityWithOptions(store.PriorState, activity.RegisterOptions{Name: activities.PriorStateName})
	w.RegisterActivityWithOptions(nopLimitsPublisher, activity.RegisterOptions{Name: activities.PublishLimitsName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	r := &recorder{t: t, ctx: ctx, c: c}
	for _, sc := range []struct {
		name  string
		scope domain.Scope
		run   func(r *recorder, scope domain.Scope)
		runs  int
	}{
		{"limits_set_raise_revert", "ACCOUNT:rec-limits-raise", scenarioLimitsRaise, 1},
		{"limits_four_eyes", "ACCOUNT:rec-limits-four-eyes", scenarioLimitsFourEyes, 1},
		{"limits_restrict", "SYMBOL:RECX", scenarioLimitsRestrict, 1},
		{"limits_continue_as_new", "ACCOUNT:rec-limits-can", scenarioLimitsContinueAsNew, 2},
		{"limit_trigger", "ACCOUNT:rec-limit-trigger", scenarioLimitTrigger, 1},
		{"limit_trigger_pins", "ACCOUNT:rec-limit-pins", scenarioLimitTriggerPins, 1},
	} {
		if *only != "" && sc.name != *only {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			r.t = t
			sc.run(r, sc.scope)
			if strings.HasPrefix(sc.name, "limit_trigger") {
				r.waitClosed(sc.scope)
				r.save(sc.name, sc.scope, sc.runs)
				return
			}
			r.cancelLimits(sc.scope)
			r.saveRuns(sc.name, workflows.LimitsWorkflowID(sc.scope), sc.runs)
		})
	}
}

func (r *recorder) limits(update string, req workflows.LimitsRequest) workflows.LimitsView {
	r.t.Helper()
	if req.CmdID == "" {
		req.CmdID = r.id()
	}
	if req.Reason == "" {
		req.Reason = update
	}
	if req.Operator == "" {
		req.Operator = "olga"
	}
	v, err := workflows.OperateLimits(r.ctx, r.c, update, req)
	if err != nil {
		r.t.Fatalf("limits %s: %v", update, err)
	}
	return v
}

// waitLimitState polls the limits query until the scope is in state.
func (r *recorder) waitLimitState(scope domain.Scope, state string) {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if v, err := workflows.QueryLimits(r.ctx, r.c, scope); err == nil && v.State == state {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("limits of %s never became %s", scope, state)
}

// cancelLimits cancels the scope's Limits workflow and waits for it to end.
func (r *recorder) cancelLimits(scope domain.Scope) {
	r.t.Helper()
	if err := r.c.CancelWorkflow(r.ctx, workflows.LimitsWorkflowID(scope), ""); err != nil {
		r.t.Fatal(err)
	}
	err := r.c.GetWorkflow(r.ctx, workflows.LimitsWorkflowID(scope), "").Get(r.ctx, nil)
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		r.t.Fatalf("limits of %s ended with %v, want cancelled", scope, err)
	}
}

func scenarioLimitsRaise(r *recorder, scope domain.Scope) {
	r.limits(workflows.LimitsUpdateSet, workflows.LimitsRequest{Scope: scope, Limits: maxOrders(200)})
	raise := workflows.LimitsRequest{CmdID: r.id(), Scope: scope, Limits: maxOrders(500), DurationSeconds: 2}
	r.limits(workflows.LimitsUpdateRaise, raise)
	r.limits(workflows.LimitsUpdateRaise, raise) // retried: same cmd_id
	r.waitLimitState(scope, workflows.LimitStateOverridden)
	r.limits(workflows.LimitsUpdateSet, workflows.LimitsRequest{Scope: scope, Clear: []string{"max_orders"}})
	// A raise in force when the workflow is cancelled is reverted.
	r.limits(workflows.LimitsUpdateRaise, workflows.LimitsRequest{Scope: scope, Limits: maxOrders(300), DurationSeconds: 600})
}

func scenarioLimitsFourEyes(r *recorder, scope domain.Scope) {
	ask := func(update string, n int64) {
		r.limits(update, workflows.LimitsRequest{Scope: scope, Operator: "alice", Admin: true, Limits: maxOrders(n), DurationSeconds: map[bool]int64{true: 60}[update == workflows.LimitsUpdateRaise]})
	}
	ask(workflows.LimitsUpdateSet, 5000)
	if _, err := workflows.OperateLimits(r.ctx, r.c, workflows.LimitsUpdateApprove,
		workflows.LimitsRequest{CmdID: r.id(), Scope: scope, Operator: "alice", Admin: true, Reason: "self"}); !workflows.IsConflict(err) {
		r.t.Fatalf("approval by the requester: %v, want a conflict", err)
	}
	r.limits(workflows.LimitsUpdateApprove, workflows.LimitsRequest{Scope: scope, Operator: "bob", Admin: true})
	ask(workflows.LimitsUpdateRaise, 9000)
	r.limits(workflows.LimitsUpdateReject, workflows.LimitsRequest{Scope: scope, Operator: "bob"})
	ask(workflows.LimitsUpdateSet, 6000)
	r.waitLimitState(scope, workflows.LimitStateOverridden) // the window ends
}

func scenarioLimitsRestrict(r *recorder, scope domain.Scope) {
	r.limits(workflows.LimitsUpdateRestrict, workflows.LimitsRequest{Scope: scope})
	r.limits(workflows.LimitsUpdateUnrestrict, workflows.LimitsRequest{Scope: scope})
}

func scenarioLimitsContinueAsNew(r *recorder, scope domain.Scope) {
	r.limits(workflows.LimitsUpdateRaise, workflows.LimitsRequest{Scope: scope, Limits: maxOrders(500), DurationSeconds: 4})
	for i := range 10 {
		r.limits(workflows.LimitsUpdateSet, workflows.LimitsRequest{Scope: scope, Limits: domain.LimitValues{MaxOrderQty: f64(float64(1000 + i))}})
	}
	r.waitLimitState(scope, workflows.LimitStateOverridden) // reverted by the next run
}

func (r *recorder) limitBreach(scope domain.Scope) {
	r.t.Helper()
	err := workflows.SendBreach(r.ctx, r.c, workflows.BreachSignal{CmdID: r.id(), Scope: scope, TS: time.Now().UnixMilli(),
		Rule: "limit_escalation", Metric: "blocks", Value: 12, Threshold: 10, Window: "60s", Trigger: domain.TriggerLimit})
	if err != nil {
		r.t.Fatal(err)
	}
}

func scenarioLimitTrigger(r *recorder, scope domain.Scope) {
	r.limitBreach(scope)
	r.waitStatus(scope, domain.StatusKilled)
	r.normal(scope)
	time.Sleep(3 * time.Second) // past the cooldown: still killed
	if st := r.state(scope); st.Status != domain.StatusKilled || st.AutoUnkillEnabled {
		r.t.Fatalf("after the cooldown: %+v, want still KILLED", st)
	}
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "reviewed"})
}

// scenarioLimitTriggerPins: a limit escalation of a scope the detector
// killed pins it.
func scenarioLimitTriggerPins(r *recorder, scope domain.Scope) {
	r.breach(scope)
	r.waitStatus(scope, domain.StatusKilled)
	r.limitBreach(scope)
	r.normal(scope)
	time.Sleep(3 * time.Second)
	if st := r.state(scope); st.Status != domain.StatusKilled || st.AutoUnkillEnabled {
		r.t.Fatalf("after the cooldown: %+v, want still KILLED, pinned", st)
	}
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "reviewed"})
}
