package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// LimitsSettings are what a Limits run needs of the worker: the limits
// file's defaults and ceilings per scope type, and the four-eyes window.
// Each run records them in its history (a mutable side effect, see
// refreshSettings), so a replay never depends on the replaying worker's
// file, and a changed file takes effect at the next update or timer.
type LimitsSettings struct {
	// Defaults are the limits of each scope type without an override.
	Defaults map[domain.ScopeType]domain.LimitValues `json:"defaults"`
	// Ceilings are the loosest values each scope type may be set to by
	// one operator; beyond them a change needs an admin and a second
	// operator's approval. A field left out has no ceiling.
	Ceilings map[domain.ScopeType]domain.LimitValues `json:"ceilings"`
	// ApprovalWindow is how long a change waits for its second operator.
	// Default 10 min.
	ApprovalWindow time.Duration `json:"approval_window"`
	// MaxRaise bounds how long a temporary raise may last. Default 7 days.
	MaxRaise time.Duration `json:"max_raise"`
	// MaxHistoryEvents and MaxInputsPerRun continue a run as new once its
	// history is that long or it has applied that many updates and timers.
	// Defaults 2,000 and 500.
	MaxHistoryEvents int `json:"max_history_events"`
	MaxInputsPerRun  int `json:"max_inputs_per_run"`
	// HistoryLimit is how many changes the history query keeps (and
	// continue-as-new carries). Default 200.
	HistoryLimit int `json:"history_limit"`
}

// Bounds of a Limits run's bookkeeping.
const (
	defaultApprovalWindow = 10 * time.Minute
	defaultMaxRaise       = 7 * 24 * time.Hour
	// appliedLimit bounds the cmd_ids whose results a run keeps (and
	// carries), so a repeated update returns what the first one did.
	// Clients retry within seconds; each result is about 1 KB of the
	// continue-as-new input, which must stay well under Temporal's limit.
	appliedLimit = 128
)

// WithDefaults returns s with every zero field set to its default.
func (s LimitsSettings) WithDefaults() LimitsSettings {
	if s.ApprovalWindow <= 0 {
		s.ApprovalWindow = defaultApprovalWindow
	}
	if s.MaxRaise <= 0 {
		s.MaxRaise = defaultMaxRaise
	}
	if s.MaxHistoryEvents <= 0 {
		s.MaxHistoryEvents = 2000
	}
	if s.MaxInputsPerRun <= 0 {
		s.MaxInputsPerRun = 500
	}
	if s.HistoryLimit <= 0 {
		s.HistoryLimit = 200
	}
	return s
}

// limitKind says which way a limit field loosens.
type limitKind int

const (
	capKind    limitKind = iota // larger is looser; unset is no limit at all
	windowKind                  // shorter is looser: the same caps over less time
	flagKind                    // true → false loosens (restricted, require_reference)
)

// limitField is one field of domain.LimitValues, by its JSON name.
type limitField struct {
	name string
	kind limitKind
	ptr  func(v *domain.LimitValues) any // **float64, **int64 or **bool
}

// limitFields lists every field, in the order of domain.LimitValues.
var limitFields = []limitField{
	{"max_order_qty", capKind, func(v *domain.LimitValues) any { return &v.MaxOrderQty }},
	{"max_order_notional", capKind, func(v *domain.LimitValues) any { return &v.MaxOrderNotional }},
	{"collar_pct", capKind, func(v *domain.LimitValues) any { return &v.CollarPct }},
	{"restricted", flagKind, func(v *domain.LimitValues) any { return &v.Restricted }},
	{"max_orders", capKind, func(v *domain.LimitValues) any { return &v.MaxOrders }},
	{"max_notional", capKind, func(v *domain.LimitValues) any { return &v.MaxNotional }},
	{"window_seconds", windowKind, func(v *domain.LimitValues) any { return &v.WindowSeconds }},
	{"credit_limit", capKind, func(v *domain.LimitValues) any { return &v.CreditLimit }},
	{"require_reference", flagKind, func(v *domain.LimitValues) any { return &v.RequireReference }},
	{"max_ref_age_seconds", capKind, func(v *domain.LimitValues) any { return &v.MaxRefAgeSeconds }},
}

func fieldByName(name string) (limitField, bool) {
	for _, f := range limitFields {
		if f.name == name {
			return f, true
		}
	}
	return limitField{}, false
}

// get returns the field's value in v as a number (a flag as 0 or 1), and
// whether it is set.
func (f limitField) get(v *domain.LimitValues) (float64, bool) {
	switch p := f.ptr(v).(type) {
	case **float64:
		if *p != nil {
			return **p, true
		}
	case **int64:
		if *p != nil {
			return float64(**p), true
		}
	case **bool:
		if *p != nil {
			if **p {
				return 1, true
			}
			return 0, true
		}
	}
	return 0, false
}

// copyFrom sets the field in dst to its value in src (unset included),
// never sharing the pointer.
func (f limitField) copyFrom(dst, src *domain.LimitValues) {
	switch d := f.ptr(dst).(type) {
	case **float64:
		s := *f.ptr(src).(**float64)
		*d = nil
		if s != nil {
			x := *s
			*d = &x
		}
	case **int64:
		s := *f.ptr(src).(**int64)
		*d = nil
		if s != nil {
			x := *s
			*d = &x
		}
	case **bool:
		s := *f.ptr(src).(**bool)
		*d = nil
		if s != nil {
			x := *s
			*d = &x
		}
	}
}

// format says the field's value in v in words ("none" when unset).
func (f limitField) format(v *domain.LimitValues) string {
	x, ok := f.get(v)
	if !ok {
		return "none"
	}
	if f.kind == flagKind {
		return strconv.FormatBool(x == 1)
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// cloneLimits returns a deep copy of v.
func cloneLimits(v domain.LimitValues) domain.LimitValues {
	var out domain.LimitValues
	for _, f := range limitFields {
		f.copyFrom(&out, &v)
	}
	return out
}

// overlay returns base with every field set in top replacing its own.
func overlay(base, top domain.LimitValues) domain.LimitValues {
	out := cloneLimits(base)
	for _, f := range limitFields {
		if _, ok := f.get(&top); ok {
			f.copyFrom(&out, &top)
		}
	}
	return out
}

// sameField reports whether a and b hold the same value of f.
func sameField(f limitField, a, b *domain.LimitValues) bool {
	x, okA := f.get(a)
	y, okB := f.get(b)
	return okA == okB && x == y
}

func sameLimits(a, b domain.LimitValues) bool {
	for _, f := range limitFields {
		if !sameField(f, &a, &b) {
			return false
		}
	}
	return true
}

func emptyLimits(v domain.LimitValues) bool { return sameLimits(v, domain.LimitValues{}) }

// looser reports whether the effective value of f in next is looser than
// in cur. An unset cap is no limit, the loosest of all; an unset window is
// the router's default; an unset flag is false.
func looser(f limitField, cur, next *domain.LimitValues) bool {
	a, okA := f.get(cur)
	b, okB := f.get(next)
	switch f.kind {
	case capKind:
		switch {
		case !okB:
			return okA
		case !okA:
			return false
		}
		return b > a
	case windowKind:
		if !okA {
			a = 60
		}
		if !okB {
			b = 60
		}
		return b < a
	default:
		return a == 1 && b == 0
	}
}

// beyond reports whether the override value of cap f in v is above its
// ceiling.
func beyond(f limitField, v, ceiling *domain.LimitValues) bool {
	if f.kind != capKind {
		return false
	}
	x, ok := f.get(v)
	most, capped := f.get(ceiling)
	return ok && capped && x > most
}

// anyBeyond reports whether any override in v is above its ceiling.
func anyBeyond(v, ceiling domain.LimitValues) bool {
	for _, f := range limitFields {
		if beyond(f, &v, &ceiling) {
			return true
		}
	}
	return false
}

// loosening is what a change does to a scope's effective limits: the
// fields it loosens, and those among them it takes beyond their ceilings.
type loosening struct {
	loosened []string
	beyond   []string // in words: "max_orders 5000 above the ACCOUNT ceiling 1000"
}

// judge compares the effective limits before (defaults with cur) and after
// (defaults with next) a change, field by field.
func judge(t domain.ScopeType, defaults, ceiling, cur, next domain.LimitValues) loosening {
	var l loosening
	before, after := overlay(defaults, cur), overlay(defaults, next)
	for _, f := range limitFields {
		if !looser(f, &before, &after) {
			continue
		}
		l.loosened = append(l.loosened, f.name)
		if beyond(f, &next, &ceiling) {
			l.beyond = append(l.beyond, fmt.Sprintf("%s %s above the %s ceiling %s", f.name, f.format(&next), t, f.format(&ceiling)))
		}
	}
	return l
}

// describeChange says in words which fields a change moves from cur to
// next: "max_orders 100 → 500, collar_pct 10 → default".
func describeChange(defaults, cur, next domain.LimitValues) string {
	var parts []string
	for _, f := range limitFields {
		if sameField(f, &cur, &next) {
			continue
		}
		to := f.format(&next)
		if _, ok := f.get(&next); !ok {
			to = "default (" + f.format(&defaults) + ")"
		}
		from := f.format(&cur)
		if _, ok := f.get(&cur); !ok {
			from = "default (" + f.format(&defaults) + ")"
		}
		parts = append(parts, f.name+" "+from+" → "+to)
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// describeLimits says the set fields of v: "max_orders=500 restricted=true".
func describeLimits(v domain.LimitValues) string {
	var parts []string
	for _, f := range limitFields {
		if _, ok := f.get(&v); ok {
			parts = append(parts, f.name+"="+f.format(&v))
		}
	}
	if len(parts) == 0 {
		return "defaults"
	}
	return strings.Join(parts, " ")
}
