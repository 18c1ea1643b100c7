package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// published is one publication seen by the fake publisher, with the
// (skipped) test clock's time.
type published struct {
	activities.Publication
	At time.Duration // since the run started
}

// stateStore stands in for the worker's table of killswitch.state.v1: the
// fake publisher writes every published state into it and the fake
// PriorState reads it, so consecutive runs of a scope (incidents) that share
// a store see each other as they would through Kafka.
type stateStore struct {
	mu     sync.Mutex
	states map[domain.Scope]domain.State
	reads  int
}

func newStateStore() *stateStore { return &stateStore{states: map[domain.Scope]domain.State{}} }

func (s *stateStore) put(st domain.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.states[st.Scope]; !ok || st.Version > cur.Version {
		s.states[st.Scope] = st
	}
}

// PriorState is the fake of activities.StateReader.PriorState.
func (s *stateStore) PriorState(_ context.Context, scope domain.Scope) (domain.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.states[scope], nil
}

// fakePublisher stands in for the Kafka publisher under the same activity
// name and records what would have been produced, in order.
type fakePublisher struct {
	mu       sync.Mutex
	store    *stateStore
	env      *testsuite.TestWorkflowEnvironment
	start    time.Time
	pubs     []published
	inFlight int
	maxIn    int
	failures int // fail this many calls first
	// outage fails every call until this long after the run started.
	outage time.Duration
	calls  int
}

func (f *fakePublisher) Publish(_ context.Context, pubs []activities.Publication) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	defer func() { f.inFlight-- }()
	if f.failures > 0 {
		f.failures--
		return fmt.Errorf("broker unavailable")
	}
	if f.env.Now().Sub(f.start) < f.outage {
		return fmt.Errorf("broker unavailable")
	}
	for _, p := range pubs {
		f.pubs = append(f.pubs, published{Publication: p, At: f.env.Now().Sub(f.start)})
		f.store.put(p.State)
	}
	return nil
}

func (f *fakePublisher) snapshot() []published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]published(nil), f.pubs...)
}

// testWriter sends log lines to the test's log, shown only on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// harness is one time-skipping run of the KillSwitch workflow.
type harness struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	pub   *fakePublisher
	store *stateStore
	scope domain.Scope
	seq   int
	// signer signs every update as riskgate's API would, but those sent
	// with updateClaimed.
	signer *apiSigner
}

func newHarness(t *testing.T, scope domain.Scope, s workflows.Settings) *harness {
	t.Helper()
	return newIncident(t, scope, s, newStateStore(), time.Time{})
}

// newIncident is a harness for one run that shares store with the scope's
// other runs (earlier or later incidents); a non-zero start sets the
// workflow clock at the run's start.
func newIncident(t *testing.T, scope domain.Scope, s workflows.Settings, store *stateStore, start time.Time) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	if !start.IsZero() {
		env.SetStartTime(start)
	}
	signer := &apiSigner{claimed: map[string]bool{}}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{
		signer, workflows.NewIdentityVerifier(testKeys),
	}})
	env.RegisterWorkflowWithOptions(workflows.New(s), workflow.RegisterOptions{Name: workflows.WorkflowName})
	fp := &fakePublisher{env: env, start: env.Now(), store: store}
	env.RegisterActivityWithOptions(fp.Publish, activity.RegisterOptions{Name: activities.PublishName})
	env.RegisterActivityWithOptions(store.PriorState, activity.RegisterOptions{Name: activities.PriorStateName})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: scope.WorkflowID(), TaskQueue: workflows.TaskQueue})
	return &harness{t: t, env: env, pub: fp, store: store, scope: scope, signer: signer}
}

func (h *harness) at(d time.Duration, f func()) { h.env.RegisterDelayedCallback(f, d) }

func (h *harness) breach(d time.Duration, cmdID string) {
	h.at(d, func() {
		h.env.SignalWorkflow(workflows.SignalBreach, workflows.BreachSignal{
			CmdID: cmdID, Scope: h.scope, Rule: "orders_60s", Metric: "order_count",
			Value: 150, Threshold: 100, Window: "60s", CorrID: "corr-" + cmdID,
		})
	})
}

func (h *harness) normal(d time.Duration, cmdID string) {
	h.at(d, func() {
		h.env.SignalWorkflow(workflows.SignalNormal, workflows.NormalSignal{CmdID: cmdID, Scope: h.scope})
	})
}

// updateResult is what an update returned.
type updateResult struct {
	State    domain.State
	Err      error
	Rejected bool
	Done     bool
}

// update sends an operator update at d and returns where its outcome lands.
func (h *harness) update(d time.Duration, name string, req workflows.OperatorRequest) *updateResult {
	res := &updateResult{}
	if req.Scope == "" {
		req.Scope = h.scope
	}
	if req.CmdID == "" {
		h.seq++
		req.CmdID = fmt.Sprintf("%s-%d", name, h.seq)
	}
	h.at(d, func() {
		h.env.UpdateWorkflow(name, req.CmdID, &testsuite.TestUpdateCallback{
			OnReject: func(err error) { res.Err, res.Rejected, res.Done = err, true, true },
			OnComplete: func(v any, err error) {
				res.Err, res.Done = err, true
				if err == nil {
					res.State = decodeState(h.t, v)
				}
			},
		}, req)
	})
	return res
}

// updateClaimed sends an operator update at d as the Temporal Web UI or CLI
// would: without a proof of identity.
func (h *harness) updateClaimed(d time.Duration, name string, req workflows.OperatorRequest) *updateResult {
	if req.CmdID == "" {
		h.seq++
		req.CmdID = fmt.Sprintf("%s-claimed-%d", name, h.seq)
	}
	h.signer.claim(req.CmdID)
	return h.update(d, name, req)
}

// testKeys are the identity keys shared by the stand-in API and the worker.
var testKeys = workflows.IdentityKeys{[]byte("riskgate-test-identity-key-000000000000")}

// apiSigner stands in for riskgate's API in a time-skipping run, which
// sends updates without headers: as the outermost worker interceptor it
// writes the proof the API's client interceptor would have sent (with
// IdentityKeys.SignHeader, as the API does) into the update's header, for
// every update but the claimed ones.
type apiSigner struct {
	interceptor.WorkerInterceptorBase
	mu      sync.Mutex
	claimed map[string]bool // cmd_ids sent without a proof
}

func (s *apiSigner) claim(cmdID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimed[cmdID] = true
}

func (s *apiSigner) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &signingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, s: s}
}

type signingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	s *apiSigner
}

func (i *signingInbound) sign(ctx workflow.Context, in *interceptor.UpdateInput) {
	var req workflows.SignedRequest
	var cmdID string
	switch r := in.Args[0].(type) {
	case workflows.OperatorRequest:
		req, cmdID = r, r.CmdID
	case workflows.LimitsRequest:
		req, cmdID = r, r.CmdID
	default:
		return
	}
	i.s.mu.Lock()
	claimed := i.s.claimed[cmdID]
	i.s.mu.Unlock()
	if claimed {
		return
	}
	info := workflow.GetInfo(ctx)
	err := testKeys.SignHeader(interceptor.WorkflowHeader(ctx),
		workflows.UpdateTarget{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Update: in.Name},
		req, workflow.Now(ctx))
	if err != nil {
		panic(err)
	}
}

func (i *signingInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	i.sign(ctx, in)
	return i.Next.ValidateUpdate(ctx, in)
}

func (i *signingInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	i.sign(ctx, in)
	return i.Next.ExecuteUpdate(ctx, in)
}

func decodeState(t *testing.T, v any) domain.State {
	t.Helper()
	switch x := v.(type) {
	case domain.State:
		return x
	case *domain.State:
		return *x
	case converter.EncodedValue:
		var st domain.State
		if err := x.Get(&st); err != nil {
			t.Fatalf("decode update result: %v", err)
		}
		return st
	}
	t.Fatalf("update result of type %T", v)
	return domain.State{}
}

// query reads the workflow's state at d into *out.
func (h *harness) queryState(d time.Duration) *domain.State {
	out := &domain.State{}
	h.at(d, func() {
		v, err := h.env.QueryWorkflow(workflows.QueryState)
		if err != nil {
			h.t.Errorf("query state at %v: %v", d, err)
			return
		}
		if err := v.Get(out); err != nil {
			h.t.Errorf("decode state at %v: %v", d, err)
		}
	})
	return out
}

func (h *harness) run(in workflows.Input) {
	h.t.Helper()
	if in.Scope == "" {
		in.Scope = h.scope
	}
	h.env.ExecuteWorkflow(workflows.WorkflowName, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
}

func (h *harness) result() domain.State {
	h.t.Helper()
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow error: %v", err)
	}
	var st domain.State
	if err := h.env.GetWorkflowResult(&st); err != nil {
		h.t.Fatalf("workflow result: %v", err)
	}
	return st
}

// step is the expected shape of one publication.
type step struct {
	Action domain.Action
	Status domain.Status
}

// checkPubs asserts the publish sequence and the invariants every sequence
// must keep: versions strictly increase, each command names the state it
// produced, and no two publishes were ever in flight.
func (h *harness) checkPubs(want ...step) []published {
	h.t.Helper()
	got := h.pub.snapshot()
	var gs []step
	for _, p := range got {
		gs = append(gs, step{p.Command.Action, p.State.Status})
	}
	if fmt.Sprint(gs) != fmt.Sprint(want) {
		h.t.Fatalf("publish sequence\n got %v\nwant %v", gs, want)
	}
	var last int64
	for i, p := range got {
		if p.State.Version <= last {
			h.t.Errorf("publication %d: version %d not above %d", i, p.State.Version, last)
		}
		last = p.State.Version
		if p.Command.StateVersion != p.State.Version || p.Command.CmdID != p.State.LastCmdID {
			h.t.Errorf("publication %d: command %+v does not match state %+v", i, p.Command, p.State)
		}
		if p.State.Scope != h.scope || p.Command.Scope != h.scope {
			h.t.Errorf("publication %d: scope %s/%s, want %s", i, p.State.Scope, p.Command.Scope, h.scope)
		}
		if p.Command.CorrID == "" || p.Command.CorrID != p.State.CorrID {
			h.t.Errorf("publication %d: corr_id %q vs %q", i, p.Command.CorrID, p.State.CorrID)
		}
	}
	if h.pub.maxIn > 1 {
		h.t.Errorf("%d publishes in flight at once", h.pub.maxIn)
	}
	return got
}

// queryIncident reads the run's incident (Carry) at d into *out.
func (h *harness) queryIncident(d time.Duration) *workflows.Carry {
	out := &workflows.Carry{}
	h.at(d, func() {
		v, err := h.env.QueryWorkflow(workflows.QueryIncident)
		if err != nil {
			h.t.Errorf("query incident at %v: %v", d, err)
			return
		}
		if err := v.Get(out); err != nil {
			h.t.Errorf("decode incident at %v: %v", d, err)
		}
	})
	return out
}

// queryHistory reads the run's transition history at d into *out.
func (h *harness) queryHistory(d time.Duration) *[]workflows.Transition {
	out := &[]workflows.Transition{}
	h.at(d, func() {
		v, err := h.env.QueryWorkflow(workflows.QueryHistory)
		if err != nil {
			h.t.Errorf("query history at %v: %v", d, err)
			return
		}
		if err := v.Get(out); err != nil {
			h.t.Errorf("decode history at %v: %v", d, err)
		}
	})
	return out
}

func req(operator, reason string) workflows.OperatorRequest {
	return workflows.OperatorRequest{Operator: operator, Reason: reason}
}
