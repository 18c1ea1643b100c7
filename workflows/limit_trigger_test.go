package workflows_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// TestLimitEscalationKill: the detector's escalation of repeated pre-trade
// limit blocks (trigger limit) kills with trigger limit and auto-unkill
// off: after its cooldown and a normal report the scope stays KILLED,
// until an operator unkills it. The KillTrigger search attribute says
// limit, and the cooldown timer says when it ends in words.
func TestLimitEscalationKill(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.at(0, func() {
		h.env.SignalWorkflow(workflows.SignalBreach, workflows.BreachSignal{
			CmdID: "lim-1", Scope: acct, Rule: "limit_escalation", Metric: "blocks", Value: 12, Threshold: 10,
			Window: "60s", Trigger: domain.TriggerLimit, CorrID: "corr-lim-1",
		})
	})
	cooldown := clockOf(h.env, 5*time.Minute)
	rec := &timerRecorder{}
	h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{rec}})
	killed := h.queryState(time.Minute)
	h.normal(2*time.Minute, "n1")
	held := h.queryState(30 * time.Minute)
	unkill := h.update(31*time.Minute, workflows.UpdateUnkill, req("olga", "desk fixed its algo"))
	h.run(workflows.Input{})

	if killed.Status != domain.StatusKilled || killed.Trigger != domain.TriggerLimit || killed.AutoUnkillEnabled {
		t.Fatalf("after the escalation: %+v, want KILLED by trigger limit without auto-unkill", *killed)
	}
	if held.Status != domain.StatusKilled || held.AutoUnkillEnabled {
		t.Errorf("after the cooldown and a normal: %+v, want still KILLED", *held)
	}
	if tr := rec.triggers(); !slices.Contains(tr, string(domain.TriggerLimit)) || tr[len(tr)-1] != string(domain.TriggerOperator) {
		t.Errorf("KillTrigger upserts %q, want limit once the kill is published, operator after the unkill", tr)
	}
	if s := rec.summaries(); len(s) == 0 || s[0] != "cooldown until "+cooldown {
		t.Errorf("timer summaries %q, want the first to be %q", s, "cooldown until "+cooldown)
	}
	if unkill.Err != nil {
		t.Fatalf("unkill: %v", unkill.Err)
	}
	pubs := h.checkPubs(kill, unkilled)
	if c := pubs[0].Command; c.TriggeredBy != domain.TriggerLimit || pubs[0].State.Trigger != domain.TriggerLimit {
		t.Errorf("kill command %+v, want triggered_by limit", c)
	}
	if pubs[1].At != 31*time.Minute {
		t.Errorf("released at %v, want by the operator at 31m", pubs[1].At)
	}
}

// timerRecorder is a worker interceptor that records every timer's summary
// and the KillTrigger search attribute last upserted.
type timerRecorder struct {
	interceptor.WorkerInterceptorBase
	mu   sync.Mutex
	sums []string
	trig []string
}

func (r *timerRecorder) summaries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sums...)
}

func (r *timerRecorder) triggers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.trig...)
}

func (r *timerRecorder) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	in := &timerInbound{r: r}
	in.Next = next
	return in
}

type timerInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *timerRecorder
}

func (i *timerInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	o := &timerOutbound{r: i.r}
	o.Next = out
	return i.Next.Init(o)
}

type timerOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *timerRecorder
}

func (o *timerOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, opts workflow.TimerOptions) workflow.Future {
	o.r.mu.Lock()
	o.r.sums = append(o.r.sums, opts.Summary)
	o.r.mu.Unlock()
	return o.Next.NewTimerWithOptions(ctx, d, opts)
}

func (o *timerOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	err := o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
	v, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SAKillTrigger))
	o.r.mu.Lock()
	o.r.trig = append(o.r.trig, v)
	o.r.mu.Unlock()
	return err
}

// clockOf is the test clock's time d after now, as the workflows write it.
func clockOf(env *testsuite.TestWorkflowEnvironment, d time.Duration) string {
	return env.Now().Add(d).UTC().Format("15:04:05 UTC")
}

// TestLimitEscalationPinsAKill: a scope the detector already killed (with
// auto-unkill) is pinned by a limit escalation: it no longer ends by itself.
func TestLimitEscalationPinsAKill(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	h.breach(0, "b1")
	h.at(time.Second, func() {
		h.env.SignalWorkflow(workflows.SignalBreach, workflows.BreachSignal{
			CmdID: "lim-1", Scope: acct, Rule: "limit_escalation", Metric: "blocks", Value: 10, Threshold: 10,
			Window: "60s", Trigger: domain.TriggerLimit,
		})
	})
	h.normal(2*time.Minute, "n1")
	held := h.queryState(30 * time.Minute)
	h.update(31*time.Minute, workflows.UpdateUnkill, req("olga", "reviewed"))
	h.run(workflows.Input{})
	if held.Status != domain.StatusKilled || held.AutoUnkillEnabled || held.Trigger != domain.TriggerLimit {
		t.Errorf("after the cooldown and a normal: %+v, want KILLED, pinned by the limit escalation", *held)
	}
	h.checkPubs(kill, step{domain.ActionPin, domain.StatusKilled}, unkilled)
}
