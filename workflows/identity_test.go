package workflows_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

func TestIdentityProof(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	run := workflows.Run{ID: "run-2", Start: now.Add(-time.Hour)}
	to := workflows.UpdateTarget{WorkflowID: "killswitch/GLOBAL", RunID: run.ID, Update: workflows.UpdateUnkill}
	good := workflows.OperatorRequest{CmdID: "c1", Scope: domain.Global, Operator: "alice", Reason: "all clear"}
	other := workflows.IdentityKeys{[]byte("another-identity-key-0000000000000000000")}
	tests := []struct {
		name    string
		noProof bool
		signer  workflows.IdentityKeys
		signAt  time.Time
		signed  workflows.OperatorRequest // what the proof is for
		to      workflows.UpdateTarget    // where the proof says it goes
		runAt   time.Time                 // when the receiving run started
		checker workflows.IdentityKeys
		want    domain.Identity
	}{
		{name: "good signature", want: domain.IdentityVerified},
		{name: "operator altered", signed: withOp(good, "mallory"), want: domain.IdentityClaimed},
		{name: "cmd_id altered", signed: withCmd(good, "c2"), want: domain.IdentityClaimed},
		{name: "scope altered", signed: withScope(good, "ACCOUNT:1"), want: domain.IdentityClaimed},
		{name: "reason altered", signed: withReason(good, "whatever"), want: domain.IdentityClaimed},
		{name: "another workflow", to: withWorkflow(to, "killswitch/ACCOUNT:1"), want: domain.IdentityClaimed},
		{name: "another update", to: withUpdate(to, workflows.UpdateUnpin), want: domain.IdentityClaimed},
		{name: "an earlier incident's run", to: withRun(to, "run-1"), want: domain.IdentityClaimed},
		{name: "no run (update with start) after the run started", to: withRun(to, ""), want: domain.IdentityVerified},
		{name: "no run, signed before the run started", to: withRun(to, ""), runAt: now.Add(-time.Second), signAt: now.Add(-90 * time.Second), want: domain.IdentityClaimed},
		{name: "another key", signer: other, want: domain.IdentityClaimed},
		{name: "no signature", noProof: true, want: domain.IdentityClaimed},
		{name: "expired", signAt: now.Add(-3 * time.Minute), want: domain.IdentityClaimed},
		{name: "from the future", signAt: now.Add(5 * time.Minute), want: domain.IdentityClaimed},
		{name: "clock skew within bounds", signAt: now.Add(30 * time.Second), want: domain.IdentityVerified},
		{name: "worker without keys", checker: workflows.IdentityKeys{}, want: domain.IdentityClaimed},
		{name: "rotated: checked by the second key", checker: workflows.IdentityKeys{other[0], testKeys[0]}, want: domain.IdentityVerified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.signer == nil {
				tc.signer = testKeys
			}
			if tc.signAt.IsZero() {
				tc.signAt = now
			}
			if tc.signed == (workflows.OperatorRequest{}) {
				tc.signed = good
			}
			if tc.to == (workflows.UpdateTarget{}) {
				tc.to = to
			}
			r := run
			if !tc.runAt.IsZero() {
				r.Start = tc.runAt
			}
			if tc.checker == nil {
				tc.checker = testKeys
			}
			header := map[string]*commonpb.Payload{}
			if !tc.noProof {
				if err := tc.signer.SignHeader(header, tc.to, tc.signed, tc.signAt); err != nil {
					t.Fatal(err)
				}
			}
			got := tc.checker.VerifyHeader(header, to, r, good, now)
			if got.Identity != tc.want {
				t.Fatalf("identity %q (%s), want %q", got.Identity, got.Why, tc.want)
			}
			if got.Identity == domain.IdentityClaimed && got.Why == "" {
				t.Error("a claimed identity does not say why")
			}
			t.Logf("%s: %s", got.Identity, got.Why)
		})
	}
}

func TestParseIdentityKeys(t *testing.T) {
	keys, err := workflows.ParseIdentityKeys([]byte("# rotated 2026-03\n" + workflows.NewIdentityKey() + "\n\n  " + workflows.NewIdentityKey() + "  \n"))
	if err != nil || len(keys) != 2 || len(keys[1]) != 64 {
		t.Fatalf("two keys with a comment and blank lines: %d keys, %v", len(keys), err)
	}
	for name, text := range map[string]string{"short": "0123456789", "empty": "\n# none\n"} {
		if _, err := workflows.ParseIdentityKeys([]byte(text)); err == nil {
			t.Errorf("%s key file accepted", name)
		}
	}
}

// TestIdentityVerifier runs the worker interceptor in a workflow: a proof
// signed for the request delivered verifies it; a proof for another
// request (altered on its way), or none, leaves it claimed.
func TestIdentityVerifier(t *testing.T) {
	good := workflows.OperatorRequest{CmdID: "c1", Scope: domain.Global, Operator: "alice", Reason: "all clear"}
	tests := []struct {
		name      string
		delivered workflows.OperatorRequest
		proofFor  *workflows.OperatorRequest // nil: no header
		want      domain.Identity
	}{
		{"good signature", good, &good, domain.IdentityVerified},
		{"operator tampered", withOp(good, "mallory"), &good, domain.IdentityClaimed},
		{"cmd_id tampered", withCmd(good, "c9"), &good, domain.IdentityClaimed},
		{"scope tampered", withScope(good, "ACCOUNT:1"), &good, domain.IdentityClaimed},
		{"missing header", good, nil, domain.IdentityClaimed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))))
			env := suite.NewTestWorkflowEnvironment()
			sender := &proofSender{proofFor: tc.proofFor}
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{
				sender, workflows.NewIdentityVerifier(testKeys),
			}})
			env.RegisterWorkflowWithOptions(probeWorkflow, workflow.RegisterOptions{Name: "probe"})
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: domain.Global.WorkflowID()})
			var validated, executed workflows.IdentityCheck
			var err error
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(workflows.UpdateUnkill, "u1", &testsuite.TestUpdateCallback{
					OnReject: func(e error) { err = e },
					OnComplete: func(v any, e error) {
						err = e
						if e == nil {
							res, e := decodeChecks(v)
							if e != nil {
								t.Error(e)
							}
							validated, executed = res[0], res[1]
						}
					},
				}, tc.delivered)
			}, time.Second)
			env.ExecuteWorkflow("probe")
			if err != nil {
				t.Fatalf("probe update: %v", err)
			}
			if validated.Identity != tc.want || executed.Identity != tc.want {
				t.Errorf("validator saw %+v, handler saw %+v, want %q", validated, executed, tc.want)
			}
		})
	}
}

// probeWorkflow answers one unkill update with the verdicts its validator
// and its handler were given.
func probeWorkflow(ctx workflow.Context) error {
	var seen workflows.IdentityCheck
	done := false
	err := workflow.SetUpdateHandlerWithOptions(ctx, workflows.UpdateUnkill,
		func(ctx workflow.Context, _ workflows.OperatorRequest) ([2]workflows.IdentityCheck, error) {
			done = true
			return [2]workflows.IdentityCheck{seen, workflows.UpdateIdentity(ctx)}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, _ workflows.OperatorRequest) error {
			seen = workflows.UpdateIdentity(ctx)
			return nil
		}})
	if err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return done })
}

// proofSender writes into each update's header the proof riskgate's API
// would have sent for proofFor, whatever request is delivered.
type proofSender struct {
	interceptor.WorkerInterceptorBase
	proofFor *workflows.OperatorRequest
}

func (s *proofSender) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &proofInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, s: s}
}

type proofInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	s *proofSender
}

func (i *proofInbound) send(ctx workflow.Context, in *interceptor.UpdateInput) {
	if i.s.proofFor == nil {
		return
	}
	info := workflow.GetInfo(ctx)
	if err := testKeys.SignHeader(interceptor.WorkflowHeader(ctx),
		workflows.UpdateTarget{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Update: in.Name},
		*i.s.proofFor, workflow.Now(ctx)); err != nil {
		panic(err)
	}
}

func (i *proofInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	i.send(ctx, in)
	return i.Next.ValidateUpdate(ctx, in)
}

func (i *proofInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	i.send(ctx, in)
	return i.Next.ExecuteUpdate(ctx, in)
}

// TestFourEyesCountVerifiedIdentities: an unkill of GLOBAL sent as two
// claimed operators (the Web UI or CLI, where anyone with write access to
// the namespace can type any name) does not release it; two verified
// operators do; FourEyesAcceptClaimed restores counting claimed ones.
func TestFourEyesCountVerifiedIdentities(t *testing.T) {
	tests := []struct {
		name     string
		settings workflows.Settings
		a, b     func(h *harness, d time.Duration, name string, r workflows.OperatorRequest) *updateResult
		// releasedAt is when GLOBAL is ACTIVE again: at b's unkill (2m), or
		// only with a verified admin's (4m: a was verified; 5m: neither).
		releasedAt time.Duration
	}{
		{"two claimed", workflows.Settings{}, (*harness).updateClaimed, (*harness).updateClaimed, 5 * time.Minute},
		{"verified and claimed", workflows.Settings{}, (*harness).update, (*harness).updateClaimed, 4 * time.Minute},
		{"two verified", workflows.Settings{}, (*harness).update, (*harness).update, 2 * time.Minute},
		{"two claimed, claimed accepted", workflows.Settings{FourEyesAcceptClaimed: true}, (*harness).updateClaimed, (*harness).updateClaimed, 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, domain.Global, tc.settings)
			h.breach(0, "b1")
			a := tc.a(h, time.Minute, workflows.UpdateUnkill, req("a", "forged release"))
			b := tc.b(h, 2*time.Minute, workflows.UpdateUnkill, req("b", "forged release"))
			held := h.queryState(3 * time.Minute)
			// Two verified admins end the incident either way.
			h.update(4*time.Minute, workflows.UpdateUnkill, req("alice", "done"))
			h.update(5*time.Minute, workflows.UpdateUnkill, req("bob", "done"))
			h.run(workflows.Input{})

			pubs := h.checkPubs(kill, unkilled)
			if pubs[1].At != tc.releasedAt {
				t.Fatalf("GLOBAL released at %v, want at %v", pubs[1].At, tc.releasedAt)
			}
			if tc.releasedAt == 2*time.Minute {
				if a.Err != nil || b.Err != nil || b.State.Status != domain.StatusActive {
					t.Fatalf("unkills by a and b: %+v / %+v, want GLOBAL ACTIVE", a, b)
				}
				return
			}
			if held.Status != domain.StatusKilled {
				t.Fatalf("GLOBAL after unkills by a and b: %s, want KILLED", held.Status)
			}
			if !b.Rejected || !workflows.IsConflict(b.Err) || !strings.Contains(b.Err.Error(), "claimed") {
				t.Errorf("claimed unkill by b: %+v, want a conflict saying the identity is only claimed", b)
			}
		})
	}
}

// TestIdentityRecorded: every operator transition and command says whether
// its operator was verified or claimed; the Web UI path still works on a
// scope without four eyes.
func TestIdentityRecorded(t *testing.T) {
	h := newHarness(t, "ACCOUNT:7", workflows.Settings{})
	h.breach(0, "b1")
	pin := h.updateClaimed(time.Minute, workflows.UpdatePin, req("ui-user", "looking"))
	hist := h.queryHistory(90 * time.Second)
	unkill := h.update(2*time.Minute, workflows.UpdateUnkill, req("alice", "done"))
	h.run(workflows.Input{})
	if pin.Err != nil || unkill.Err != nil {
		t.Fatalf("claimed pin: %v; verified unkill: %v", pin.Err, unkill.Err)
	}
	pubs := h.checkPubs(kill, step{domain.ActionPin, domain.StatusKilled}, unkilled)
	want := []domain.Identity{"", domain.IdentityClaimed, domain.IdentityVerified}
	for i, p := range pubs {
		if p.Command.Identity != want[i] {
			t.Errorf("command %d (%s by %q): identity %q, want %q", i, p.Command.Action, p.Command.Operator, p.Command.Identity, want[i])
		}
	}
	if n := len(*hist); n != 2 || (*hist)[0].Identity != "" || (*hist)[1].Identity != domain.IdentityClaimed {
		t.Errorf("history %+v, want the breach without identity and the pin claimed", *hist)
	}
}

// TestApprovalsRecordIdentity: a pending four-eyes approval's transition
// says its identity was verified.
func TestApprovalsRecordIdentity(t *testing.T) {
	h := newHarness(t, domain.Global, workflows.Settings{})
	h.breach(0, "b1")
	h.update(time.Minute, workflows.UpdateUnkill, req("alice", "done"))
	hist := h.queryHistory(90 * time.Second)
	h.update(2*time.Minute, workflows.UpdateUnkill, req("bob", "done"))
	h.run(workflows.Input{})
	last := (*hist)[len(*hist)-1]
	if last.Operator != "alice" || last.Identity != domain.IdentityVerified || !strings.Contains(last.Reason, "approval 1 of 2") {
		t.Errorf("approval transition %+v, want alice's approval 1 of 2, verified", last)
	}
}

func decodeChecks(v any) ([2]workflows.IdentityCheck, error) {
	var out [2]workflows.IdentityCheck
	switch x := v.(type) {
	case [2]workflows.IdentityCheck:
		return x, nil
	case converter.EncodedValue:
		return out, x.Get(&out)
	}
	return out, fmt.Errorf("update result of type %T", v)
}

func withOp(r workflows.OperatorRequest, op string) workflows.OperatorRequest {
	r.Operator = op
	return r
}

func withCmd(r workflows.OperatorRequest, id string) workflows.OperatorRequest {
	r.CmdID = id
	return r
}

func withScope(r workflows.OperatorRequest, s domain.Scope) workflows.OperatorRequest {
	r.Scope = s
	return r
}

func withReason(r workflows.OperatorRequest, why string) workflows.OperatorRequest {
	r.Reason = why
	return r
}

func withWorkflow(to workflows.UpdateTarget, id string) workflows.UpdateTarget {
	to.WorkflowID = id
	return to
}

func withUpdate(to workflows.UpdateTarget, name string) workflows.UpdateTarget {
	to.Update = name
	return to
}

func withRun(to workflows.UpdateTarget, run string) workflows.UpdateTarget {
	to.RunID = run
	return to
}
