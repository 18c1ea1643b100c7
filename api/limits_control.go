package api

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// LimitsControl is what the limits routes need from Temporal: the scopes'
// Limits workflows. TemporalControl implements it; tests use a fake.
type LimitsControl interface {
	// OperateLimits sends a Limits update (workflows.LimitsUpdateSet, …),
	// starting the scope's workflow when it has none, and returns the view
	// after it.
	OperateLimits(ctx context.Context, update string, req workflows.LimitsRequest) (workflows.LimitsView, error)
	// QueryLimits returns a scope's view, or an error wrapping
	// workflows.ErrNoLimits when the scope has no Limits workflow.
	QueryLimits(ctx context.Context, scope domain.Scope) (workflows.LimitsView, error)
	// LimitedScopes lists the scopes whose limits are not their type's
	// defaults (overridden, raised, or with a change pending), at most limit.
	LimitedScopes(ctx context.Context, limit int) ([]domain.Scope, error)
}

// OperateLimits implements LimitsControl with workflows.OperateLimits (the
// client's IdentitySigner signs the request).
func (t TemporalControl) OperateLimits(ctx context.Context, update string, req workflows.LimitsRequest) (workflows.LimitsView, error) {
	return workflows.OperateLimits(ctx, t.Client, update, req)
}

// QueryLimits implements LimitsControl with workflows.QueryLimits.
func (t TemporalControl) QueryLimits(ctx context.Context, scope domain.Scope) (workflows.LimitsView, error) {
	return workflows.QueryLimits(ctx, t.Client, scope)
}

// LimitedScopes implements LimitsControl with a visibility query on the
// Limits workflows' LimitState search attribute, which each workflow keeps
// current with its state.
func (t TemporalControl) LimitedScopes(ctx context.Context, limit int) ([]domain.Scope, error) {
	q := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s != '%s'",
		workflows.LimitsWorkflowName, workflows.SALimitState, workflows.LimitStateDefault)
	var out []domain.Scope
	var token []byte
	for {
		resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: t.Namespace, PageSize: int32(min(limit, 1000)), Query: q, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list limited scopes: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			s, err := domain.ParseScope(strings.TrimPrefix(e.GetExecution().GetWorkflowId(), "limits/"))
			if err != nil {
				continue // not a Limits workflow of ours
			}
			out = append(out, s)
			if len(out) >= limit {
				return out, nil
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}
