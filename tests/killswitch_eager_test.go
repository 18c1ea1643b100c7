package tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workers"
	"github.com/riskgate/riskgate/workflows"
)

// runHistory is what the KillSwitch tests read of a run's history.
type runHistory struct {
	runID          string
	eagerAccepted  bool
	inputBreach    string // cmd_id of the breach the run was started with
	breachSignals  []string
	tasksTimedOut  int
	firstTaskStart string // identity of the worker that started the first task
}

func readHistory(t *testing.T, c client.Client, scope domain.Scope, runID string) runHistory {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var h runHistory
	it := c.GetWorkflowHistory(ctx, scope.WorkflowID(), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", scope, err)
		}
		h.note(t, ev)
	}
	return h
}

func (h *runHistory) note(t *testing.T, ev *history.HistoryEvent) {
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		a := ev.GetWorkflowExecutionStartedEventAttributes()
		h.runID, h.eagerAccepted = a.GetOriginalExecutionRunId(), a.GetEagerExecutionAccepted()
		var in workflows.Input
		if err := json.Unmarshal(a.GetInput().GetPayloads()[0].GetData(), &in); err != nil {
			t.Fatalf("run input: %v", err)
		}
		if in.Breach != nil {
			h.inputBreach = in.Breach.CmdID
		}
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		a := ev.GetWorkflowExecutionSignaledEventAttributes()
		if a.GetSignalName() == workflows.SignalBreach {
			var sig workflows.BreachSignal
			if err := json.Unmarshal(a.GetInput().GetPayloads()[0].GetData(), &sig); err != nil {
				t.Fatalf("breach signal: %v", err)
			}
			h.breachSignals = append(h.breachSignals, sig.CmdID)
		}
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
		h.tasksTimedOut++
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
		if h.firstTaskStart == "" {
			h.firstTaskStart = ev.GetWorkflowTaskStartedEventAttributes().GetIdentity()
		}
	}
}

func testBreach(scope domain.Scope, cmd string) workflows.BreachSignal {
	return workflows.BreachSignal{CmdID: cmd, TS: time.Now().UnixMilli(), Scope: scope, Rule: "orders_60s",
		Metric: "order_count", Value: 150, Threshold: 100, Window: "60s"}
}

// A breach for a scope with no open run starts the run with the breach as
// its input, eagerly when the client runs a KillSwitch worker: the server
// hands the first workflow task back with the start and this worker runs
// it. With a run open, breaches are signalled to it: one run per incident,
// each cmd_id applied once.
func TestBreachStartsItsRunEagerly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server; skipped with -short")
	}
	t.Parallel()
	in := startKSInfra(t)
	tr := in.readTransitions(t)
	ready := make(chan struct{})
	in.startWorker(t, workers.Config{Cooldown: time.Hour, Ready: func() { close(ready) }})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select { // eager dispatch needs the worker started on this client
	case <-ready:
	case <-ctx.Done():
		t.Fatal("worker not ready")
	}

	const scope = domain.Scope("ACCOUNT:EAGER1")
	if err := workflows.SendBreach(ctx, in.client, testBreach(scope, "b1")); err != nil {
		t.Fatal(err)
	}
	killed := tr.waitState(t, scope, domain.StatusKilled, 30*time.Second)
	if killed.LastCmdID != "b1" {
		t.Errorf("killed by %s, want b1", killed.LastCmdID)
	}
	h := readHistory(t, in.client, scope, "")
	if !h.eagerAccepted || h.inputBreach != "b1" || len(h.breachSignals) != 0 {
		t.Errorf("run %+v: want started eagerly with breach b1 as its input and no breach signal", h)
	}

	// The run is open: a new breach and a repeat of the first are signalled
	// to it, not started as runs of their own.
	for _, cmd := range []string{"b2", "b1"} {
		if err := workflows.SendBreach(ctx, in.client, testBreach(scope, cmd)); err != nil {
			t.Fatal(err)
		}
	}
	ksEventually(t, 30*time.Second, "both breaches signalled to the open run", func() bool {
		return len(readHistory(t, in.client, scope, "").breachSignals) == 2
	})
	h2 := readHistory(t, in.client, scope, "")
	if h2.runID != h.runID || strings.Join(h2.breachSignals, ",") != "b2,b1" {
		t.Errorf("after two more breaches: run %s with signals %v, want run %s with b2,b1", h2.runID, h2.breachSignals, h.runID)
	}
	// Give the run time to apply them, then count what it published.
	st, err := workflows.Operate(ctx, in.client, workflows.UpdateExtend,
		workflows.OperatorRequest{Scope: scope, Operator: "olga", Reason: "a barrier", CooldownSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	cmds, _ := tr.sequence(scope)
	kills := 0
	for _, c := range cmds {
		if c.CmdID == "b1" {
			kills++
		}
	}
	if kills != 1 || st.RunID != h.runID {
		t.Errorf("b1 published %d times in run %s, want once in run %s", kills, st.RunID, h.runID)
	}
}

// A client without a KillSwitch worker of its own starts the run with the
// breach all the same, without eager dispatch: a worker elsewhere polls the
// task queue and kills.
func TestBreachStartsItsRunWithoutLocalWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server; skipped with -short")
	}
	t.Parallel()
	in := startKSInfra(t)
	tr := in.readTransitions(t)
	in.startWorker(t, workers.Config{Cooldown: time.Hour})
	other, err := client.Dial(client.Options{HostPort: in.temporal, Logger: tlog.NewStructuredLogger(testLogger())})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const scope = domain.Scope("ACCOUNT:PLAIN1")
	if err := workflows.SendBreach(ctx, other, testBreach(scope, "p1")); err != nil {
		t.Fatal(err)
	}
	if st := tr.waitState(t, scope, domain.StatusKilled, 30*time.Second); st.LastCmdID != "p1" {
		t.Errorf("killed by %s, want p1", st.LastCmdID)
	}
	if h := readHistory(t, in.client, scope, ""); h.eagerAccepted || h.inputBreach != "p1" {
		t.Errorf("run %+v: want a plain start with breach p1 as its input", h)
	}
}

// `riskgate detector --killswitch-worker` is the only KillSwitch worker
// here: a breaching account is killed, its run started eagerly and its
// first workflow task run by the detector process itself.
func TestDetectorWithKillSwitchWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server; skipped with -short")
	}
	t.Parallel()
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	in := startKSInfra(t)
	tr := in.readTransitions(t)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte("rules:\n  - name: account_count_1m\n    dimension: ACCOUNT\n    window: 1m\n"+
		"    metric: count\n    threshold: 5\n    action: KILL\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// start runs the detector process and waits until it is ready
	// (windows rebuilt, the worker's kill state loaded).
	start := func() (*exec.Cmd, *syncBuffer) {
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "detector", "--brokers", strings.Join(in.kafka.Brokers, ","), "--temporal", in.temporal,
			"--rules", rules, "--killswitch-worker", "--cooldown", "1h", "--instance-id", "det-1",
			"--metrics-addr", "127.0.0.1:0", "--log-format", "text")
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("detector (pid %d) log:\n%s", cmd.Process.Pid, logs.String())
			}
		})
		addrRE := regexp.MustCompile(`addr=(http://[0-9.:]+)/metrics`)
		ksEventually(t, time.Minute, "the detector ready", func() bool {
			m := addrRE.FindStringSubmatch(logs.String())
			if m == nil {
				return false
			}
			code, _, _ := httpDo(t, "GET", m[1]+"/readyz", "", nil)
			return code == 200
		})
		return cmd, logs
	}
	cmd, _ := start()

	cl, err := in.kafka.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	breach := func(acct string) domain.Scope {
		for i := range 6 {
			b, _ := json.Marshal(domain.Order{OrderID: acct + "-" + strconv.Itoa(i), TS: time.Now().UnixMilli(), AccountID: acct,
				Symbol: "X", Side: domain.Buy, Qty: 1, Price: 10, Strategy: "s"})
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicOrders, Key: []byte(acct), Value: b}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		return domain.Scope("ACCOUNT:" + acct)
	}
	check := func(scope domain.Scope, pid int, limit time.Duration) {
		t.Helper()
		tr.waitState(t, scope, domain.StatusKilled, limit)
		h := readHistory(t, in.client, scope, "")
		if !h.eagerAccepted || h.inputBreach == "" {
			t.Errorf("%s: run %+v: want started eagerly with the breach as its input", scope, h)
		}
		if !strings.HasPrefix(h.firstTaskStart, strconv.Itoa(pid)+"@") {
			t.Errorf("%s: first workflow task started by %q, want the detector process (pid %d)", scope, h.firstTaskStart, pid)
		}
	}
	check(breach("COLO1"), cmd.Process.Pid, 45*time.Second)

	// SIGKILL, and the same instance again: as a static member it takes the
	// partitions back at once, rather than after the dead member's session
	// times out (45 s), and the next runaway is killed well within that.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := time.Now()
	cmd, _ = start()
	check(breach("COLO2"), cmd.Process.Pid, time.Minute)
	if d := time.Since(killedAt); d > 30*time.Second {
		t.Errorf("the next runaway was killed %v after the SIGKILL, want well within the 45 s session timeout", d.Round(time.Second))
	}
}
