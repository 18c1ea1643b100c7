package limits

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // the trading day's time zone must load on a machine without a zoneinfo database

	"github.com/riskgate/riskgate/domain"
)

// Limits are the limits of one scope in plain values. A zero field is not
// set (no limit of that kind), except WindowSeconds and MaxRefAgeSeconds,
// whose zero means their default. The meaning of each field is that of
// domain.LimitValues.
type Limits struct {
	MaxOrderQty      float64
	MaxOrderNotional float64 // currency
	CollarPct        float64
	Restricted       bool
	MaxOrders        int64
	MaxNotional      float64 // currency, per window
	WindowSeconds    int64
	CreditLimit      float64 // currency, per trading day
	RequireReference bool
	MaxRefAgeSeconds int64
}

// Field defaults.
const (
	DefaultWindowSeconds    = 60
	DefaultMaxRefAgeSeconds = 60
	DefaultFutureSkew       = 2 * time.Second
	DefaultTimeZone         = "America/New_York"
)

// ByType holds one Limits per scope type.
type ByType struct {
	Global, Account, Symbol, Strategy Limits
}

// Of returns the limits of scope type t (GLOBAL for an unknown type).
func (b *ByType) Of(t domain.ScopeType) *Limits {
	switch t {
	case domain.ScopeAccount:
		return &b.Account
	case domain.ScopeSymbol:
		return &b.Symbol
	case domain.ScopeStrategy:
		return &b.Strategy
	}
	return &b.Global
}

// Config is what the router's limits start from: the defaults of each scope
// type (deploy/limits.yaml), the firm's ceilings, and the clocks.
type Config struct {
	// FutureSkew is how far ahead of the router's clock an order's ts may
	// be; a later ts counts as the clock plus FutureSkew, so a client
	// cannot slide its windows forward. Default 2 s.
	FutureSkew time.Duration
	// TimeZone and DayStart place the trading day on which credit_limit
	// resets: it begins at DayStart (a wall-clock time, whole minutes) in
	// TimeZone. Defaults America/New_York and midnight.
	TimeZone string
	DayStart time.Duration
	// Defaults are the limits of every scope without an override.
	Defaults ByType
	// Ceilings bound what an override may set: the largest max_order_qty,
	// max_order_notional, collar_pct, max_orders, max_notional,
	// credit_limit and max_ref_age_seconds of each scope type. Zero: no
	// ceiling. The Limits workflow lets an override go above one only with
	// an admin's request and a second operator's approval, which the
	// record names; the router clamps any other record above them.
	Ceilings ByType
}

// Default returns the built-in configuration; deploy/limits.yaml is the same
// written out. Window caps agree with the detector's default rules, so the
// order that crosses a detector threshold is the one that is blocked.
func Default() Config {
	return Config{
		FutureSkew: DefaultFutureSkew,
		TimeZone:   DefaultTimeZone,
		Defaults: ByType{
			Global: Limits{MaxOrders: 200_000, MaxNotional: 1_000_000_000, WindowSeconds: 60},
			Account: Limits{MaxOrderQty: 100_000, MaxOrderNotional: 500_000,
				MaxOrders: 100, MaxNotional: 1_000_000, WindowSeconds: 60, CreditLimit: 25_000_000},
			Symbol: Limits{CollarPct: 10, MaxRefAgeSeconds: 60,
				MaxOrders: 1000, MaxNotional: 50_000_000, WindowSeconds: 60},
			Strategy: Limits{MaxOrders: 2000, MaxNotional: 100_000_000, WindowSeconds: 60},
		},
		Ceilings: ByType{
			Global: Limits{CollarPct: 50, MaxOrders: 2_000_000, MaxNotional: 10_000_000_000},
			Account: Limits{MaxOrderQty: 1_000_000, MaxOrderNotional: 5_000_000, CollarPct: 50,
				MaxOrders: 1000, MaxNotional: 10_000_000, CreditLimit: 250_000_000},
			Symbol:   Limits{CollarPct: 50, MaxRefAgeSeconds: 600, MaxOrders: 10_000, MaxNotional: 500_000_000},
			Strategy: Limits{CollarPct: 50, MaxOrders: 20_000, MaxNotional: 1_000_000_000},
		},
	}
}

// withDefaults fills the fields whose zero means a default.
func (c Config) withDefaults() Config {
	if c.FutureSkew == 0 {
		c.FutureSkew = DefaultFutureSkew
	}
	if c.TimeZone == "" {
		c.TimeZone = DefaultTimeZone
	}
	for _, t := range domain.ScopeTypes {
		l := c.Defaults.Of(t)
		if l.WindowSeconds == 0 {
			l.WindowSeconds = DefaultWindowSeconds
		}
		if t == domain.ScopeSymbol && l.MaxRefAgeSeconds == 0 {
			l.MaxRefAgeSeconds = DefaultMaxRefAgeSeconds
		}
	}
	return c
}

// Values returns l as an override record's values: every set field.
func (l *Limits) Values() domain.LimitValues {
	var v domain.LimitValues
	f := func(x float64) *float64 {
		if x == 0 {
			return nil
		}
		return &x
	}
	n := func(x int64) *int64 {
		if x == 0 {
			return nil
		}
		return &x
	}
	b := func(x bool) *bool {
		if !x {
			return nil
		}
		return &x
	}
	v.MaxOrderQty, v.MaxOrderNotional, v.CollarPct = f(l.MaxOrderQty), f(l.MaxOrderNotional), f(l.CollarPct)
	v.Restricted, v.RequireReference = b(l.Restricted), b(l.RequireReference)
	v.MaxOrders, v.MaxNotional, v.WindowSeconds = n(l.MaxOrders), f(l.MaxNotional), n(l.WindowSeconds)
	v.CreditLimit, v.MaxRefAgeSeconds = f(l.CreditLimit), n(l.MaxRefAgeSeconds)
	return v
}

// Overlay returns l with every field set in v replacing its own.
func (l Limits) Overlay(v *domain.LimitValues) Limits {
	if v.MaxOrderQty != nil {
		l.MaxOrderQty = *v.MaxOrderQty
	}
	if v.MaxOrderNotional != nil {
		l.MaxOrderNotional = *v.MaxOrderNotional
	}
	if v.CollarPct != nil {
		l.CollarPct = *v.CollarPct
	}
	if v.Restricted != nil {
		l.Restricted = *v.Restricted
	}
	if v.MaxOrders != nil {
		l.MaxOrders = *v.MaxOrders
	}
	if v.MaxNotional != nil {
		l.MaxNotional = *v.MaxNotional
	}
	if v.WindowSeconds != nil {
		l.WindowSeconds = *v.WindowSeconds
	}
	if v.CreditLimit != nil {
		l.CreditLimit = *v.CreditLimit
	}
	if v.RequireReference != nil {
		l.RequireReference = *v.RequireReference
	}
	if v.MaxRefAgeSeconds != nil {
		l.MaxRefAgeSeconds = *v.MaxRefAgeSeconds
	}
	return l
}

// Clamp returns l with every field above its ceiling in c set to the
// ceiling, and whether any was.
func (l Limits) Clamp(c *Limits) (Limits, bool) {
	clamped := false
	fc := func(v *float64, most float64) {
		if most > 0 && *v > most {
			*v, clamped = most, true
		}
	}
	nc := func(v *int64, most int64) {
		if most > 0 && *v > most {
			*v, clamped = most, true
		}
	}
	fc(&l.MaxOrderQty, c.MaxOrderQty)
	fc(&l.MaxOrderNotional, c.MaxOrderNotional)
	fc(&l.CollarPct, c.CollarPct)
	nc(&l.MaxOrders, c.MaxOrders)
	fc(&l.MaxNotional, c.MaxNotional)
	fc(&l.CreditLimit, c.CreditLimit)
	nc(&l.MaxRefAgeSeconds, c.MaxRefAgeSeconds)
	return l, clamped
}

// ceilingFields are the fields a ceiling may bound: those whose larger
// value is looser.
var ceilingFields = map[string]bool{
	"max_order_qty": true, "max_order_notional": true, "collar_pct": true, "max_orders": true,
	"max_notional": true, "credit_limit": true, "max_ref_age_seconds": true,
}

// Validate checks the clocks, every default and ceiling against the bounds
// of domain.LimitValues and the scope type it is given for, and that no
// default is above its ceiling.
func (c *Config) Validate() error {
	var errs []error
	if c.FutureSkew < 0 || c.FutureSkew > time.Hour {
		errs = append(errs, fmt.Errorf("future_skew %v must be from 0 to 1h", c.FutureSkew))
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" || c.TimeZone == "Local" {
		errs = append(errs, fmt.Errorf("trading_day.time_zone %q is not an IANA time zone such as America/New_York", c.TimeZone))
	}
	if c.DayStart < 0 || c.DayStart >= 24*time.Hour || c.DayStart%time.Minute != 0 {
		errs = append(errs, fmt.Errorf("trading_day.starts_at %v must be a time of day in whole minutes", c.DayStart))
	}
	for _, t := range domain.ScopeTypes {
		d, ceil := c.Defaults.Of(t), c.Ceilings.Of(t)
		dv, cv := d.Values(), ceil.Values()
		if err := dv.Validate(t); err != nil {
			errs = append(errs, fmt.Errorf("defaults.%s.%w", t, err))
		}
		if err := cv.Validate(t); err != nil {
			errs = append(errs, fmt.Errorf("ceilings.%s.%w", t, err))
		}
		if ceil.Restricted || ceil.RequireReference || ceil.WindowSeconds != 0 {
			errs = append(errs, fmt.Errorf("ceilings.%s: only %s may have a ceiling", t, ceilingList()))
		}
		if _, over := d.Clamp(ceil); over {
			errs = append(errs, fmt.Errorf("defaults.%s: a default is above its ceiling", t))
		}
	}
	return errors.Join(errs...)
}

func ceilingList() string {
	return "max_order_qty, max_order_notional, collar_pct, max_orders, max_notional, credit_limit and max_ref_age_seconds"
}
