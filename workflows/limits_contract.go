package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/domain"
)

// The Limits workflow (DESIGN §9): one per scope, id "limits/<scope>", the
// only writer of the scope's record on risk.limits.v1. It runs on the
// KillSwitch's task queue, in the same workers.
const LimitsWorkflowName = "Limits"

// Update and query names of the Limits workflow. Every update takes a
// LimitsRequest and returns the LimitsView after it; all are plain JSON.
const (
	LimitsUpdateSet        = "set"        // Limits and Clear applied field by field
	LimitsUpdateRaise      = "raise"      // temporary: DurationSeconds or Until, then reverted
	LimitsUpdateApprove    = "approve"    // the pending change, by a second operator
	LimitsUpdateReject     = "reject"     // the pending change
	LimitsUpdateRestrict   = "restrict"   // SYMBOL scopes: restricted = true
	LimitsUpdateUnrestrict = "unrestrict" // SYMBOL scopes: restricted back to the default
	LimitsQueryLimits      = "limits"     // → LimitsView
	LimitsQueryHistory     = "history"    // → []LimitsChange
)

// Search attributes of the Limits workflow (Keyword).
const (
	SALimitScope = "LimitScope"
	SALimitState = "LimitState"
)

// LimitState values of SALimitState and LimitsView.State.
const (
	LimitStateDefault         = "DEFAULT"          // no override
	LimitStateOverridden      = "OVERRIDDEN"       // overrides, none temporary
	LimitStateTemporary       = "TEMPORARY"        // a raise in force, reverting at ExpiresAt
	LimitStatePendingApproval = "PENDING_APPROVAL" // a change waits for a second operator
)

// Where an effective limit comes from (LimitsView.Source).
const (
	LimitSourceDefault   = "default"   // the scope type's default in the limits file
	LimitSourceOverride  = "override"  // the scope's own override
	LimitSourceTemporary = "temporary" // a raise in force
)

// LimitsWorkflowID is the workflow id of a scope's Limits workflow.
func LimitsWorkflowID(s domain.Scope) string { return "limits/" + string(s) }

// LimitsRequest is the payload of every Limits update.
type LimitsRequest struct {
	CmdID    string       `json:"cmd_id"`
	CorrID   string       `json:"corr_id,omitempty"`
	Scope    domain.Scope `json:"scope"`
	Reason   string       `json:"reason"`
	Operator string       `json:"operator"`
	// Limits are the fields to set (set, raise); a field left nil is kept.
	Limits domain.LimitValues `json:"limits"`
	// Clear names the fields (JSON names, e.g. "max_orders") put back on
	// their default (set). An HTTP body's null becomes an entry here.
	Clear []string `json:"clear,omitempty"`
	// DurationSeconds or Until (Unix milliseconds) end a raise.
	DurationSeconds int64 `json:"duration_seconds,omitempty"`
	Until           int64 `json:"until,omitempty"`
	// Admin: the operator holds the admin role, so a change beyond the
	// ceilings applies at once only with a second operator's approval
	// (never without); an operator without it cannot request one.
	Admin bool `json:"admin,omitempty"`
}

// Validate checks what every Limits request needs before it is sent.
func (r *LimitsRequest) Validate() error {
	if _, err := domain.ParseScope(string(r.Scope)); err != nil {
		return err
	}
	if strings.TrimSpace(r.Reason) == "" {
		return fmt.Errorf("%w: reason is required", ErrInvalidRequest)
	}
	if r.Operator == "" {
		return fmt.Errorf("%w: operator is required", ErrInvalidRequest)
	}
	if r.DurationSeconds < 0 {
		return fmt.Errorf("%w: duration_seconds %d must not be negative", ErrInvalidRequest, r.DurationSeconds)
	}
	if err := r.Limits.Validate(r.Scope.Type()); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return nil
}

// PendingLimits is a change waiting for a second operator's approval.
type PendingLimits struct {
	CmdID       string             `json:"cmd_id"`
	Kind        string             `json:"kind"` // LimitsUpdateSet or LimitsUpdateRaise
	RequestedBy string             `json:"requested_by"`
	Reason      string             `json:"reason"`
	Limits      domain.LimitValues `json:"limits"`
	Clear       []string           `json:"clear,omitempty"`
	// DurationSeconds of a pending raise, counted from its approval, or
	// Until, when the raise was asked to end at a time (Unix milliseconds).
	DurationSeconds int64 `json:"duration_seconds,omitempty"`
	Until           int64 `json:"until,omitempty"`
	RequestedTS     int64 `json:"requested_ts"`
	// ExpiresAt ends the approval window (Unix milliseconds).
	ExpiresAt int64 `json:"expires_at"`
	// Why says what makes the change need a second operator, in words
	// (e.g. "max_orders 5000 above the ACCOUNT ceiling 1000").
	Why string `json:"why,omitempty"`
}

// LimitsView is what the limits query and every update return: the scope's
// effective limits, where each comes from, and what is pending.
type LimitsView struct {
	Scope domain.Scope `json:"scope"`
	// Limits are the effective limits: defaults with overrides applied.
	Limits domain.LimitValues `json:"limits"`
	// Overrides are the scope's own fields (what risk.limits.v1 holds).
	Overrides domain.LimitValues `json:"overrides"`
	// Source says, per set field of Limits (JSON name), where it comes from.
	Source map[string]string `json:"source"`
	State  string            `json:"state"`
	// ExpiresAt is when a raise in force reverts (Unix milliseconds).
	ExpiresAt int64          `json:"expires_at,omitempty"`
	Pending   *PendingLimits `json:"pending,omitempty"`
	Version   int64          `json:"version"`
	UpdatedTS int64          `json:"updated_ts,omitempty"`
	UpdatedBy string         `json:"updated_by,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	// ApprovedBy is the second operator of the override values beyond
	// their ceilings, if any (see domain.LimitsRecord.ApprovedBy).
	ApprovedBy string `json:"approved_by,omitempty"`
	// Ceilings are the firm's ceilings of the scope's type (the values a
	// change may loosen a limit to without a second operator).
	Ceilings domain.LimitValues `json:"ceilings"`
	// Applied is false when the update only requested a change that
	// waits for approval (HTTP 202).
	Applied bool `json:"applied"`
}

// LimitsChange is one entry of the history query: who, why, old → new.
type LimitsChange = domain.LimitsCommand

// ErrNoLimits is returned for a scope that has no Limits workflow: it is on
// its type's defaults and has never been changed.
var ErrNoLimits = errors.New("scope has no limits workflow")

func limitsStartOptions(scope domain.Scope) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       LimitsWorkflowID(scope),
		TaskQueue:                TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
}

// LimitsInput starts a scope's Limits workflow, and carries its state
// across continue-as-new.
type LimitsInput struct {
	Scope domain.Scope `json:"scope"`
	// Carry is the state of the run that continued as new (nil on the
	// first start).
	Carry *LimitsCarry `json:"carry,omitempty"`
}

// OperateLimits sends a Limits update, starting the scope's workflow when it
// has none, and returns the view after it.
func OperateLimits(ctx context.Context, c client.Client, update string, req LimitsRequest) (LimitsView, error) {
	var v LimitsView
	if err := req.Validate(); err != nil {
		return v, err
	}
	if req.CmdID == "" {
		req.CmdID = domain.NewID()
	}
	op := c.NewWithStartWorkflowOperation(limitsStartOptions(req.Scope), LimitsWorkflowName, LimitsInput{Scope: req.Scope})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     req.CmdID,
			WorkflowID:   LimitsWorkflowID(req.Scope),
			UpdateName:   update,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return v, fmt.Errorf("limits %s %s: %w", update, req.Scope, err)
	}
	if err := h.Get(ctx, &v); err != nil {
		return v, fmt.Errorf("limits %s %s: %w", update, req.Scope, err)
	}
	return v, nil
}

// QueryLimits returns the view of a scope's Limits workflow, or ErrNoLimits.
func QueryLimits(ctx context.Context, c client.Client, scope domain.Scope) (LimitsView, error) {
	var v LimitsView
	resp, err := c.QueryWorkflow(ctx, LimitsWorkflowID(scope), "", LimitsQueryLimits)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return v, fmt.Errorf("limits of %s: %w", scope, ErrNoLimits)
	}
	if err != nil {
		return v, fmt.Errorf("limits of %s: %w", scope, err)
	}
	if err := resp.Get(&v); err != nil {
		return v, fmt.Errorf("limits of %s: %w", scope, err)
	}
	return v, nil
}

// LimitsCarry is a Limits run's state, carried across continue-as-new with
// its pending timers (the raise's expiry, the approval window's end).
type LimitsCarry struct {
	Overrides domain.LimitValues `json:"overrides"`
	// Base is what a raise in force reverts to at ExpiresAt.
	Base      *domain.LimitValues `json:"base,omitempty"`
	ExpiresAt int64               `json:"expires_at,omitempty"`
	Pending   *PendingLimits      `json:"pending,omitempty"`
	Version   int64               `json:"version"`
	UpdatedTS int64               `json:"updated_ts,omitempty"`
	UpdatedBy string              `json:"updated_by,omitempty"`
	Reason    string              `json:"reason,omitempty"`
	// LastCmdID and CorrID are those of the change that made Overrides.
	LastCmdID string `json:"last_cmd_id,omitempty"`
	CorrID    string `json:"corr_id,omitempty"`
	// ApprovedBy, see LimitsView.ApprovedBy; BaseApprovedBy is Base's.
	ApprovedBy     string `json:"approved_by,omitempty"`
	BaseApprovedBy string `json:"base_approved_by,omitempty"`
	// History is the latest changes, newest last (bounded).
	History []LimitsChange `json:"history,omitempty"`
	// Applied maps the cmd_ids already applied to the view they returned,
	// so a repeated update returns the same result (bounded).
	Applied map[string]LimitsView `json:"applied,omitempty"`
	// AppliedOrder lists Applied's cmd_ids oldest first, so the oldest is
	// the one forgotten when it is full.
	AppliedOrder []string `json:"applied_order,omitempty"`
}
