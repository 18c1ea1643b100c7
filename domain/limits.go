package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Topics of the pre-trade limits (DESIGN §9). Both are compacted and read to
// their high watermark by every router before it routes an order.
const (
	// TopicLimits holds per-scope limit overrides, keyed by scope. Only the
	// scope's Limits workflow writes it; a tombstone puts the scope back on
	// the defaults of its scope type.
	TopicLimits = "risk.limits.v1"
	// TopicRefPrices holds each symbol's reference price, keyed by symbol.
	TopicRefPrices = "marketdata.ref.v1"
)

// Bounds on limit values. They keep every limit representable in the
// router's fixed-point arithmetic (notional × 10,000 fits an int64) and bound
// the memory of a sliding window (one bucket per second).
const (
	MaxLimitQty           = 1e15
	MaxLimitNotional      = 1e14 // currency units
	MaxLimitOrders        = 1_000_000_000
	MaxLimitWindowSeconds = 3600
	MaxLimitCollarPct     = 1000
	MaxLimitRefAgeSeconds = 86400
	MaxRefPrice           = 1e12
)

// LimitValues are the limits of one scope. In an override a field left out
// (nil) keeps the default of the scope's type; there is no way to lift a
// limit entirely, only to set another value (bounded by the firm's
// ceilings). Per order: MaxOrderQty, MaxOrderNotional, CollarPct,
// RequireReference, and for a SYMBOL Restricted and MaxRefAgeSeconds. Per
// sliding window of WindowSeconds: MaxOrders and MaxNotional. Per trading
// day, for an ACCOUNT: CreditLimit.
type LimitValues struct {
	// MaxOrderQty is the largest qty of one order.
	MaxOrderQty *float64 `json:"max_order_qty,omitempty"`
	// MaxOrderNotional is the largest qty × price of one order.
	MaxOrderNotional *float64 `json:"max_order_notional,omitempty"`
	// CollarPct is how far, in percent, an order's price may be from its
	// symbol's reference price.
	CollarPct *float64 `json:"collar_pct,omitempty"`
	// Restricted blocks every order in the symbol. SYMBOL scopes only.
	Restricted *bool `json:"restricted,omitempty"`
	// MaxOrders is the most orders allowed within the window.
	MaxOrders *int64 `json:"max_orders,omitempty"`
	// MaxNotional is the most gross notional allowed within the window.
	MaxNotional *float64 `json:"max_notional,omitempty"`
	// WindowSeconds is the sliding window of MaxOrders and MaxNotional.
	WindowSeconds *int64 `json:"window_seconds,omitempty"`
	// CreditLimit is the most gross notional allowed per trading day.
	// ACCOUNT scopes only.
	CreditLimit *float64 `json:"credit_limit,omitempty"`
	// RequireReference blocks orders in symbols that have no reference
	// price at all.
	RequireReference *bool `json:"require_reference,omitempty"`
	// MaxRefAgeSeconds is how old a reference price may be before every
	// order in the symbol is blocked. SYMBOL scopes only.
	MaxRefAgeSeconds *int64 `json:"max_ref_age_seconds,omitempty"`
}

// Fields renders the fields v sets by JSON name, for people: numbers in
// plain decimal ("credit_limit": "5000000"), booleans as true or false.
func (v LimitValues) Fields() map[string]string {
	var m map[string]json.RawMessage
	b, _ := json.Marshal(v) // finite numbers always encode
	_ = json.Unmarshal(b, &m)
	out := make(map[string]string, len(m))
	for k, raw := range m {
		s := string(raw)
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
		out[k] = s
	}
	return out
}

// LimitsRecord is a record of the compacted risk.limits.v1 topic, keyed by
// scope: the scope's overrides of its type's default limits. Like kill state
// it is versioned; a reader ignores a record whose version is not newer than
// the one it holds.
type LimitsRecord struct {
	Scope     Scope       `json:"scope"`
	Limits    LimitValues `json:"limits"`
	Version   int64       `json:"version"`
	UpdatedTS int64       `json:"updated_ts"`
	UpdatedBy string      `json:"updated_by"`
	Reason    string      `json:"reason"`
	LastCmdID string      `json:"last_cmd_id,omitempty"`
	// ApprovedBy names the second operator who approved the values beyond
	// their scope type's ceilings that the record holds (four eyes); a
	// router clamps the values of a record without it to the ceilings.
	ApprovedBy string `json:"approved_by,omitempty"`
	CorrID     string `json:"corr_id,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
}

// RefPrice is a record of the compacted marketdata.ref.v1 topic, keyed by
// symbol: the price orders are collared against.
type RefPrice struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	TS     int64   `json:"ts"` // when the price was observed, Unix milliseconds
}

// Errors wrapped by the limits and reference price decoders.
var (
	ErrInvalidLimits   = errors.New("invalid limits")
	ErrInvalidRefPrice = errors.New("invalid reference price")
)

// LimitError is a LimitValues validation error about one field. It wraps
// ErrInvalidLimits.
type LimitError struct {
	Field string // the JSON (and YAML) name of the field
	Err   error
}

func (e *LimitError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns ErrInvalidLimits and the cause.
func (e *LimitError) Unwrap() []error { return []error{ErrInvalidLimits, e.Err} }

// Validate checks every field that is set against its bounds and against the
// scope type it is set for; the error is a *LimitError naming the first bad
// field.
func (v *LimitValues) Validate(t ScopeType) error {
	bad := func(field, format string, args ...any) error {
		return &LimitError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	amount := func(field string, p *float64, most float64) error {
		if p == nil {
			return nil
		}
		if f := *p; !(f > 0) || f > most || math.IsInf(f, 0) {
			return bad(field, "%v must be a number above 0 and at most %v", f, most)
		}
		return nil
	}
	whole := func(field string, p *int64, most int64) error {
		if p == nil {
			return nil
		}
		if n := *p; n < 1 || n > most {
			return bad(field, "%d must be a whole number from 1 to %d", n, most)
		}
		return nil
	}
	for _, err := range []error{
		amount("max_order_qty", v.MaxOrderQty, MaxLimitQty),
		amount("max_order_notional", v.MaxOrderNotional, MaxLimitNotional),
		amount("collar_pct", v.CollarPct, MaxLimitCollarPct),
		whole("max_orders", v.MaxOrders, MaxLimitOrders),
		amount("max_notional", v.MaxNotional, MaxLimitNotional),
		whole("window_seconds", v.WindowSeconds, MaxLimitWindowSeconds),
		amount("credit_limit", v.CreditLimit, MaxLimitNotional),
		whole("max_ref_age_seconds", v.MaxRefAgeSeconds, MaxLimitRefAgeSeconds),
	} {
		if err != nil {
			return err
		}
	}
	if v.Restricted != nil && t != ScopeSymbol {
		return bad("restricted", "applies to SYMBOL scopes only, not %s", t)
	}
	if v.MaxRefAgeSeconds != nil && t != ScopeSymbol {
		return bad("max_ref_age_seconds", "applies to SYMBOL scopes only, not %s", t)
	}
	if v.CreditLimit != nil && t != ScopeAccount {
		return bad("credit_limit", "applies to ACCOUNT scopes only, not %s", t)
	}
	return nil
}

// DecodeLimitsRecord parses and validates a risk.limits.v1 record value. A
// nil or empty value is a tombstone, which the caller handles: it is an
// error here.
func DecodeLimitsRecord(b []byte) (LimitsRecord, error) {
	var r LimitsRecord
	if len(b) == 0 {
		return r, fmt.Errorf("%w: empty value", ErrInvalidLimits)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return LimitsRecord{}, fmt.Errorf("%w: %v", ErrInvalidLimits, err)
	}
	return r, r.Validate()
}

// Validate checks the record's scope, version and limits.
func (r *LimitsRecord) Validate() error {
	if _, err := ParseScope(string(r.Scope)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidLimits, err)
	}
	if r.Version <= 0 {
		return fmt.Errorf("%w: %s has no positive version", ErrInvalidLimits, r.Scope)
	}
	if err := r.Limits.Validate(r.Scope.Type()); err != nil {
		return fmt.Errorf("limits of %s: %w", r.Scope, err)
	}
	return nil
}

// DecodeRefPrice parses and validates a marketdata.ref.v1 record value. A nil
// or empty value is a tombstone, which the caller handles: it is an error
// here.
func DecodeRefPrice(b []byte) (RefPrice, error) {
	var p RefPrice
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty value", ErrInvalidRefPrice)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return RefPrice{}, fmt.Errorf("%w: %v", ErrInvalidRefPrice, err)
	}
	return p, p.Validate()
}

// Validate checks the symbol, the price and the timestamp.
func (p *RefPrice) Validate() error {
	if err := ValidateID(p.Symbol); err != nil {
		return fmt.Errorf("%w: symbol: %v", ErrInvalidRefPrice, err)
	}
	if !(p.Price > 0) || p.Price > MaxRefPrice {
		return fmt.Errorf("%w: %s: price %v must be above 0 and at most %v", ErrInvalidRefPrice, p.Symbol, p.Price, float64(MaxRefPrice))
	}
	if p.TS <= 0 {
		return fmt.Errorf("%w: %s: ts is missing or not a positive Unix millisecond time", ErrInvalidRefPrice, p.Symbol)
	}
	return nil
}
