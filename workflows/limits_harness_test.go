package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/workers"
	"github.com/riskgate/riskgate/workflows"
)

// limitsPub is one publication seen by the fake limits publisher, with the
// (skipped) test clock's time since the run started.
type limitsPub struct {
	activities.LimitsPublication
	At time.Duration
}

// fakeLimitsPublisher stands in for the Kafka publisher of limits changes.
type fakeLimitsPublisher struct {
	mu       sync.Mutex
	env      *testsuite.TestWorkflowEnvironment
	start    time.Time
	pubs     []limitsPub
	inFlight int
	maxIn    int
}

func (f *fakeLimitsPublisher) PublishLimits(_ context.Context, pubs []activities.LimitsPublication) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	defer func() { f.inFlight-- }()
	for _, p := range pubs {
		f.pubs = append(f.pubs, limitsPub{LimitsPublication: p, At: f.env.Now().Sub(f.start)})
	}
	return nil
}

func (f *fakeLimitsPublisher) snapshot() []limitsPub {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]limitsPub(nil), f.pubs...)
}

// limitsSettings are the built-in limits file's settings (ACCOUNT:
// max_orders 100, ceiling 1,000; SYMBOL: max_orders 1,000, ceiling 10,000).
func limitsSettings() workflows.LimitsSettings { return workers.LimitsSettings(nil, 0) }

// limitsHarness is one time-skipping run of a scope's Limits workflow,
// cancelled at its end (a Limits workflow runs until cancelled).
type limitsHarness struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	pub   *fakeLimitsPublisher
	scope domain.Scope
	seq   int
}

func newLimitsHarness(t *testing.T, scope domain.Scope, s workflows.LimitsSettings, start time.Time) *limitsHarness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	if start.IsZero() {
		start = time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	}
	env.SetStartTime(start)
	env.RegisterWorkflowWithOptions(workflows.NewLimits(s), workflow.RegisterOptions{Name: workflows.LimitsWorkflowName})
	fp := &fakeLimitsPublisher{env: env, start: start}
	env.RegisterActivityWithOptions(fp.PublishLimits, activity.RegisterOptions{Name: activities.PublishLimitsName})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LimitsWorkflowID(scope), TaskQueue: workflows.TaskQueue})
	return &limitsHarness{t: t, env: env, pub: fp, scope: scope}
}

func (h *limitsHarness) at(d time.Duration, f func()) { h.env.RegisterDelayedCallback(f, d) }

// limitsResult is what an update returned.
type limitsResult struct {
	View     workflows.LimitsView
	Err      error
	Rejected bool
	Done     bool
}

// update sends a Limits update at d; req's empty fields are filled in.
func (h *limitsHarness) update(d time.Duration, name string, req workflows.LimitsRequest) *limitsResult {
	res := &limitsResult{}
	if req.Scope == "" {
		req.Scope = h.scope
	}
	if req.CmdID == "" {
		h.seq++
		req.CmdID = fmt.Sprintf("%s-%d", name, h.seq)
	}
	if req.Reason == "" {
		req.Reason = name + " in a test"
	}
	if req.Operator == "" {
		req.Operator = "olga"
	}
	h.at(d, func() {
		h.env.UpdateWorkflow(name, req.CmdID, &testsuite.TestUpdateCallback{
			OnReject: func(err error) { res.Err, res.Rejected, res.Done = err, true, true },
			OnComplete: func(v any, err error) {
				res.Err, res.Done = err, true
				if err == nil {
					res.View = decodeView(h.t, v)
				}
			},
		}, req)
	})
	return res
}

func decodeView(t *testing.T, v any) workflows.LimitsView {
	t.Helper()
	switch x := v.(type) {
	case workflows.LimitsView:
		return x
	case *workflows.LimitsView:
		return *x
	case converter.EncodedValue:
		var lv workflows.LimitsView
		if err := x.Get(&lv); err != nil {
			t.Fatalf("decode update result: %v", err)
		}
		return lv
	}
	t.Fatalf("update result of type %T", v)
	return workflows.LimitsView{}
}

// query reads the limits query at d into the returned view.
func (h *limitsHarness) query(d time.Duration) *workflows.LimitsView {
	out := &workflows.LimitsView{}
	h.at(d, func() {
		v, err := h.env.QueryWorkflow(workflows.LimitsQueryLimits)
		if err == nil {
			err = v.Get(out)
		}
		if err != nil {
			h.t.Errorf("query limits at %v: %v", d, err)
		}
	})
	return out
}

// run starts the workflow with carry (nil: a first start) and cancels it
// at end; it fails the test unless the run ended by that cancellation.
func (h *limitsHarness) run(carry *workflows.LimitsCarry, end time.Duration) {
	h.t.Helper()
	h.at(end, func() { h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(workflows.LimitsWorkflowName, workflows.LimitsInput{Scope: h.scope, Carry: carry})
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not end")
	}
	var canceled *temporal.CanceledError
	if err := h.env.GetWorkflowError(); !errors.As(err, &canceled) {
		h.t.Fatalf("workflow ended with %v, want cancelled at %v", err, end)
	}
	h.checkPubs()
}

// checkPubs asserts what every publication sequence keeps: record versions
// strictly increase, each command carries the version the scope has after
// it, and no two publishes were ever in flight.
func (h *limitsHarness) checkPubs() []limitsPub {
	h.t.Helper()
	pubs := h.pub.snapshot()
	var last int64
	for i, p := range pubs {
		if p.Command.Scope != h.scope {
			h.t.Errorf("publication %d: command of %s", i, p.Command.Scope)
		}
		if r := p.Record; r != nil {
			if r.Version <= last {
				h.t.Errorf("publication %d: version %d not above %d", i, r.Version, last)
			}
			last = r.Version
			if err := r.Validate(); err != nil {
				h.t.Errorf("publication %d: invalid record: %v", i, err)
			}
		}
		if p.Command.Version != last {
			h.t.Errorf("publication %d (%s): command version %d, want %d", i, p.Command.Action, p.Command.Version, last)
		}
	}
	if h.pub.maxIn > 1 {
		h.t.Errorf("%d publishes in flight at once", h.pub.maxIn)
	}
	return pubs
}

// actions lists the publications' actions.
func actions(pubs []limitsPub) []domain.LimitsAction {
	out := make([]domain.LimitsAction, len(pubs))
	for i, p := range pubs {
		out[i] = p.Command.Action
	}
	return out
}

func i64(n int64) *int64                   { return &n }
func f64(x float64) *float64               { return &x }
func maxOrders(n int64) domain.LimitValues { return domain.LimitValues{MaxOrders: i64(n)} }

// effective returns the effective max_orders of a view (0 when unset).
func effMaxOrders(v workflows.LimitsView) int64 {
	if v.Limits.MaxOrders == nil {
		return 0
	}
	return *v.Limits.MaxOrders
}

// builtinCeiling returns the built-in max_orders ceiling of a scope type.
func builtinCeiling(t domain.ScopeType) int64 {
	c := limits.Default()
	return c.Ceilings.Of(t).MaxOrders
}
