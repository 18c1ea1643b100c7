package workflows_test

import (
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

// visible is one search attribute or memo upsert, with the test clock's
// time since the run started.
type visible struct {
	At      time.Duration
	Status  string // KillStatus after the upsert
	Summary string // the memo's summary, for a memo upsert
}

// visibilityRecorder is a worker interceptor that records what the
// workflow shows the Web UI: every search attribute and memo upsert.
type visibilityRecorder struct {
	interceptor.WorkerInterceptorBase
	start time.Time
	now   func() time.Time

	mu       sync.Mutex
	statuses []visible
	memos    []visible
}

func (r *visibilityRecorder) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	in := &visibilityInbound{r: r}
	in.Next = next
	return in
}

type visibilityInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *visibilityRecorder
}

func (i *visibilityInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	o := &visibilityOutbound{r: i.r}
	o.Next = out
	return i.Next.Init(o)
}

type visibilityOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *visibilityRecorder
}

func (o *visibilityOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	err := o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
	status, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SAKillStatus))
	o.r.mu.Lock()
	o.r.statuses = append(o.r.statuses, visible{At: o.r.now().Sub(o.r.start), Status: status})
	o.r.mu.Unlock()
	return err
}

func (o *visibilityOutbound) UpsertMemo(ctx workflow.Context, memo map[string]any) error {
	s, _ := memo["summary"].(string)
	o.r.mu.Lock()
	o.r.memos = append(o.r.memos, visible{At: o.r.now().Sub(o.r.start), Summary: s})
	o.r.mu.Unlock()
	return o.Next.UpsertMemo(ctx, memo)
}

// recordVisibility installs a visibilityRecorder on the harness.
func (h *harness) recordVisibility() *visibilityRecorder {
	r := &visibilityRecorder{start: h.env.Now(), now: h.env.Now}
	h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{r}})
	return r
}

// During a Kafka outage routers go on enforcing the last published state,
// so the Web UI must not say KILLED before the kill is published; it says
// the kill is pending instead.
func TestSearchAttributesFollowPublication(t *testing.T) {
	h := newHarness(t, acct, workflows.Settings{})
	vis := h.recordVisibility()
	h.pub.outage = 2 * time.Minute
	h.breach(0, "b1")
	h.update(5*time.Minute, workflows.UpdateUnkill, req("olga", "done"))
	h.run(workflows.Input{})

	pubs := h.checkPubs(kill, unkilled)
	killedAt := pubs[0].At
	if killedAt < 2*time.Minute {
		t.Fatalf("KILLED published at %v, inside the 2 min outage", killedAt)
	}
	var shownAt time.Duration = -1
	for _, v := range vis.statuses {
		if v.Status == string(domain.StatusKilled) {
			shownAt = v.At
			break
		}
	}
	if shownAt < killedAt {
		t.Errorf("KillStatus=KILLED upserted at %v, before the state was published at %v (upserts %+v)", shownAt, killedAt, vis.statuses)
	}
	var pending bool
	for _, m := range vis.memos {
		if m.At < killedAt && strings.Contains(m.Summary, "not yet published") {
			pending = true
		}
	}
	if !pending {
		t.Errorf("no memo during the outage says the kill is not yet published: %+v", vis.memos)
	}
	if last := vis.statuses[len(vis.statuses)-1]; last.Status != string(domain.StatusActive) || last.At != pubs[1].At {
		t.Errorf("last KillStatus upsert %+v, want ACTIVE when the release was published (%v)", last, pubs[1].At)
	}
}
