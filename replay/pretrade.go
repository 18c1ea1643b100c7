package replay

import (
	"github.com/riskgate/riskgate/domain"
)

// PreTrade is a second evaluator beside the detector's rules: the
// router's pre-trade limits (DESIGN §9). The replay calls it as the router
// orders its checks (REJECT → DUPLICATE → DROP → BLOCK → THROTTLE → ALLOW):
// for every NEW order that no kill drops, in event-time order, Check; then,
// when the order was neither blocked nor throttled, Allowed, so that the
// limits count the order in their usage as the router counts the orders it
// allows. CANCELs are never checked.
type PreTrade interface {
	// Check decides o, read from orders.v1 partition part, at now (Unix
	// ms, the replay's event time). o's strings alias the input: a Block
	// must not keep them beyond the call, except in Limit, which the
	// replay keeps only for the scope's first block and copies.
	Check(o *domain.Order, part int32, now int64) Block
	// Allowed counts the last order Check passed, which the router allowed.
	Allowed()
}

// Block is a pre-trade check's decision on one order.
type Block struct {
	// Blocked is false when the order passes.
	Blocked bool
	// Scope is the scope whose limit blocked it.
	Scope domain.Scope
	// Limit names the limit as the audit does, e.g.
	// "ACCOUNT:12345 max_orders=100/60s"; Kind is the limit's field
	// (max_orders).
	Limit string
	Kind  string
	// Value is what the order would have produced; Threshold the limit.
	Value, Threshold float64
}
