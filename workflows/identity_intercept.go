package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// The two ends of an operator's proof of identity: a client interceptor on
// riskgate's API signs every operator update it sends, and a worker
// interceptor checks the proof and hands its verdict to the workflow.
//
// Determinism: the worker interceptor runs again whenever a run is
// replayed, and its verdict depends on the worker's keys and on time. It
// judges an update at workflow time (workflow.Now, the same on replay),
// never wall time; validators, which Temporal runs only when an update
// first arrives and never on replay, read its verdict to reject what may
// not be applied; and the update handler records the verdict in history
// with a side effect (see recordIdentity) before acting on it, so a replay
// reads the recorded verdict and never checks again: a worker whose keys
// have been rotated since replays the same decisions.

// IdentitySigner is a client interceptor that signs every operator update
// (an update whose argument is an OperatorRequest or a LimitsRequest) with
// the first key.
// Install it on riskgate's API client only: whoever holds the key is
// trusted to have authenticated the operator it names.
type IdentitySigner struct {
	interceptor.ClientInterceptorBase
	keys IdentityKeys
	now  func() time.Time
}

// NewIdentitySigner returns the signer of keys; keys must not be empty.
func NewIdentitySigner(keys IdentityKeys) (*IdentitySigner, error) {
	if len(keys) == 0 {
		return nil, errors.New("identity signer: no identity key")
	}
	return &IdentitySigner{keys: keys, now: time.Now}, nil
}

// InterceptClient implements interceptor.ClientInterceptor.
func (s *IdentitySigner) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &signingOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, s: s}
}

type signingOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	s *IdentitySigner
}

func (o *signingOutbound) sign(ctx context.Context, to UpdateTarget, req SignedRequest) error {
	if to.WorkflowID == "" {
		return fmt.Errorf("sign %s update: the workflow id must be given to sign it", to.Update)
	}
	return o.s.keys.SignHeader(interceptor.Header(ctx), to, req, o.s.now())
}

// UpdateWorkflow signs an operator update for the scope's current run and
// sends it to that run only: the proof holds for one incident, and the
// server refuses the update if the run has ended meanwhile.
func (o *signingOutbound) UpdateWorkflow(ctx context.Context, in *interceptor.ClientUpdateWorkflowInput) (client.WorkflowUpdateHandle, error) {
	if req, ok := signedRequest(in.Args); ok {
		if in.RunID == "" && in.WorkflowID != "" {
			d, err := o.Next.DescribeWorkflow(ctx, &interceptor.ClientDescribeWorkflowInput{WorkflowID: in.WorkflowID})
			if err != nil {
				return nil, fmt.Errorf("find the run of %s to sign its %s update for: %w", in.WorkflowID, in.UpdateName, err)
			}
			in.RunID = d.Response.WorkflowExecution.RunID
		}
		if err := o.sign(ctx, UpdateTarget{WorkflowID: in.WorkflowID, RunID: in.RunID, Update: in.UpdateName}, req); err != nil {
			return nil, err
		}
	}
	return o.Next.UpdateWorkflow(ctx, in)
}

// UpdateWithStartWorkflow signs an operator update that may start the run,
// so for no run in particular.
func (o *signingOutbound) UpdateWithStartWorkflow(ctx context.Context, in *interceptor.ClientUpdateWithStartWorkflowInput) (client.WorkflowUpdateHandle, error) {
	if u := in.UpdateOptions; u != nil {
		if req, ok := signedRequest(u.Args); ok {
			if err := o.sign(ctx, UpdateTarget{WorkflowID: u.WorkflowID, Update: u.UpdateName}, req); err != nil {
				return nil, err
			}
		}
	}
	return o.Next.UpdateWithStartWorkflow(ctx, in)
}

// IdentityVerifier is a worker interceptor that checks the proof of every
// operator update against the keys and puts its verdict in the context of
// the update's validator and handler (UpdateIdentity reads it).
type IdentityVerifier struct {
	interceptor.WorkerInterceptorBase
	keys IdentityKeys
}

// NewIdentityVerifier returns the verifier of keys. With no keys every
// operator is claimed.
func NewIdentityVerifier(keys IdentityKeys) *IdentityVerifier {
	return &IdentityVerifier{keys: keys}
}

// InterceptWorkflow implements interceptor.WorkerInterceptor.
func (v *IdentityVerifier) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &verifyingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, keys: v.keys}
}

type verifyingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	keys IdentityKeys
}

type identityKey struct{}

// check judges the update at workflow time, so a replay judges it alike.
func (i *verifyingInbound) check(ctx workflow.Context, in *interceptor.UpdateInput) workflow.Context {
	req, ok := signedRequest(in.Args)
	if !ok {
		return ctx
	}
	info := workflow.GetInfo(ctx)
	// The update's header is in the context the SDK hands the update.
	c := i.keys.VerifyHeader(interceptor.WorkflowHeader(ctx),
		UpdateTarget{WorkflowID: info.WorkflowExecution.ID, Update: in.Name},
		Run{ID: info.WorkflowExecution.RunID, Start: info.WorkflowStartTime}, req, workflow.Now(ctx))
	return workflow.WithValue(ctx, identityKey{}, c)
}

func (i *verifyingInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	return i.Next.ValidateUpdate(i.check(ctx, in), in)
}

func (i *verifyingInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	return i.Next.ExecuteUpdate(i.check(ctx, in), in)
}

// UpdateIdentity is the IdentityVerifier's verdict on the operator update
// whose validator or handler runs in ctx; claimed when the worker has no
// verifier.
func UpdateIdentity(ctx workflow.Context) IdentityCheck {
	if c, ok := ctx.Value(identityKey{}).(IdentityCheck); ok {
		return c
	}
	return claimed("the worker does not check identities")
}

// signedRequest is the payload of an operator update (KillSwitch or
// Limits), which a proof covers; other updates carry none.
func signedRequest(args []any) (SignedRequest, bool) {
	if len(args) != 1 {
		return nil, false
	}
	switch r := args[0].(type) {
	case OperatorRequest:
		return r, true
	case *OperatorRequest:
		if r != nil {
			return *r, true
		}
	case LimitsRequest:
		return r, true
	case *LimitsRequest:
		if r != nil {
			return *r, true
		}
	}
	return nil, false
}
