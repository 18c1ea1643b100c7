package workflows_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

var only = flag.String("record-only", "", "with -record, record only this scenario")

var record = flag.Bool("record", false, "record the histories of testdata/ against a Temporal dev server (needs the temporal CLI)")

// TestReplay replays every recorded history against the current workflow
// code. A change that would break a running workflow fails here: gate it
// with workflow.GetVersion (see versioning.go) and record a new history.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/: run go test ./workflows -run TestRecordHistories -record")
	}
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.New(workflows.DefaultSettings()), workflow.RegisterOptions{Name: workflows.WorkflowName})
			// The Limits workflow replays what its runs recorded, whatever
			// settings this worker would give a new run.
			r.RegisterWorkflowWithOptions(workflows.NewLimits(limitsSettings()), workflow.RegisterOptions{Name: workflows.LimitsWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// temporalBin finds the temporal CLI: $RISKGATE_TEMPORAL_BIN, else
// .bin/temporal in the repository root.
func temporalBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RISKGATE_TEMPORAL_BIN"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, ".bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("temporal CLI not found: set RISKGATE_TEMPORAL_BIN or install it into .bin/ (make tools)")
		}
		dir = parent
	}
}

// memPublisher publishes into a stateStore instead of Kafka; recording needs
// only the workflow's side, and the store answers PriorState for the runs
// that follow.
type memPublisher struct{ store *stateStore }

func (m memPublisher) Publish(_ context.Context, pubs []activities.Publication) error {
	for _, p := range pubs {
		m.store.put(p.State)
	}
	return nil
}

// recordSettings keep the recorded scenarios short.
var recordSettings = workflows.Settings{
	Cooldown:        2 * time.Second,
	Probation:       time.Second,
	MaxInputsPerRun: 20,
	IdleTimeout:     2 * time.Second,
}

// TestRecordHistories runs one scenario per path of the workflow against a
// real dev server and writes each run's history to testdata/. It runs only
// with -record; the histories are checked in and replayed by TestReplay.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("run with -record to (re)record testdata/")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var args []string
	for name, typ := range workflows.SearchAttributes {
		args = append(args, "--search-attribute", name+"="+typ)
	}
	var c client.Client
	if addr := os.Getenv("RISKGATE_RECORD_TEMPORAL"); addr != "" {
		// An already running server (with the search attributes registered).
		var err error
		if c, err = client.Dial(client.Options{HostPort: addr}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	} else {
		// The server's output goes to a file: the SDK's pipe for other
		// writers has been seen to stall the server.
		out, err := os.Create(filepath.Join(t.TempDir(), "temporal.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
			ExistingPath: temporalBin(t),
			ExtraArgs:    args,
			LogLevel:     "error",
			Stdout:       out,
			Stderr:       out,
		})
		if err != nil {
			t.Fatalf("start dev server: %v", err)
		}
		defer srv.Stop()
		c = srv.Client()
	}

	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.New(recordSettings), workflow.RegisterOptions{Name: workflows.WorkflowName})
	store := newStateStore()
	w.RegisterActivityWithOptions(memPublisher{store}.Publish, activity.RegisterOptions{Name: activities.PublishName})
	w.RegisterActivityWithOptions(store.PriorState, activity.RegisterOptions{Name: activities.PriorStateName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	r := &recorder{t: t, ctx: ctx, c: c}
	for _, sc := range []struct {
		name string
		run  func(r *recorder, scope domain.Scope)
		runs int // closed runs the scenario leaves, at least one
	}{
		{"auto_unkill", scenarioAutoUnkill, 1},
		{"operator_kill_unkill", scenarioOperator, 1},
		{"four_eyes_global", scenarioFourEyes, 1},
		{"escalation_pins", scenarioEscalation, 1},
		{"throttle_extend_pin", scenarioThrottleExtendPin, 1},
		{"continue_as_new", scenarioContinueAsNew, 2},
		{"idle_run", scenarioIdle, 1},
		{"incidents", scenarioIncidents, 4},
	} {
		if *only != "" && sc.name != *only {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			r.t = t
			scope := domain.Scope("ACCOUNT:rec-" + strings.ReplaceAll(sc.name, "_", "-"))
			if sc.name == "four_eyes_global" {
				scope = domain.Global
			}
			sc.run(r, scope)
			r.waitClosed(scope)
			r.save(sc.name, scope, sc.runs)
		})
	}
}

type recorder struct {
	t   *testing.T
	ctx context.Context
	c   client.Client
	n   int
}

func (r *recorder) id() string { r.n++; return fmt.Sprintf("rec-%d", r.n) }

func (r *recorder) breach(scope domain.Scope) {
	r.t.Helper()
	err := workflows.SendBreach(r.ctx, r.c, workflows.BreachSignal{CmdID: r.id(), Scope: scope, TS: time.Now().UnixMilli(),
		Rule: "orders_60s", Metric: "order_count", Value: 150, Threshold: 100, Window: "60s"})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *recorder) normal(scope domain.Scope) {
	r.t.Helper()
	if err := workflows.SendNormal(r.ctx, r.c, workflows.NormalSignal{CmdID: r.id(), Scope: scope}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *recorder) operate(update string, req workflows.OperatorRequest) domain.State {
	r.t.Helper()
	st, err := workflows.Operate(r.ctx, r.c, update, req)
	if err != nil {
		r.t.Fatalf("%s: %v", update, err)
	}
	return st
}

// state queries the open run's state.
func (r *recorder) state(scope domain.Scope) domain.State {
	r.t.Helper()
	var st domain.State
	v, err := r.c.QueryWorkflow(r.ctx, scope.WorkflowID(), "", workflows.QueryState)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		r.t.Fatalf("query %s: %v", scope, err)
	}
	return st
}

// waitStatus polls the open run's state until it has the status.
func (r *recorder) waitStatus(scope domain.Scope, want domain.Status) {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		v, err := r.c.QueryWorkflow(r.ctx, scope.WorkflowID(), "", workflows.QueryState)
		var st domain.State
		if err == nil && v.Get(&st) == nil && st.Status == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("%s never became %s", scope, want)
}

func (r *recorder) waitClosed(scope domain.Scope) {
	r.t.Helper()
	if err := r.c.GetWorkflow(r.ctx, scope.WorkflowID(), "").Get(r.ctx, nil); err != nil {
		r.t.Fatalf("%s: %v", scope, err)
	}
}

// save writes every run of the scope's workflow, oldest first.
func (r *recorder) save(name string, scope domain.Scope, want int) {
	r.t.Helper()
	r.saveRuns(name, scope.WorkflowID(), want)
}

// saveRuns writes every closed run of the workflow id, oldest first.
func (r *recorder) saveRuns(name, workflowID string, want int) {
	r.t.Helper()
	var runs []string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		runs = runs[:0]
		resp, err := r.c.ListWorkflow(r.ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus != 'Running'", workflowID),
		})
		if err != nil {
			r.t.Fatal(err)
		}
		execs := resp.GetExecutions()
		slices.SortFunc(execs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
			return a.GetStartTime().AsTime().Compare(b.GetStartTime().AsTime())
		})
		for _, e := range execs {
			runs = append(runs, e.GetExecution().GetRunId())
		}
		if len(runs) >= want {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, run := range runs {
		hist := &historypb.History{}
		it := r.c.GetWorkflowHistory(r.ctx, workflowID, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				r.t.Fatal(err)
			}
			hist.Events = append(hist.Events, ev)
		}
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
		if err != nil {
			r.t.Fatal(err)
		}
		file := filepath.Join("testdata", name+".json")
		if len(runs) > 1 {
			file = filepath.Join("testdata", fmt.Sprintf("%s_run%d.json", name, i+1))
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.t.Logf("recorded %s: %d events", file, len(hist.Events))
	}
}

func scenarioAutoUnkill(r *recorder, scope domain.Scope) {
	r.breach(scope)
	r.breach(scope) // a second breach of the same incident
	r.normal(scope)
}

func scenarioOperator(r *recorder, scope domain.Scope) {
	req := workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "fat finger"}
	r.operate(workflows.UpdateKill, req)
	r.operate(workflows.UpdateKill, req) // retried: same cmd_id
	r.normal(scope)
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "fixed"})
}

func scenarioFourEyes(r *recorder, scope domain.Scope) {
	r.breach(scope)
	r.waitStatus(scope, domain.StatusKilled)
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "alice", Reason: "reviewed"})
	if _, err := workflows.Operate(r.ctx, r.c, workflows.UpdateUnkill,
		workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "alice", Reason: "again"}); !workflows.IsConflict(err) {
		r.t.Fatalf("second approval by the same operator: %v, want a conflict", err)
	}
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "bob", Reason: "agreed"})
}

func scenarioEscalation(r *recorder, scope domain.Scope) {
	for range 2 {
		r.breach(scope)
		r.normal(scope)
		r.waitStatus(scope, domain.StatusThrottled)
	}
	r.breach(scope) // third offence: pinned
	r.normal(scope)
	r.waitStatus(scope, domain.StatusKilled)
	time.Sleep(time.Second)
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "reviewed"})
}

func scenarioThrottleExtendPin(r *recorder, scope domain.Scope) {
	op := func(update string, mod func(*workflows.OperatorRequest)) {
		req := workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: update}
		if mod != nil {
			mod(&req)
		}
		r.operate(update, req)
	}
	op(workflows.UpdateThrottle, func(q *workflows.OperatorRequest) { q.MaxRatePerSecond = 5 })
	r.breach(scope)
	op(workflows.UpdateExtend, func(q *workflows.OperatorRequest) { q.CooldownSeconds = 1 })
	op(workflows.UpdatePin, nil)
	r.normal(scope)
	op(workflows.UpdateUnpin, nil)
	r.waitStatus(scope, domain.StatusThrottled)
}

func scenarioContinueAsNew(r *recorder, scope domain.Scope) {
	r.breach(scope)
	for range 30 {
		r.breach(scope)
	}
	r.normal(scope)
}

func scenarioIdle(r *recorder, scope domain.Scope) {
	// An operator kill the workflow rejects still starts the run.
	_, err := workflows.Operate(r.ctx, r.c, workflows.UpdateThrottle,
		workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "no rate"})
	if !workflows.IsInvalid(err) {
		r.t.Fatalf("throttle without a rate: %v, want invalid", err)
	}
}

// scenarioIncidents records consecutive runs of one scope on the prior-state
// path: two detector incidents that auto-unkill, a third that is pinned as
// the third offence and released by an operator, then an operator kill
// started by UpdateWithStart (its handler waits for the prior state).
func scenarioIncidents(r *recorder, scope domain.Scope) {
	for range 2 {
		r.breach(scope)
		// A normal in the breach's own workflow task would lose to it.
		r.waitStatus(scope, domain.StatusKilled)
		r.normal(scope)
		r.waitClosed(scope)
	}
	r.breach(scope)
	r.waitStatus(scope, domain.StatusKilled)
	if st := r.state(scope); st.AutoUnkillEnabled || len(st.Offences) != 3 {
		r.t.Fatalf("third incident: auto-unkill %v with offences %v, want pinned by the third offence", st.AutoUnkillEnabled, st.Offences)
	}
	r.normal(scope)
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "reviewed"})
	r.waitClosed(scope)
	r.operate(workflows.UpdateKill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "fat finger"})
	r.operate(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: r.id(), Scope: scope, Operator: "olga", Reason: "fixed"})
}
