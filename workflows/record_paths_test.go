package workflows_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// TestRecordPathHistories records, like TestRecordHistories, one history per
// path added by the versions breach-after-normal, four-eyes-every-release,
// visibility-after-publish and verified-identity, so that TestReplay holds
// them too. Updates are signed as riskgate's API signs them, but those sent
// with operateClaimed. It runs only with -record (on its own dev server);
// -record-only NAME records one scenario:
//
//	go test ./workflows -run TestRecordPathHistories -record
func TestRecordPathHistories(t *testing.T) {
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
	signer, err := workflows.NewIdentitySigner(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	api, err := client.NewClientFromExistingWithContext(ctx, c, client.Options{Interceptors: []interceptor.ClientInterceptor{signer}})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()

	w := worker.New(c, workflows.TaskQueue, worker.Options{
		Interceptors: []interceptor.WorkerInterceptor{workflows.NewIdentityVerifier(testKeys)},
	})
	w.RegisterWorkflowWithOptions(workflows.New(recordSettings), workflow.RegisterOptions{Name: workflows.WorkflowName})
	store := newStateStore()
	pub := &flakyPublisher{memPublisher: memPublisher{store}, failFor: map[domain.Scope]int{}}
	w.RegisterActivityWithOptions(pub.Publish, activity.RegisterOptions{Name: activities.PublishName})
	w.RegisterActivityWithOptions(store.PriorState, activity.RegisterOptions{Name: activities.PriorStateName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	r := &recorder{t: t, ctx: ctx, c: api}
	for _, sc := range []struct {
		name  string
		scope domain.Scope
		run   func(r *recorder, scope domain.Scope)
	}{
		{"breach_after_normal", "ACCOUNT:rec-breach-after-normal", scenarioBreachAfterNormal},
		{"probation_throttle_breach", "ACCOUNT:rec-probation-throttle", scenarioProbationThrottle},
		{"four_eyes_unpin_global", domain.Global, scenarioFourEyesUnpin},
		{"publish_outage", "ACCOUNT:rec-publish-outage", func(r *recorder, scope domain.Scope) {
			pub.fail(scope, 2)
			r.operate(workflows.UpdateKill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "outage"})
			r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "done"})
		}},
		{"identity_global", domain.Global, func(r *recorder, scope domain.Scope) { scenarioIdentityGlobal(r, c, scope) }},
		{"identity_account", "ACCOUNT:rec-identity", func(r *recorder, scope domain.Scope) { scenarioIdentityAccount(r, c, scope) }},
	} {
		if *only != "" && sc.name != *only {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			r.t = t
			sc.run(r, sc.scope)
			r.waitClosed(sc.scope)
			r.save(sc.name, sc.scope, 1)
		})
	}
}

// operateClaimed sends an update through c, which does not sign, as the
// Temporal Web UI or CLI would.
func operateClaimed(r *recorder, c client.Client, update string, req workflows.OperatorRequest) (domain.State, error) {
	return workflows.Operate(r.ctx, c, update, req)
}

// scenarioIdentityGlobal: claimed approvals of a GLOBAL release are turned
// away; a verified pin and two verified approvals release it.
func scenarioIdentityGlobal(r *recorder, c client.Client, scope domain.Scope) {
	req := func(who string) workflows.OperatorRequest {
		return workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: who, Reason: "by " + who}
	}
	r.breachAt(scope, 1000, "", 0)
	r.waitStatus(scope, domain.StatusKilled)
	for _, who := range []string{"a", "b"} {
		if _, err := operateClaimed(r, c, workflows.UpdateUnkill, req(who)); !workflows.IsConflict(err) {
			r.t.Fatalf("claimed unkill of GLOBAL by %s: %v, want a conflict", who, err)
		}
	}
	r.operate(workflows.UpdatePin, req("alice"))
	if st := r.operate(workflows.UpdateUnkill, req("alice")); len(st.Approvals) != 1 {
		r.t.Fatalf("verified unkill of GLOBAL by alice: %+v, want one approval", st)
	}
	r.operate(workflows.UpdateUnkill, req("bob"))
}

// scenarioIdentityAccount: a verified kill started by UpdateWithStart, a
// claimed extend and a claimed unkill (no four eyes on an account).
func scenarioIdentityAccount(r *recorder, c client.Client, scope domain.Scope) {
	r.operate(workflows.UpdateKill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "fat finger"})
	if _, err := operateClaimed(r, c, workflows.UpdateExtend,
		workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "ui-user", Reason: "longer", CooldownSeconds: 60}); err != nil {
		r.t.Fatal(err)
	}
	if _, err := operateClaimed(r, c, workflows.UpdateUnkill,
		workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "ui-user", Reason: "fixed"}); err != nil {
		r.t.Fatal(err)
	}
}

// flakyPublisher fails a scope's first publishes, as Kafka down would.
type flakyPublisher struct {
	memPublisher
	mu      sync.Mutex
	failFor map[domain.Scope]int
}

func (f *flakyPublisher) fail(scope domain.Scope, n int) {
	f.mu.Lock()
	f.failFor[scope] = n
	f.mu.Unlock()
}

func (f *flakyPublisher) Publish(ctx context.Context, pubs []activities.Publication) error {
	f.mu.Lock()
	scope := pubs[0].State.Scope
	if f.failFor[scope] > 0 {
		f.failFor[scope]--
		f.mu.Unlock()
		// Non-retryable, so the failure reaches the workflow at once rather
		// than after the local activity's minute of retries.
		return temporal.NewNonRetryableApplicationError("broker unavailable", "Unavailable", nil)
	}
	f.mu.Unlock()
	return f.memPublisher.Publish(ctx, pubs)
}

func (r *recorder) breachAt(scope domain.Scope, ts int64, action domain.Action, perSecond float64) {
	r.t.Helper()
	err := workflows.SendBreach(r.ctx, r.c, workflows.BreachSignal{CmdID: r.id(), Scope: scope, TS: ts,
		Rule: "orders_60s", Metric: "order_count", Value: 150, Threshold: 100, Window: "60s",
		Action: action, MaxRatePerSecond: perSecond})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *recorder) normalAt(scope domain.Scope, cmdID string, ts int64) {
	r.t.Helper()
	if err := workflows.SendNormal(r.ctx, r.c, workflows.NormalSignal{CmdID: cmdID, Scope: scope, TS: ts}); err != nil {
		r.t.Fatal(err)
	}
}

// scenarioBreachAfterNormal: a killed scope reported normal breaches again;
// a stale normal is ignored, the detector's next normal reuses the first
// one's cmd_id, and the scope auto-unkills only then.
func scenarioBreachAfterNormal(r *recorder, scope domain.Scope) {
	r.breachAt(scope, 1000, "", 0)
	r.waitStatus(scope, domain.StatusKilled)
	r.normalAt(scope, "det-normal:v1", 2000)
	r.breachAt(scope, 3000, "", 0)
	r.normalAt(scope, "det-normal:late", 2500)
	time.Sleep(3 * time.Second) // the cooldown ends; the scope is not normal
	if st := r.state(scope); st.Status != domain.StatusKilled {
		r.t.Fatalf("scope %s after a breach that followed the normal, want KILLED", st.Status)
	}
	r.normalAt(scope, "det-normal:v1", 4000)
}

// scenarioProbationThrottle: a throttle rule breached on probation turns
// the probation into a throttle that lifts after a cooldown and a normal.
func scenarioProbationThrottle(r *recorder, scope domain.Scope) {
	r.breachAt(scope, 1000, "", 0)
	r.waitStatus(scope, domain.StatusKilled)
	r.normalAt(scope, "n1", 2000)
	r.waitStatus(scope, domain.StatusThrottled)
	r.breachAt(scope, 3000, domain.ActionThrottle, 2)
	r.breachAt(scope, 3500, "HALT", 0) // unusable, still a breach
	r.normalAt(scope, "n2", 4000)
}

// scenarioFourEyesUnpin: unpinning GLOBAL takes two operators, and a breach
// clears an approval given before it.
func scenarioFourEyesUnpin(r *recorder, scope domain.Scope) {
	op := func(update, who string) domain.State {
		return r.operate(update, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: who, Reason: update + " by " + who})
	}
	r.breachAt(scope, 1000, "", 0)
	r.waitStatus(scope, domain.StatusKilled)
	r.normalAt(scope, "n1", 2000)
	op(workflows.UpdatePin, "alice")
	if st := op(workflows.UpdateUnpin, "alice"); len(st.Approvals) != 1 || st.AutoUnkillEnabled {
		r.t.Fatalf("first unpin of GLOBAL: %+v, want one approval and still pinned", st)
	}
	r.breachAt(scope, 3000, "", 0)
	r.normalAt(scope, "n2", 4000)
	if st := op(workflows.UpdateUnpin, "bob"); len(st.Approvals) != 1 || st.Approvals[0].Operator != "bob" {
		r.t.Fatalf("unpin after the breach: %+v, want bob's approval alone", st)
	}
	op(workflows.UpdateUnpin, "carol")
}
