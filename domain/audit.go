package domain

import "strings"

// Decision is the router's verdict on one order.
type Decision string

// Router decisions.
const (
	DecisionAllow     Decision = "ALLOW"
	DecisionDrop      Decision = "DROP"
	DecisionThrottle  Decision = "THROTTLE"
	DecisionDuplicate Decision = "DUPLICATE"
	DecisionReject    Decision = "REJECT"
	// DecisionBlock: the order would cross a pre-trade limit (DESIGN §9).
	DecisionBlock Decision = "BLOCK"
)

// AuditRecord is a record of audit.v1, keyed by order_id: exactly one per order.
type AuditRecord struct {
	TS        int64    `json:"ts"` // when the router decided, Unix milliseconds
	Decision  Decision `json:"decision"`
	OrderID   string   `json:"order_id"`
	AccountID string   `json:"account_id"`
	Symbol    string   `json:"symbol"`
	Strategy  string   `json:"strategy"`
	// OrderTS is the order's own ts.
	OrderTS      int64   `json:"order_ts,omitempty"`
	OrderType    string  `json:"order_type,omitempty"`
	ScopeMatches []Scope `json:"scope_matches"`
	// KillswitchStatus is the status of the scope that decided a DROP, a
	// THROTTLE or the REJECT of a CANCEL; ACTIVE for an ALLOW or a BLOCK;
	// empty for a DUPLICATE or the REJECT of an invalid record, which the
	// router decides before it reads any kill state.
	KillswitchStatus Status `json:"killswitch_status"`
	Reason           string `json:"reason"`
	// CorrID is the corr_id of the kill or throttle behind a DROP or THROTTLE.
	CorrID       string `json:"corr_id,omitempty"`
	StateVersion int64  `json:"state_version,omitempty"`
	Service      string `json:"service"`
	// DecisionNS is how long the decision took inside the router.
	DecisionNS int64 `json:"decision_ns,omitempty"`
	// Partition and Offset locate the order in orders.v1.
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`

	// Limit names the limit behind a BLOCK with its scope, e.g.
	// "ACCOUNT:12345 max_orders=100/60s"; LimitValue is what the order
	// would have produced (101), LimitsVersion the version of the scope's
	// limits (0: the defaults file).
	Limit         string  `json:"limit,omitempty"`
	LimitValue    float64 `json:"limit_value,omitempty"`
	LimitsVersion int64   `json:"limits_version,omitempty"`
}

// SplitLimit parses an audit record's Limit, "SCOPE LIMIT": the router
// names the deciding scope first. A field without a space (not written by
// this router) is returned whole as the limit.
func SplitLimit(s string) (Scope, string) {
	sc, rest, ok := strings.Cut(s, " ")
	if !ok {
		return "", s
	}
	return Scope(sc), rest
}
