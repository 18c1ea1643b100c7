package workflows

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/riskgate/riskgate/domain"
)

// TaskQueue is the task queue the KillSwitch workers poll.
const TaskQueue = "riskgate-killswitch"

// WorkflowName is the registered name of the KillSwitch workflow.
const WorkflowName = "KillSwitch"

// Signal, update and query names of the KillSwitch workflow. Each takes the
// payload type named beside it; all are plain JSON, so they can be sent from
// the Temporal Web UI or the temporal CLI as well.
const (
	SignalBreach   = "breach"   // BreachSignal, from the detector
	SignalNormal   = "normal"   // NormalSignal, from the detector
	UpdateKill     = "kill"     // OperatorRequest → domain.State
	UpdateUnkill   = "unkill"   // OperatorRequest → domain.State
	UpdateThrottle = "throttle" // OperatorRequest (MaxRatePerSecond) → domain.State
	UpdateExtend   = "extend"   // OperatorRequest (CooldownSeconds) → domain.State
	UpdatePin      = "pin"      // OperatorRequest → domain.State
	UpdateUnpin    = "unpin"    // OperatorRequest → domain.State
	QueryState     = "state"    // → domain.State
	QueryHistory   = "history"  // → []Transition
	QueryIncident  = "incident" // → Carry: everything the run knows, for debugging
)

// Search attribute names kept current by the workflow (all Keyword).
const (
	SAKillScope     = "KillScope"
	SAKillScopeType = "KillScopeType"
	SAKillStatus    = "KillStatus"
	SAKillTrigger   = "KillTrigger"
)

// SearchAttributes lists the search attributes a namespace must have
// registered (name → type), for the dev server and admin tooling.
var SearchAttributes = map[string]string{
	SAKillScope:     "Keyword",
	SAKillScopeType: "Keyword",
	SAKillStatus:    "Keyword",
	SAKillTrigger:   "Keyword",
	SALimitScope:    "Keyword",
	SALimitState:    "Keyword",
}

// BreachSignal and NormalSignal are the detector's signals to a scope's
// workflow. They are wire contracts (their JSON is in every recorded
// history), so they live in domain beside RiskSignal; these names keep the
// workflow's public face in one place.
type (
	BreachSignal = domain.BreachSignal
	NormalSignal = domain.NormalSignal
)

// OperatorRequest is the payload of every operator update.
type OperatorRequest struct {
	CmdID    string       `json:"cmd_id"`
	Scope    domain.Scope `json:"scope"`
	Reason   string       `json:"reason"`
	Operator string       `json:"operator"`
	// CooldownSeconds sets (kill) or extends by (extend) the cooldown.
	CooldownSeconds int64 `json:"cooldown_seconds,omitempty"`
	// MaxRatePerSecond is the rate of a throttle.
	MaxRatePerSecond float64 `json:"max_rate_per_second,omitempty"`
	// AutoUnkill lets an operator kill end by itself after its cooldown.
	AutoUnkill bool `json:"auto_unkill,omitempty"`
}

// Validate checks the fields every operator request needs.
func (r *OperatorRequest) Validate() error {
	if _, err := domain.ParseScope(string(r.Scope)); err != nil {
		return err
	}
	if r.Reason == "" {
		return fmt.Errorf("%w: reason is required", ErrInvalidRequest)
	}
	if r.Operator == "" {
		return fmt.Errorf("%w: operator is required", ErrInvalidRequest)
	}
	if r.CooldownSeconds < 0 {
		return fmt.Errorf("%w: cooldown_seconds %d must not be negative", ErrInvalidRequest, r.CooldownSeconds)
	}
	if r.MaxRatePerSecond < 0 {
		return fmt.Errorf("%w: max_rate_per_second %v must not be negative", ErrInvalidRequest, r.MaxRatePerSecond)
	}
	return nil
}

// Transition is one entry of a run's history: what changed, who, why, when.
type Transition struct {
	TS       int64          `json:"ts"`
	From     domain.Status  `json:"from"`
	To       domain.Status  `json:"to"`
	Action   domain.Action  `json:"action"`
	Trigger  domain.Trigger `json:"trigger"`
	Operator string         `json:"operator,omitempty"`
	Reason   string         `json:"reason"`
	CmdID    string         `json:"cmd_id"`
	Version  int64          `json:"version"`
	// Identity says whether Operator was verified (signed by riskgate's
	// API) or only claimed (the Temporal Web UI or CLI). Set on operator
	// transitions; absent on those applied before it was recorded.
	Identity domain.Identity `json:"identity,omitempty"`
}

// ErrNoIncident is returned when an update needs an open run and there is none.
var ErrNoIncident = errors.New("scope has no open incident")

// Application error types of a rejected update, so that callers can tell a
// bad request (HTTP 400) from an action the scope's status does not allow
// (HTTP 409).
const (
	ErrTypeInvalid  = "InvalidRequest"
	ErrTypeConflict = "Conflict"
)

// IsConflict reports whether err is an update rejected because the scope's
// status does not allow it (unkill of an ACTIVE scope, the same operator
// approving twice).
func IsConflict(err error) bool { return appErrType(err) == ErrTypeConflict }

// IsInvalid reports whether err is a request that failed validation, on the
// client or in the workflow.
func IsInvalid(err error) bool {
	return errors.Is(err, ErrInvalidRequest) || errors.Is(err, domain.ErrInvalidScope) || appErrType(err) == ErrTypeInvalid
}

func appErrType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

// ErrInvalidRequest is wrapped by OperatorRequest.Validate's errors.
var ErrInvalidRequest = errors.New("invalid request")

func startOptions(scope domain.Scope) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       scope.WorkflowID(),
		TaskQueue:                TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
}

// SendBreach delivers a breach to the scope's workflow with SignalWithStart:
// it signals the open run, or starts a new run (a new incident) and signals
// it in one call. A repeated delivery is harmless: the workflow applies a
// cmd_id once.
func SendBreach(ctx context.Context, c client.Client, sig BreachSignal) error {
	if _, err := domain.ParseScope(string(sig.Scope)); err != nil {
		return err
	}
	_, err := c.SignalWithStartWorkflow(ctx, sig.Scope.WorkflowID(), SignalBreach, sig,
		startOptions(sig.Scope), WorkflowName, Input{Scope: sig.Scope})
	if err != nil {
		return fmt.Errorf("signal breach to %s: %w", sig.Scope, err)
	}
	return nil
}

// SendNormal signals the scope's open run that the scope is back to normal.
// It is a no-op (nil) when the scope has no open run.
func SendNormal(ctx context.Context, c client.Client, sig NormalSignal) error {
	err := c.SignalWorkflow(ctx, sig.Scope.WorkflowID(), "", SignalNormal, sig)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal normal to %s: %w", sig.Scope, err)
	}
	return nil
}

// Operate sends an operator update to the scope's open run and returns the
// new state. For UpdateKill and UpdateThrottle a run is started when none is
// open; the other updates return ErrNoIncident then.
func Operate(ctx context.Context, c client.Client, update string, req OperatorRequest) (domain.State, error) {
	var st domain.State
	if err := req.Validate(); err != nil {
		return st, err
	}
	if req.CmdID == "" {
		req.CmdID = domain.NewID()
	}
	var (
		h   client.WorkflowUpdateHandle
		err error
	)
	upd := client.UpdateWorkflowOptions{
		UpdateID:     req.CmdID,
		WorkflowID:   req.Scope.WorkflowID(),
		UpdateName:   update,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	if update == UpdateKill || update == UpdateThrottle {
		op := c.NewWithStartWorkflowOperation(startOptions(req.Scope), WorkflowName, Input{Scope: req.Scope})
		h, err = c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions:          upd,
		})
	} else {
		h, err = c.UpdateWorkflow(ctx, upd)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, fmt.Errorf("%s %s: %w", update, req.Scope, ErrNoIncident)
	}
	if err != nil {
		return st, fmt.Errorf("%s %s: %w", update, req.Scope, err)
	}
	if err := h.Get(ctx, &st); err != nil {
		return st, fmt.Errorf("%s %s: %w", update, req.Scope, err)
	}
	return st, nil
}
