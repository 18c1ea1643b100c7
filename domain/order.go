package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Side is BUY or SELL.
type Side string

// Order sides.
const (
	Buy  Side = "BUY"
	Sell Side = "SELL"
)

// OrderType is NEW (the default when absent) or CANCEL.
type OrderType string

// Order types. A CANCEL of an order the router ALLOWed is never blocked by a
// kill (ingest/router says which others are).
const (
	OrderNew    OrderType = "NEW"
	OrderCancel OrderType = "CANCEL"
)

// Order is a record of orders.v1 and, unchanged, of orders.gated.v1.
type Order struct {
	OrderID   string    `json:"order_id"`
	TS        int64     `json:"ts"` // Unix milliseconds
	AccountID string    `json:"account_id"`
	Symbol    string    `json:"symbol"`
	Side      Side      `json:"side"`
	Qty       float64   `json:"qty"`
	Price     float64   `json:"price"`
	Strategy  string    `json:"strategy"`
	Type      OrderType `json:"type,omitempty"`
	Trader    string    `json:"trader,omitempty"`
}

// ErrInvalidOrder is wrapped by every order decoding and validation error.
var ErrInvalidOrder = errors.New("invalid order")

// Default bounds of an order's qty and price. An order beyond them is
// invalid (the router REJECTs it): no real order is that large. They are
// bounds of what the system represents, not risk limits: a fat-finger order
// within them (qty 1e9) is a valid order that the pre-trade limits BLOCK,
// naming the limit it crosses (max_order_qty, max_order_notional). Notional
// is exact in the detector's and the limits' fixed point up to about
// $9.2e14 per order; beyond that it saturates, never wraps, so a giant
// order still crosses every notional cap and hides no burst behind it.
const (
	// DefaultMaxOrderQty is the largest qty an order may have by default.
	DefaultMaxOrderQty = 1e10
	// DefaultMaxOrderPrice is the largest price an order may have by
	// default (above the dearest listed share).
	DefaultMaxOrderPrice = 1e6
)

// OrderBounds are the largest qty and price an order may have. A zero
// field means its default (DefaultMaxOrderQty, DefaultMaxOrderPrice). The
// router and the detector must be given the same bounds, or the detector
// would leave out orders the router lets through.
type OrderBounds struct {
	MaxQty   float64
	MaxPrice float64
}

// Validate checks that the bounds are positive finite numbers (or zero,
// for the defaults).
func (b OrderBounds) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"maximum order qty", b.MaxQty}, {"maximum order price", b.MaxPrice}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s %v must be a positive number (0 for the default)", f.name, f.v)
		}
	}
	return nil
}

// maxima returns the bounds with their defaults filled in.
func (b OrderBounds) maxima() (qty, price float64) {
	qty, price = b.MaxQty, b.MaxPrice
	if !(qty > 0) {
		qty = DefaultMaxOrderQty
	}
	if !(price > 0) {
		price = DefaultMaxOrderPrice
	}
	return qty, price
}

// DecodeOrder parses and validates one orders.v1 record value within the
// default bounds. On a validation error the returned order still carries
// whatever decoded, so the caller can audit the rejection under its
// order_id.
func DecodeOrder(b []byte) (Order, error) {
	return DecodeOrderWithin(b, OrderBounds{})
}

// DecodeOrderWithin is DecodeOrder with the given qty and price bounds.
func DecodeOrderWithin(b []byte, bounds OrderBounds) (Order, error) {
	var o Order
	if len(b) == 0 {
		return o, fmt.Errorf("%w: empty record", ErrInvalidOrder)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return Order{}, fmt.Errorf("%w: %v", ErrInvalidOrder, err)
	}
	return o, o.ValidateWithin(bounds)
}

// Validate checks the order's ids, side, type, quantity and price, within
// the default bounds.
func (o *Order) Validate() error { return o.ValidateWithin(OrderBounds{}) }

// ValidateWithin checks the order's ids, side, type, quantity and price,
// qty and price within bounds.
func (o *Order) ValidateWithin(bounds OrderBounds) error {
	if o.OrderID == "" {
		return fmt.Errorf("%w: order_id is missing", ErrInvalidOrder)
	}
	if len(o.OrderID) > 128 {
		return fmt.Errorf("%w: order_id is longer than 128 bytes", ErrInvalidOrder)
	}
	if err := ValidateID(o.AccountID); err != nil {
		return fmt.Errorf("%w: account_id: %v", ErrInvalidOrder, err)
	}
	if err := ValidateID(o.Symbol); err != nil {
		return fmt.Errorf("%w: symbol: %v", ErrInvalidOrder, err)
	}
	if o.Strategy != "" {
		if err := ValidateID(o.Strategy); err != nil {
			return fmt.Errorf("%w: strategy: %v", ErrInvalidOrder, err)
		}
	}
	if o.TS <= 0 {
		return fmt.Errorf("%w: ts is missing or not a positive Unix millisecond time", ErrInvalidOrder)
	}
	switch o.Side {
	case Buy, Sell:
	default:
		return fmt.Errorf("%w: side %q is not BUY or SELL", ErrInvalidOrder, o.Side)
	}
	switch o.Type {
	case "", OrderNew, OrderCancel:
	default:
		return fmt.Errorf("%w: type %q is not NEW or CANCEL", ErrInvalidOrder, o.Type)
	}
	if !(o.Qty > 0) || math.IsInf(o.Qty, 0) {
		return fmt.Errorf("%w: qty %v must be a positive number", ErrInvalidOrder, o.Qty)
	}
	if !(o.Price > 0) || math.IsInf(o.Price, 0) {
		return fmt.Errorf("%w: price %v must be a positive number", ErrInvalidOrder, o.Price)
	}
	maxQty, maxPrice := bounds.maxima()
	if o.Qty > maxQty {
		return fmt.Errorf("%w: qty %v is above the maximum %v", ErrInvalidOrder, o.Qty, maxQty)
	}
	if o.Price > maxPrice {
		return fmt.Errorf("%w: price %v is above the maximum %v", ErrInvalidOrder, o.Price, maxPrice)
	}
	return nil
}

// IsCancel reports whether the order cancels rather than opens exposure.
func (o *Order) IsCancel() bool { return o.Type == OrderCancel }

// Notional is qty × price.
func (o *Order) Notional() float64 { return o.Qty * o.Price }

// Scopes returns the scopes an order falls under, most general first:
// GLOBAL, ACCOUNT, SYMBOL and, when the order names one, STRATEGY.
func (o *Order) Scopes() []Scope {
	s := []Scope{Global, Scope("ACCOUNT:" + o.AccountID), Scope("SYMBOL:" + o.Symbol)}
	if o.Strategy != "" {
		s = append(s, Scope("STRATEGY:"+o.Strategy))
	}
	return s
}
