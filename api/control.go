package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// Control is what the API needs from Temporal. The real implementation
// (TemporalControl) talks to the KillSwitch workflows; tests use a fake.
type Control interface {
	// Operate sends an operator update (workflows.UpdateKill, …) and returns
	// the scope's new state.
	Operate(ctx context.Context, update string, req workflows.OperatorRequest) (domain.State, error)
	// History returns the transition history of the scope's latest run
	// (runID "") or of one run.
	History(ctx context.Context, scope domain.Scope, runID string) ([]workflows.Transition, error)
	// Incidents lists the scope's runs, newest first, at most limit.
	Incidents(ctx context.Context, scope domain.Scope, limit int) ([]Incident, error)
	// Check reports whether Temporal answers.
	Check(ctx context.Context) error
}

// Incident is one KillSwitch run of a scope, as Temporal visibility lists it.
type Incident struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// Status is the run's execution status: RUNNING, COMPLETED, CONTINUED_AS_NEW, …
	Status    string `json:"status"`
	StartTS   int64  `json:"start_ts"`
	CloseTS   int64  `json:"close_ts,omitempty"`
	KillState string `json:"kill_status,omitempty"`
	Trigger   string `json:"trigger,omitempty"`
}

// Open reports whether the run is still running.
func (i Incident) Open() bool { return i.Status == "RUNNING" }

// TemporalControl implements Control with a Temporal client (one with a
// workflows.IdentitySigner, so that the updates it sends are verified).
type TemporalControl struct {
	Client    client.Client
	Namespace string
}

// Operate implements Control with workflows.Operate.
func (t TemporalControl) Operate(ctx context.Context, update string, req workflows.OperatorRequest) (domain.State, error) {
	return workflows.Operate(ctx, t.Client, update, req)
}

// History implements Control with the workflow's history query.
func (t TemporalControl) History(ctx context.Context, scope domain.Scope, runID string) ([]workflows.Transition, error) {
	v, err := t.Client.QueryWorkflow(ctx, scope.WorkflowID(), runID, workflows.QueryHistory)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("history of %s: %w", scope, workflows.ErrNoIncident)
		}
		return nil, fmt.Errorf("query history of %s: %w", scope, err)
	}
	var out []workflows.Transition
	if err := v.Get(&out); err != nil {
		return nil, fmt.Errorf("decode history of %s: %w", scope, err)
	}
	return out, nil
}

// Incidents implements Control with a visibility query on the workflow id.
func (t TemporalControl) Incidents(ctx context.Context, scope domain.Scope, limit int) ([]Incident, error) {
	if limit <= 0 {
		limit = 20
	}
	q := fmt.Sprintf("WorkflowId = '%s'", strings.ReplaceAll(scope.WorkflowID(), "'", ""))
	resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: t.Namespace,
		PageSize:  int32(limit),
		Query:     q,
	})
	if err != nil {
		return nil, fmt.Errorf("list incidents of %s: %w", scope, err)
	}
	var out []Incident
	for _, e := range resp.GetExecutions() {
		inc := Incident{
			WorkflowID: e.GetExecution().GetWorkflowId(),
			RunID:      e.GetExecution().GetRunId(),
			Status:     strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"),
		}
		if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			inc.Status = "RUNNING"
		}
		if ts := e.GetStartTime(); ts != nil {
			inc.StartTS = ts.AsTime().UnixMilli()
		}
		if ts := e.GetCloseTime(); ts != nil && !ts.AsTime().IsZero() && ts.AsTime().Unix() > 0 {
			inc.CloseTS = ts.AsTime().UnixMilli()
		}
		if sa := e.GetSearchAttributes().GetIndexedFields(); sa != nil {
			inc.KillState = keyword(sa[workflows.SAKillStatus].GetData())
			inc.Trigger = keyword(sa[workflows.SAKillTrigger].GetData())
		}
		out = append(out, inc)
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// keyword decodes a Keyword search attribute payload (a JSON string).
func keyword(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// Check implements Control with the frontend's health check.
func (t TemporalControl) Check(ctx context.Context) error {
	if _, err := t.Client.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal health check: %w", err)
	}
	return nil
}

// classify maps an error from Control to an HTTP status.
func classify(err error) int {
	var (
		unavail *serviceerror.Unavailable
		deadln  *serviceerror.DeadlineExceeded
		upd     *client.WorkflowUpdateServiceTimeoutOrCanceledError
		nf      *serviceerror.NotFound
		app     *temporal.ApplicationError
	)
	switch {
	case errors.Is(err, workflows.ErrNoIncident), workflows.IsConflict(err):
		return 409
	case workflows.IsInvalid(err):
		return 400
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &unavail), errors.As(err, &deadln), errors.As(err, &upd):
		return 503
	case errors.As(err, &nf):
		return 404
	case errors.As(err, &app):
		// Any other rejection by an update validator or handler: the scope
		// is not in a state where the action applies.
		return 409
	}
	return 500
}

// defaultUpstreamTimeout bounds every call to Temporal or the index.
const defaultUpstreamTimeout = 10 * time.Second
