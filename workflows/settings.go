package workflows

import (
	"time"

	"github.com/riskgate/riskgate/domain"
)

// Settings are the policy of a KillSwitch run: cooldowns, probation,
// escalation and four-eyes rules. A worker supplies defaults; a run records
// them in its history when it starts (so replay never depends on the
// worker's flags) and carries them across continue-as-new.
type Settings struct {
	// Cooldown is how long a detector kill lasts before auto-unkill is
	// considered. Default 5 min.
	Cooldown time.Duration `json:"cooldown"`
	// MaxCooldown caps the doubled cooldown of a re-breach. Default 1 h.
	MaxCooldown time.Duration `json:"max_cooldown"`
	// MaxOperatorCooldown bounds every duration an operator gives: the
	// cooldown of a kill or throttle, and what an extend leaves. Without a
	// bound, cooldown_seconds × 1000 wraps and moves the cooldown into the
	// past. Default DefaultMaxOperatorCooldown (7 days).
	MaxOperatorCooldown time.Duration `json:"max_operator_cooldown,omitempty"`
	// Probation is how long an auto-unkilled scope stays THROTTLED before
	// it is ACTIVE again. Default 2 min; negative skips probation.
	Probation time.Duration `json:"probation"`
	// ProbationRate is the max orders per second during probation. Default 10.
	ProbationRate float64 `json:"probation_rate"`
	// IgnoreNormal auto-unkills after the cooldown without waiting for the
	// detector's normal signal (for a detector that does not send one).
	IgnoreNormal bool `json:"ignore_normal,omitempty"`
	// OffencesToPin is the number of kills within OffenceWindow that pins
	// the scope until an operator acts. Default 3.
	OffencesToPin int `json:"offences_to_pin"`
	// OffenceWindow is the window offences are counted in. Default 24 h.
	OffenceWindow time.Duration `json:"offence_window"`
	// FourEyes says, per scope type, how many different operators must
	// approve an unkill and within what time. Default: GLOBAL needs 2
	// within 10 min (also when empty). A type that is absent needs one
	// operator; to turn four eyes off, give GLOBAL Required 1.
	FourEyes map[domain.ScopeType]ApprovalPolicy `json:"four_eyes,omitempty"`
	// FourEyesAcceptClaimed counts approvals whose operator is only
	// claimed (sent from the Temporal Web UI or CLI rather than signed by
	// riskgate's API). Off by default: anyone who can write to the
	// namespace could then approve under any two names.
	FourEyesAcceptClaimed bool `json:"four_eyes_accept_claimed,omitempty"`
	// IdleTimeout ends a run that was started but never killed anything
	// (a rejected or stray input). Default 1 min.
	IdleTimeout time.Duration `json:"idle_timeout"`
	// MaxHistoryEvents continues the run as new once its history is this
	// long, if the server has not suggested it earlier. Default 2,000.
	MaxHistoryEvents int `json:"max_history_events"`
	// MaxInputsPerRun continues the run as new after this many signals and
	// updates. Default 500.
	MaxInputsPerRun int `json:"max_inputs_per_run"`
	// HistoryLimit is how many transitions the history query keeps (the
	// newest). Default 500.
	HistoryLimit int `json:"history_limit"`
}

// DefaultMaxOperatorCooldown is the default bound of an operator-given
// cooldown: a week covers a kill held over a long weekend; a longer hold is
// a kill without auto-unkill, which needs no cooldown at all.
const DefaultMaxOperatorCooldown = 7 * 24 * time.Hour

// ApprovalPolicy is the four-eyes rule of one scope type.
type ApprovalPolicy struct {
	// Required is the number of different operators who must approve.
	Required int `json:"required"`
	// Window is the time within which all approvals must arrive.
	Window time.Duration `json:"window"`
}

// DefaultSettings returns the defaults of DESIGN §5.
func DefaultSettings() Settings {
	return Settings{}.WithDefaults()
}

// WithDefaults returns s with every zero field set to its default.
func (s Settings) WithDefaults() Settings {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&s.Cooldown, 5*time.Minute)
	def(&s.MaxCooldown, time.Hour)
	def(&s.MaxOperatorCooldown, DefaultMaxOperatorCooldown)
	def(&s.Probation, 2*time.Minute)
	def(&s.OffenceWindow, 24*time.Hour)
	def(&s.IdleTimeout, time.Minute)
	if s.ProbationRate <= 0 {
		s.ProbationRate = 10
	}
	if s.OffencesToPin <= 0 {
		s.OffencesToPin = 3
	}
	if s.MaxHistoryEvents <= 0 {
		s.MaxHistoryEvents = 2000
	}
	if s.MaxInputsPerRun <= 0 {
		s.MaxInputsPerRun = 500
	}
	if s.HistoryLimit <= 0 {
		s.HistoryLimit = 500
	}
	if len(s.FourEyes) == 0 {
		s.FourEyes = map[domain.ScopeType]ApprovalPolicy{
			domain.ScopeGlobal: {Required: 2, Window: 10 * time.Minute},
		}
	}
	return s
}

// approvals is the four-eyes policy of a scope type, at least one operator.
func (s Settings) approvals(t domain.ScopeType) ApprovalPolicy {
	p := s.FourEyes[t]
	if p.Required < 1 {
		p.Required = 1
	}
	if p.Window <= 0 {
		p.Window = 10 * time.Minute
	}
	return p
}
