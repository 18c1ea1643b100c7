package domain

// RiskSignal is a record of risk_signals.v1: one key's window metrics, with
// the rules it breaches.
type RiskSignal struct {
	TS             int64    `json:"ts"`
	Scope          Scope    `json:"scope"`
	WindowMS       int64    `json:"window_ms"`
	WindowStart    int64    `json:"window_start"`
	WindowEnd      int64    `json:"window_end"`
	OrderCount     int64    `json:"order_count"`
	Notional       float64  `json:"notional"`
	TopSymbol      string   `json:"top_symbol"`
	TopSymbolShare float64  `json:"top_symbol_share"`
	Breaches       []Breach `json:"breaches"`
	// ZScore is the anomaly score of the current minute's count, when known.
	ZScore float64 `json:"zscore,omitempty"`
	// LateOrders counts the key's orders that arrived later than the allowed
	// lateness and were left out of its windows.
	LateOrders int64 `json:"late_orders,omitempty"`
	// ClampedOrders counts the key's orders stamped in the future beyond the
	// allowed skew, whose ts was clamped to the detector's clock.
	ClampedOrders int64 `json:"clamped_orders,omitempty"`
	// Blocks, on a router's limit-breach record, is how many orders of the
	// scope that router BLOCKed in the last BlocksWindowMS, this one
	// included: the detector escalates repeated blocks to a kill.
	Blocks         int64 `json:"blocks,omitempty"`
	BlocksWindowMS int64 `json:"blocks_window_ms,omitempty"`
}

// Breach is one rule a signal breaches.
type Breach struct {
	Rule      string  `json:"rule"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
}

// BreachSignal tells a scope's workflow that the detector saw a rule breached.
type BreachSignal struct {
	CmdID     string  `json:"cmd_id"`
	TS        int64   `json:"ts"`
	Scope     Scope   `json:"scope"`
	Rule      string  `json:"rule"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Window    string  `json:"window"`
	Reason    string  `json:"reason"`
	// Action is KILL (default) or THROTTLE.
	Action           Action  `json:"action,omitempty"`
	MaxRatePerSecond float64 `json:"max_rate_per_second,omitempty"`
	// CorrID identifies the incident; the workflow keeps the first one it sees.
	CorrID string `json:"corr_id,omitempty"`
	// Trigger is TriggerLimit for an escalation of repeated pre-trade
	// limit BLOCKs (its kill does not auto-unkill); empty for the
	// detector's own rules.
	Trigger Trigger `json:"trigger,omitempty"`
}

// NormalSignal tells a scope's workflow that the detector has seen the scope
// under every threshold for its normal_after period.
type NormalSignal struct {
	CmdID  string `json:"cmd_id"`
	TS     int64  `json:"ts"`
	Scope  Scope  `json:"scope"`
	Reason string `json:"reason,omitempty"`
}
