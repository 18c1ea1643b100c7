package workflows

import (
	"github.com/riskgate/riskgate/domain"
)

// Input starts a KillSwitch run. Zero fields take the worker's defaults.
type Input struct {
	Scope domain.Scope `json:"scope"`
	// Settings override the worker's defaults for this run and its
	// continuations. Continue-as-new always sets it.
	Settings *Settings `json:"settings,omitempty"`
	// Carry is the incident handed over by continue-as-new.
	Carry *Carry `json:"carry,omitempty"`
	// Breach, when set, is a breach the run applies before any signal: a
	// starter may pass it here instead of signalling it with the start.
	Breach *BreachSignal `json:"breach,omitempty"`
}

// Carry is everything a run knows about its incident, handed to the next run
// by continue-as-new so that nothing is lost.
type Carry struct {
	State   domain.State `json:"state"`
	History []Transition `json:"history,omitempty"`
	// Seen are the most recent cmd_ids applied, for idempotency.
	Seen []string `json:"seen,omitempty"`
	// Pending are signals received but not yet applied, in arrival order.
	Pending []PendingSignal `json:"pending,omitempty"`
	// Started says the incident began: a kill or throttle happened.
	Started bool `json:"started,omitempty"`
	// Normal says the detector reported the scope normal since the last breach.
	Normal bool `json:"normal,omitempty"`
	// NormalCmdID is the cmd_id of the normal that set Normal: a breach
	// forgets it, so the detector may report the scope normal again under
	// the same id (it names a normal by the state version it saw).
	NormalCmdID string `json:"normal_cmd_id,omitempty"`
	// LastBreachTS is the detector's event time of the latest breach, Unix
	// ms: a normal decided before it is stale.
	LastBreachTS int64 `json:"last_breach_ts,omitempty"`
	// CooldownExpired says the current cooldown has run out.
	CooldownExpired bool `json:"cooldown_expired,omitempty"`
	// Pinned says auto-unkill is off until an operator unpins or unkills.
	Pinned bool `json:"pinned,omitempty"`
	// Probation says the THROTTLED status is an auto-unkill's probation,
	// which ends at State.CooldownUntil.
	Probation bool `json:"probation,omitempty"`
	// ProbationOver says the probation's time is up but the scope breached
	// since the normal that began it: it stays THROTTLED until the next.
	ProbationOver bool `json:"probation_over,omitempty"`
	// ApprovalAction is what the pending four-eyes approvals
	// (State.Approvals) are for: UNKILL (also when empty) or UNPIN.
	ApprovalAction domain.Action `json:"approval_action,omitempty"`
	// CooldownMS is the length of the last detector cooldown, for doubling.
	CooldownMS int64 `json:"cooldown_ms,omitempty"`
	// Offences are the times of detector kills, Unix ms, within the window.
	Offences []int64 `json:"offences,omitempty"`
	// Seq numbers cmd_ids the workflow makes up for inputs that had none.
	Seq int64 `json:"seq,omitempty"`
}

// PendingSignal is one signal carried over by continue-as-new; exactly one
// field is set.
type PendingSignal struct {
	Breach *BreachSignal `json:"breach,omitempty"`
	Normal *NormalSignal `json:"normal,omitempty"`
}
