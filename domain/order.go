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

// DecodeOrder parses and validates one orders.v1 record value. On a
// validation error the returned order still carries whatever decoded, so the
// caller can audit the rejection under its order_id.
func DecodeOrder(b []byte) (Order, error) {
	var o Order
	if len(b) == 0 {
		return o, fmt.Errorf("%w: empty record", ErrInvalidOrder)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return Order{}, fmt.Errorf("%w: %v", ErrInvalidOrder, err)
	}
	return o, o.Validate()
}

// Validate checks the order's ids, side, type, quantity and price.
func (o *Order) Validate() error {
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
