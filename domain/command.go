package domain

// Action is what a command does to a scope.
type Action string

// Command actions.
const (
	ActionKill     Action = "KILL"
	ActionUnkill   Action = "UNKILL"
	ActionThrottle Action = "THROTTLE"
	ActionExtend   Action = "EXTEND"
	ActionPin      Action = "PIN"
	ActionUnpin    Action = "UNPIN"
)

// Trigger says where a command came from.
type Trigger string

// Command triggers.
const (
	TriggerDetector Trigger = "detector"
	TriggerOperator Trigger = "operator"
	TriggerSystem   Trigger = "system"
	// TriggerLimit: the detector escalated repeated pre-trade limit
	// BLOCKs of the scope (DESIGN §9). Such a kill never auto-unkills.
	TriggerLimit Trigger = "limit"
)

// Identity says how far the operator named in a command can be trusted.
type Identity string

// Operator identities.
const (
	// IdentityVerified: riskgate's API authenticated the operator and
	// signed the request with the key it shares with the workers.
	IdentityVerified Identity = "verified"
	// IdentityClaimed: the operator is only what the sender typed (the
	// Temporal Web UI or CLI, or a signature that did not check out).
	IdentityClaimed Identity = "claimed"
)

// Command is a record of the append-only killswitch.commands.v1 topic: every
// accepted command, in the order the scope's workflow applied it.
type Command struct {
	CmdID       string  `json:"cmd_id"`
	TS          int64   `json:"ts"`
	Scope       Scope   `json:"scope"`
	Action      Action  `json:"action"`
	Reason      string  `json:"reason"`
	TriggeredBy Trigger `json:"triggered_by"`
	Operator    string  `json:"operator,omitempty"`
	Metric      string  `json:"metric,omitempty"`
	Value       float64 `json:"value,omitempty"`
	Threshold   float64 `json:"threshold,omitempty"`
	Window      string  `json:"window,omitempty"`
	CorrID      string  `json:"corr_id"`
	// MaxRatePerSecond is the rate of a THROTTLE.
	MaxRatePerSecond float64 `json:"max_rate_per_second,omitempty"`
	// StateVersion is the version of the state this command produced.
	StateVersion int64 `json:"state_version,omitempty"`
	// Identity says whether Operator was verified or only claimed. Set on
	// operator commands; absent on those recorded before it existed.
	Identity Identity `json:"identity,omitempty"`
}
