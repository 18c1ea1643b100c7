package domain

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Status is a scope's kill status.
type Status string

// Kill statuses.
const (
	StatusActive    Status = "ACTIVE"
	StatusKilled    Status = "KILLED"
	StatusThrottled Status = "THROTTLED"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == StatusActive || s == StatusKilled || s == StatusThrottled
}

// State is a record of the compacted killswitch.state.v1 topic, keyed by scope.
// Only the scope's KillSwitch workflow writes it.
type State struct {
	Scope             Scope   `json:"scope"`
	Status            Status  `json:"status"`
	MaxRatePerSecond  float64 `json:"max_rate_per_second,omitempty"`
	UpdatedTS         int64   `json:"updated_ts"`
	UpdatedBy         string  `json:"updated_by"`
	Reason            string  `json:"reason"`
	LastCmdID         string  `json:"last_cmd_id"`
	CorrID            string  `json:"corr_id"`
	Version           int64   `json:"version"`
	CooldownUntil     int64   `json:"cooldown_until,omitempty"`
	AutoUnkillEnabled bool    `json:"auto_unkill_enabled"`
	WorkflowID        string  `json:"workflow_id"`
	RunID             string  `json:"run_id"`
	// Trigger is who caused the current status: detector, operator or system.
	Trigger Trigger `json:"trigger,omitempty"`
	// Approvals lists operators who approved a release that needs more than
	// one (four eyes), while the release is pending.
	Approvals []Approval `json:"approvals,omitempty"`
	// Offences are the times (Unix ms) of the scope's detector kills within
	// the workflow's offence window (24 h by default), oldest first. A new
	// incident reads them back, so repeated offences are counted across
	// incidents.
	Offences []int64 `json:"offences,omitempty"`
}

// Approval is one operator's approval of a release that needs several.
type Approval struct {
	Operator string `json:"operator"`
	TS       int64  `json:"ts"`
	Reason   string `json:"reason"`
	CmdID    string `json:"cmd_id"`
}

// ErrInvalidState is wrapped by every state decoding error.
var ErrInvalidState = errors.New("invalid state record")

// DecodeState parses and validates a killswitch.state.v1 record value.
// A nil or empty value is a tombstone and is reported as such by the caller,
// not here: DecodeState returns an error for it.
func DecodeState(b []byte) (State, error) {
	var s State
	if len(b) == 0 {
		return s, fmt.Errorf("%w: empty value", ErrInvalidState)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	if _, err := ParseScope(string(s.Scope)); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	if !s.Status.Valid() {
		return State{}, fmt.Errorf("%w: status %q for %s", ErrInvalidState, s.Status, s.Scope)
	}
	if s.Status == StatusThrottled && !(s.MaxRatePerSecond > 0) {
		return State{}, fmt.Errorf("%w: THROTTLED %s without a positive max_rate_per_second", ErrInvalidState, s.Scope)
	}
	if s.Version <= 0 {
		return State{}, fmt.Errorf("%w: %s has no positive version", ErrInvalidState, s.Scope)
	}
	return s, nil
}
