package domain

// TopicLimitsCommands is the append-only record of every accepted change to a
// scope's limits (risk.limits.commands.v1), in the order the scope's Limits
// workflow applied them, keyed by scope. The audit index reads it; the daily
// report lists it.
const TopicLimitsCommands = "risk.limits.commands.v1"

// LimitsAction is what a limits command did.
type LimitsAction string

// Limits command actions.
const (
	LimitsSet        LimitsAction = "SET"        // overrides replaced, field by field
	LimitsRaise      LimitsAction = "RAISE"      // a temporary change, reverted at ExpiresAt
	LimitsRevert     LimitsAction = "REVERT"     // a temporary change ended (by its timer)
	LimitsRequest    LimitsAction = "REQUEST"    // a change waiting for a second operator
	LimitsApprove    LimitsAction = "APPROVE"    // a pending change approved and applied
	LimitsReject     LimitsAction = "REJECT"     // a pending change rejected
	LimitsExpire     LimitsAction = "EXPIRE"     // a pending change not approved in time
	LimitsRestrict   LimitsAction = "RESTRICT"   // a SYMBOL made untradable
	LimitsUnrestrict LimitsAction = "UNRESTRICT" // a SYMBOL tradable again
)

// LimitsCommand is a record of risk.limits.commands.v1: who changed which
// limits of a scope, why, and from what to what.
type LimitsCommand struct {
	CmdID  string       `json:"cmd_id"`
	CorrID string       `json:"corr_id"`
	TS     int64        `json:"ts"` // Unix milliseconds
	Scope  Scope        `json:"scope"`
	Action LimitsAction `json:"action"`
	// Operator asked for the change; ApprovedBy is the second operator of
	// a four-eyes change (APPROVE), or who rejected it (REJECT).
	Operator   string `json:"operator"`
	ApprovedBy string `json:"approved_by,omitempty"`
	// Identity says whether the operator who sent the command (the
	// approver of an APPROVE or REJECT) was verified by riskgate's API or
	// only claimed; absent on commands of the workflow's own timers.
	Identity Identity `json:"identity,omitempty"`
	Reason   string   `json:"reason"`
	// Old and New are the scope's overrides before and after the command
	// (the same for REQUEST, REJECT and EXPIRE).
	Old LimitValues `json:"old"`
	New LimitValues `json:"new"`
	// ExpiresAt is when a RAISE reverts, or when a REQUEST's approval
	// window ends (Unix milliseconds).
	ExpiresAt int64 `json:"expires_at,omitempty"`
	// Version is the version of the risk.limits.v1 record the command
	// produced (unchanged for REQUEST, REJECT and EXPIRE).
	Version int64 `json:"version"`
}
