package tests

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// TestIdentityLimitsUpdates: a Limits update sent the way the API sends it
// (workflows.OperateLimits on a client with the IdentitySigner) reaches a
// worker's IdentityVerifier over a real Temporal server verified — the
// proof survives the request's trip through JSON — and one sent without
// the signer is claimed. A stand-in Limits workflow reports the verdict.
func TestIdentityLimitsUpdates(t *testing.T) {
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalConfig{
		Headless: true, LogFile: filepath.Join(t.TempDir(), "temporal.log"), Log: testLogger(),
	})
	if err != nil {
		t.Fatalf("start temporal dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	keys := workflows.IdentityKeys{[]byte(workflows.NewIdentityKey())}
	signer, err := workflows.NewIdentitySigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(ics ...interceptor.ClientInterceptor) client.Client {
		c, err := client.Dial(client.Options{HostPort: srv.Addr, Logger: tlog.NewStructuredLogger(testLogger()), Interceptors: ics})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	signed, unsigned := dial(signer), dial()

	w := worker.New(unsigned, workflows.TaskQueue, worker.Options{
		Interceptors: []interceptor.WorkerInterceptor{workflows.NewIdentityVerifier(keys)},
	})
	w.RegisterWorkflowWithOptions(identityProbe, workflow.RegisterOptions{Name: workflows.LimitsWorkflowName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	n, f := int64(250), 3e7
	req := workflows.LimitsRequest{Scope: "ACCOUNT:7", Operator: "ada", Reason: "desk", Admin: true,
		Limits: domain.LimitValues{MaxOrders: &n, CreditLimit: &f}, Clear: []string{"max_notional"}, DurationSeconds: 90}
	for _, c := range []struct {
		name string
		c    client.Client
		want domain.Identity
	}{{"through the API's signer", signed, domain.IdentityVerified}, {"without it", unsigned, domain.IdentityClaimed}} {
		v, err := workflows.OperateLimits(ctx, c.c, workflows.LimitsUpdateRaise, req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if v.UpdatedBy != string(c.want) {
			t.Errorf("%s: the worker judged the operator %s (%s), want %s", c.name, v.UpdatedBy, v.Reason, c.want)
		}
	}
}

// identityProbe stands in for the Limits workflow: every raise answers
// with the IdentityVerifier's verdict in UpdatedBy, and why in Reason.
func identityProbe(ctx workflow.Context, in workflows.LimitsInput) error {
	err := workflow.SetUpdateHandler(ctx, workflows.LimitsUpdateRaise, func(ctx workflow.Context, req workflows.LimitsRequest) (workflows.LimitsView, error) {
		c := workflows.UpdateIdentity(ctx)
		return workflows.LimitsView{Scope: req.Scope, UpdatedBy: string(c.Identity), Reason: c.Why}, nil
	})
	if err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}
