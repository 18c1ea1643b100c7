package limits

import (
	"strconv"

	"github.com/riskgate/riskgate/domain"
)

// Kind names the limit that blocked an order.
type Kind uint8

// Limit kinds, in the order they are checked (but for the unreadable and
// unrestored kinds, added last, whose place each one's comment says).
const (
	KindNone Kind = iota
	// KindRestricted: the symbol may not be traded.
	KindRestricted
	// KindMaxOrderQty: the order's qty is above max_order_qty.
	KindMaxOrderQty
	// KindMaxOrderNotional: the order's qty × price is above
	// max_order_notional.
	KindMaxOrderNotional
	// KindRequireReference: the symbol has never had a reference price and
	// a matching scope requires one.
	KindRequireReference
	// KindMaxRefAge: the symbol's reference price is older than
	// max_ref_age_seconds (fail closed: every order in it is blocked).
	KindMaxRefAge
	// KindCollar: the price is more than collar_pct from the reference.
	KindCollar
	// KindMaxOrders: the order would be one more than max_orders within
	// the window.
	KindMaxOrders
	// KindMaxNotional: the order would take the window's notional above
	// max_notional.
	KindMaxNotional
	// KindCreditLimit: the order would take the account's gross notional
	// of the trading day above credit_limit.
	KindCreditLimit
	// KindUnreadableLimits: the scope's latest risk.limits.v1 record could
	// not be read (fail closed: its limits are unknown, so every order of
	// the scope is blocked until a newer readable record or a tombstone).
	// Checked before every other kind.
	KindUnreadableLimits
	// KindUnreadableReference: the symbol's latest marketdata.ref.v1
	// record could not be read (fail closed, as a stale reference: every
	// order in it is blocked wherever a collar or a reference is required,
	// until a readable record or a tombstone). Checked where the reference
	// is, before its age.
	KindUnreadableReference
	// KindUnrestoredUsage: a record of the router's changelog that would
	// have restored usage the order counts against could not be read (fail
	// closed until that usage has left every window, and for credit until
	// the trading day is over: see FailUsageClosed). Checked before the
	// window caps.
	KindUnrestoredUsage
	numKinds
)

var kindNames = [numKinds]string{"", "restricted", "max_order_qty", "max_order_notional", "require_reference",
	"max_ref_age_seconds", "collar_pct", "max_orders", "max_notional", "credit_limit", "unreadable_limits",
	"unreadable_reference", "unrestored_usage"}

// String is the name of the limit's field, also the Prometheus label of
// blocks by kind.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Valued reports whether a block of the kind names a limit and a value
// (max_orders=100/60s, 101); the others are a condition (restricted,
// require_reference, unreadable_limits, unreadable_reference,
// unrestored_usage).
func (k Kind) Valued() bool {
	switch k {
	case KindNone, KindRestricted, KindRequireReference, KindUnreadableLimits, KindUnreadableReference, KindUnrestoredUsage:
		return false
	}
	return true
}

// Kinds lists every limit kind, for registering metrics.
func Kinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := KindNone + 1; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// Result is the outcome of checking one order. When Blocked, the other
// exported fields describe the limit; otherwise the caller may Commit the
// order's usage once it allows the order. A Result refers to its order,
// which must not change until it is committed, and its strings alias it.
type Result struct {
	Blocked bool
	Kind    Kind
	// ScopeType and ScopeID name the deciding scope; ScopeID is empty for
	// GLOBAL.
	ScopeType domain.ScopeType
	ScopeID   string
	// Limit is the limit as this router enforces it, in its own unit
	// (orders, currency, qty, percent, seconds). For a window cap of a
	// SYMBOL, STRATEGY or GLOBAL scope it is this router's share of
	// GroupLimit, the limit as configured; otherwise the two are equal.
	Limit      float64
	GroupLimit float64
	// Value is what the order would have produced: the window's orders or
	// notional with it, the day's credit used with it, its qty, notional
	// or distance from the reference in percent, or the reference's age in
	// seconds. Zero for restricted and require_reference.
	Value float64
	// WindowSeconds is the window of max_orders and max_notional.
	WindowSeconds int64
	// Version is the version of the deciding scope's override on
	// risk.limits.v1; 0 when the defaults decided.
	Version int64
	// CreditUsed and CreditLimit are the account's gross notional of the
	// trading day after Commit, and its credit_limit (0: none).
	CreditUsed, CreditLimit float64

	// What Commit needs.
	pass   bool // checked and not blocked, not yet committed
	part   int32
	sec    uint32
	day    int32
	n      int64
	nscope int
	o      *domain.Order
	keys   [4]*key
}

// id is the id of the order's scope of type index i ("" for GLOBAL).
func (r *Result) id(i int) string {
	switch i {
	case tAccount:
		return r.o.AccountID
	case tSymbol:
		return r.o.Symbol
	case tStrategy:
		return r.o.Strategy
	}
	return ""
}

// AppendScope appends the deciding scope in its wire form.
func (r *Result) AppendScope(b []byte) []byte {
	b = append(b, r.ScopeType...)
	if r.ScopeType != domain.ScopeGlobal {
		b = append(b, ':')
		b = append(b, r.ScopeID...)
	}
	return b
}

// AppendLimit appends the limit's name for the audit, such as
// "ACCOUNT:12345 max_orders=100/60s" or, for a cap split among routers,
// "SYMBOL:AAPL max_orders=333/60s (1000 across the group)". It does not
// allocate when b has room.
func (r *Result) AppendLimit(b []byte) []byte {
	if !r.Blocked {
		return b
	}
	b = r.AppendScope(b)
	b = append(b, ' ')
	b = append(b, r.Kind.String()...)
	if !r.Kind.Valued() {
		return b
	}
	b = append(b, '=')
	b = strconv.AppendFloat(b, r.Limit, 'f', -1, 64)
	switch r.Kind {
	case KindMaxOrders, KindMaxNotional:
		b = append(b, '/')
		b = strconv.AppendInt(b, r.WindowSeconds, 10)
		b = append(b, 's')
		if r.GroupLimit != r.Limit {
			b = append(b, " ("...)
			b = strconv.AppendFloat(b, r.GroupLimit, 'f', -1, 64)
			b = append(b, " across the group)"...)
		}
	case KindCreditLimit:
		b = append(b, "/day"...)
	}
	return b
}

// LimitName is AppendLimit as a string.
func (r *Result) LimitName() string { return string(r.AppendLimit(nil)) }
