package workflows_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// limitsVisibility records what a Limits run shows the Web UI: LimitState
// after each search attribute upsert, the memo, and every timer's summary.
type limitsVisibility struct {
	interceptor.WorkerInterceptorBase
	mu     sync.Mutex
	states []string
	memos  []string
	timers []string
}

func (r *limitsVisibility) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	in := &limitsVisInbound{r: r}
	in.Next = next
	return in
}

type limitsVisInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *limitsVisibility
}

func (i *limitsVisInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	o := &limitsVisOutbound{r: i.r}
	o.Next = out
	return i.Next.Init(o)
}

type limitsVisOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *limitsVisibility
}

func (o *limitsVisOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	err := o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
	sa := workflow.GetTypedSearchAttributes(ctx)
	state, _ := sa.GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SALimitState))
	scope, _ := sa.GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SALimitScope))
	o.r.mu.Lock()
	o.r.states = append(o.r.states, scope+" "+state)
	o.r.mu.Unlock()
	return err
}

func (o *limitsVisOutbound) UpsertMemo(ctx workflow.Context, memo map[string]any) error {
	s, _ := memo["summary"].(string)
	o.r.mu.Lock()
	o.r.memos = append(o.r.memos, s)
	o.r.mu.Unlock()
	return o.Next.UpsertMemo(ctx, memo)
}

func (o *limitsVisOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, opts workflow.TimerOptions) workflow.Future {
	o.r.mu.Lock()
	o.r.timers = append(o.r.timers, opts.Summary)
	o.r.mu.Unlock()
	return o.Next.NewTimerWithOptions(ctx, d, opts)
}

// TestLimitsVisibility: LimitScope and LimitState follow the scope through
// DEFAULT, OVERRIDDEN, TEMPORARY and PENDING_APPROVAL; the memo says it in
// words; the raise's and the four-eyes window's timers say when they end.
func TestLimitsVisibility(t *testing.T) {
	h := newLimitsHarness(t, "ACCOUNT:14", limitsSettings(), time.Time{})
	vis := &limitsVisibility{}
	h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{h.signer, workflows.NewIdentityVerifier(testKeys), vis}})
	start := h.env.Now()
	h.update(time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Limits: maxOrders(200)})
	h.update(2*time.Second, workflows.LimitsUpdateRaise, workflows.LimitsRequest{Limits: maxOrders(500), DurationSeconds: 60})
	h.update(3*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Operator: "alice", Admin: true, Limits: maxOrders(5000),
		Reason: "index rebalance"})
	h.run(nil, 15*time.Minute)

	// The raise reverts while the change is pending (still
	// PENDING_APPROVAL), then the window ends.
	want := []string{"ACCOUNT:14 DEFAULT", "ACCOUNT:14 OVERRIDDEN", "ACCOUNT:14 TEMPORARY", "ACCOUNT:14 PENDING_APPROVAL",
		"ACCOUNT:14 OVERRIDDEN"}
	if !slices.Equal(vis.states, want) {
		t.Errorf("search attributes %q\nwant %q", vis.states, want)
	}
	clockAt := func(d time.Duration) string { return start.Add(d).UTC().Format("15:04:05 UTC") }
	for _, w := range []string{"raise expires " + clockAt(62*time.Second), "four-eyes window ends " + clockAt(3*time.Second+10*time.Minute)} {
		if !slices.Contains(vis.timers, w) {
			t.Errorf("timer summaries %q, want one to be %q", vis.timers, w)
		}
	}
	var pending string
	for _, m := range vis.memos {
		if strings.Contains(m, "PENDING_APPROVAL") {
			pending = m
			break
		}
	}
	for _, w := range []string{"alice asks to set max_orders 500 → 5000", "index rebalance", "above the ACCOUNT ceiling 1000",
		"the raise expires at " + clockAt(62*time.Second)} {
		if !strings.Contains(pending, w) {
			t.Errorf("memo %q does not say %q", pending, w)
		}
	}
	want2 := []domain.LimitsAction{domain.LimitsSet, domain.LimitsRaise, domain.LimitsRequest, domain.LimitsRevert, domain.LimitsExpire}
	if got := actions(h.checkPubs()); !slices.Equal(got, want2) {
		t.Errorf("published %v, want %v", got, want2)
	}
}
