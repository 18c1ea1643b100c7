package detector

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskgate/riskgate/domain"
)

// Metric is what a rule measures over its window.
type Metric string

// Rule metrics.
const (
	// MetricCount is the number of orders in the window.
	MetricCount Metric = "count"
	// MetricNotional is the sum of qty × price in the window.
	MetricNotional Metric = "notional"
	// MetricTopSymbolShare is the share of the window's orders that went to its
	// most frequent symbol; evaluated only with at least MinOrders orders.
	MetricTopSymbolShare Metric = "top_symbol_share"
	// MetricZScore is the z-score of the current minute's order count against
	// the key's per-minute counts of the last hour; evaluated only with at
	// least MinOrders orders this minute and MinHistory of history.
	MetricZScore Metric = "zscore"
)

// Limits on rule windows: the ring of 1-second buckets behind every key is as
// long as the longest window its dimension's rules use.
const (
	MinWindow = time.Second
	MaxWindow = 15 * time.Minute
	// HistoryMinutes is how many past minutes the z-score compares against.
	HistoryMinutes = 60
)

// Rule is one threshold on one metric of one window of one dimension.
// A key breaches a rule when the metric's value is strictly greater than
// Threshold.
type Rule struct {
	// Name identifies the rule in signals, commands and metrics.
	Name string
	// Dimension is the kind of key the rule watches.
	Dimension domain.ScopeType
	// Window is the sliding window, whole seconds, 1 s to 15 min. A zscore
	// rule's window is always 1 min.
	Window time.Duration
	// Metric is what is measured.
	Metric Metric
	// Threshold is the largest value that is not a breach.
	Threshold float64
	// Action is KILL or THROTTLE.
	Action domain.Action
	// MaxRatePerSecond is the rate a THROTTLE allows.
	MaxRatePerSecond float64
	// MinOrders gates top_symbol_share and zscore: fewer orders in the
	// window (the current minute for zscore) are never a breach. Default 20.
	MinOrders int
	// MinHistory is how much per-minute history a zscore rule needs.
	// Default 10 min, at most 60 min.
	MinHistory time.Duration
}

// Rules is the detector's configuration: the rules and the timing that
// applies to all of them.
type Rules struct {
	// Lateness is how far behind its partition's newest order an order may
	// be and still be counted. Default 5 s.
	Lateness time.Duration
	// FutureSkew is how far ahead of the detector's clock an order's ts may
	// be; later timestamps are clamped to the clock. Default 2 s.
	FutureSkew time.Duration
	// NormalAfter is how long a scope in an incident must stay under every
	// threshold before the detector reports it normal. Default 2 min.
	NormalAfter time.Duration
	// IdleAfter is how long a key with no orders is kept before it is
	// evicted. Default: the longest window (61 min when a zscore rule
	// exists, so the hour of history survives).
	IdleAfter time.Duration
	// MaxOrderNotional is the most one order's notional counts in a
	// notional rule, in currency: a larger order is one the router's
	// pre-trade limits BLOCK (max_order_notional), which never reaches
	// the market, and counted whole one fat-finger order would kill its
	// symbol, its strategy and the firm. +Inf counts every order whole.
	// Default DefaultMaxOrderNotional.
	MaxOrderNotional float64
	// Rules are evaluated in order; the first breached rule with the
	// strongest action names the incident.
	Rules []Rule
}

// Defaults for the Rules timing fields.
const (
	DefaultLateness    = 5 * time.Second
	DefaultFutureSkew  = 2 * time.Second
	DefaultNormalAfter = 2 * time.Minute
	DefaultMinOrders   = 20
	DefaultMinHistory  = 10 * time.Minute
	// DefaultMaxOrderNotional is the highest max_order_notional an
	// operator may give an account in deploy/limits.yaml (its ceiling).
	DefaultMaxOrderNotional = 5_000_000
)

// DefaultRules are the rules used when no rules file is given. deploy/rules.yaml
// is the same set written out as a file.
func DefaultRules() Rules {
	kill := func(name string, d domain.ScopeType, w time.Duration, m Metric, th float64) Rule {
		return Rule{Name: name, Dimension: d, Window: w, Metric: m, Threshold: th, Action: domain.ActionKill}
	}
	throttle := func(name string, d domain.ScopeType, w time.Duration, m Metric, th, rate float64) Rule {
		return Rule{Name: name, Dimension: d, Window: w, Metric: m, Threshold: th,
			Action: domain.ActionThrottle, MaxRatePerSecond: rate}
	}
	share := kill("account_top_symbol_share_1m", domain.ScopeAccount, time.Minute, MetricTopSymbolShare, 0.7)
	share.MinOrders = DefaultMinOrders
	z := throttle("account_zscore_1m", domain.ScopeAccount, time.Minute, MetricZScore, 3, 5)
	z.MinOrders, z.MinHistory = DefaultMinOrders, DefaultMinHistory
	r := Rules{
		Lateness:    DefaultLateness,
		FutureSkew:  DefaultFutureSkew,
		NormalAfter: DefaultNormalAfter,
		// Set, although withDefaults would: DefaultRules is what a
		// rules file writes out.
		MaxOrderNotional: DefaultMaxOrderNotional,
		Rules: []Rule{
			kill("account_count_1m", domain.ScopeAccount, time.Minute, MetricCount, 100),
			kill("account_notional_1m", domain.ScopeAccount, time.Minute, MetricNotional, 1_000_000),
			share,
			throttle("account_count_5m", domain.ScopeAccount, 5*time.Minute, MetricCount, 300, 1),
			throttle("account_count_15m", domain.ScopeAccount, 15*time.Minute, MetricCount, 600, 0.5),
			z,
			kill("symbol_count_1m", domain.ScopeSymbol, time.Minute, MetricCount, 1000),
			kill("symbol_notional_1m", domain.ScopeSymbol, time.Minute, MetricNotional, 50_000_000),
			throttle("symbol_count_15m", domain.ScopeSymbol, 15*time.Minute, MetricCount, 6000, 5),
			kill("strategy_count_1m", domain.ScopeStrategy, time.Minute, MetricCount, 2000),
			kill("strategy_notional_1m", domain.ScopeStrategy, time.Minute, MetricNotional, 100_000_000),
			throttle("strategy_count_5m", domain.ScopeStrategy, 5*time.Minute, MetricCount, 6000, 10),
			throttle("global_count_1m", domain.ScopeGlobal, time.Minute, MetricCount, 200_000, 2000),
			kill("global_notional_1m", domain.ScopeGlobal, time.Minute, MetricNotional, 1_000_000_000),
		},
	}
	return r
}

// IsZero reports whether r is the zero value (no rules, no timing), which
// Config treats as "use DefaultRules".
func (r *Rules) IsZero() bool {
	return r.Lateness == 0 && r.FutureSkew == 0 && r.NormalAfter == 0 && r.IdleAfter == 0 && r.MaxOrderNotional == 0 && len(r.Rules) == 0
}

// withDefaults fills zero timing and per-rule fields with their defaults.
func (r Rules) withDefaults() Rules {
	if r.Lateness == 0 {
		r.Lateness = DefaultLateness
	}
	if r.FutureSkew == 0 {
		r.FutureSkew = DefaultFutureSkew
	}
	if r.NormalAfter == 0 {
		r.NormalAfter = DefaultNormalAfter
	}
	if r.MaxOrderNotional == 0 {
		r.MaxOrderNotional = DefaultMaxOrderNotional
	}
	rules := make([]Rule, len(r.Rules))
	copy(rules, r.Rules)
	longest, z := time.Duration(0), false
	for i := range rules {
		ru := &rules[i]
		if ru.Metric == MetricZScore {
			z = true
			if ru.Window == 0 {
				ru.Window = time.Minute
			}
			if ru.MinHistory == 0 {
				ru.MinHistory = DefaultMinHistory
			}
		}
		if (ru.Metric == MetricTopSymbolShare || ru.Metric == MetricZScore) && ru.MinOrders == 0 {
			ru.MinOrders = DefaultMinOrders
		}
		if ru.Action == "" {
			ru.Action = domain.ActionKill
		}
		longest = max(longest, ru.Window)
	}
	r.Rules = rules
	if r.IdleAfter == 0 {
		r.IdleAfter = max(longest, time.Minute)
		if z {
			r.IdleAfter = (HistoryMinutes + 1) * time.Minute
		}
	}
	return r
}

// Validate checks every rule; the error names the rule by index and name.
func (r *Rules) Validate() error {
	var errs []error
	if r.Lateness < 0 {
		errs = append(errs, fmt.Errorf("lateness %v must not be negative", r.Lateness))
	}
	if r.FutureSkew < 0 {
		errs = append(errs, fmt.Errorf("future_skew %v must not be negative", r.FutureSkew))
	}
	if r.NormalAfter < 0 {
		errs = append(errs, fmt.Errorf("normal_after %v must not be negative", r.NormalAfter))
	}
	if r.IdleAfter < 0 {
		errs = append(errs, fmt.Errorf("idle_after %v must not be negative", r.IdleAfter))
	}
	if m := r.MaxOrderNotional; !(m > 0) { // NaN too; +Inf is none
		errs = append(errs, fmt.Errorf("max_order_notional %v must be a positive amount, or none", m))
	}
	if len(r.Rules) == 0 {
		errs = append(errs, errors.New("no rules"))
	}
	names := make(map[string]int)
	for i := range r.Rules {
		ru := &r.Rules[i]
		if f, err := ru.validate(); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d] (%s).%s: %w", i, ru.Name, f, err))
		}
		if j, dup := names[ru.Name]; dup && ru.Name != "" {
			errs = append(errs, fmt.Errorf("rules[%d].name: %q is also the name of rules[%d]", i, ru.Name, j))
		}
		names[ru.Name] = i
	}
	return errors.Join(errs...)
}

// validate returns the offending field's YAML name with the error.
func (ru *Rule) validate() (string, error) {
	if ru.Name == "" {
		return "name", errors.New("is required")
	}
	if err := domain.ValidateID(ru.Name); err != nil {
		return "name", err
	}
	switch ru.Dimension {
	case domain.ScopeAccount, domain.ScopeSymbol, domain.ScopeStrategy, domain.ScopeGlobal:
	default:
		return "dimension", fmt.Errorf("%q is not ACCOUNT, SYMBOL, STRATEGY or GLOBAL", ru.Dimension)
	}
	switch ru.Metric {
	case MetricCount, MetricNotional, MetricTopSymbolShare, MetricZScore:
	default:
		return "metric", fmt.Errorf("%q is not count, notional, top_symbol_share or zscore", ru.Metric)
	}
	if ru.Window < MinWindow || ru.Window > MaxWindow || ru.Window%time.Second != 0 {
		return "window", fmt.Errorf("%v must be whole seconds from %v to %v", ru.Window, MinWindow, MaxWindow)
	}
	if ru.Metric == MetricZScore && ru.Window != time.Minute {
		return "window", fmt.Errorf("%v: a zscore rule compares per-minute counts, its window must be 1m", ru.Window)
	}
	if ru.Metric == MetricTopSymbolShare && ru.Dimension == domain.ScopeSymbol {
		return "metric", errors.New("top_symbol_share of a SYMBOL key is always 1")
	}
	if math.IsNaN(ru.Threshold) || math.IsInf(ru.Threshold, 0) || ru.Threshold < 0 {
		return "threshold", fmt.Errorf("%v must be a finite number ≥ 0", ru.Threshold)
	}
	if ru.Metric == MetricTopSymbolShare && ru.Threshold >= 1 {
		return "threshold", fmt.Errorf("%v: a share is at most 1, so the rule could never breach", ru.Threshold)
	}
	switch ru.Action {
	case domain.ActionKill:
		if ru.MaxRatePerSecond != 0 {
			return "max_rate_per_second", errors.New("only a THROTTLE takes a rate")
		}
	case domain.ActionThrottle:
		if !(ru.MaxRatePerSecond > 0) || math.IsInf(ru.MaxRatePerSecond, 0) {
			return "max_rate_per_second", fmt.Errorf("%v: a THROTTLE needs a positive rate", ru.MaxRatePerSecond)
		}
	default:
		return "action", fmt.Errorf("%q is not KILL or THROTTLE", ru.Action)
	}
	if ru.MinOrders < 0 {
		return "min_orders", fmt.Errorf("%d must not be negative", ru.MinOrders)
	}
	if ru.MinOrders != 0 && ru.Metric != MetricTopSymbolShare && ru.Metric != MetricZScore {
		return "min_orders", errors.New("applies to top_symbol_share and zscore rules only")
	}
	if ru.MinHistory != 0 {
		if ru.Metric != MetricZScore {
			return "min_history", errors.New("applies to zscore rules only")
		}
		if ru.MinHistory < time.Minute || ru.MinHistory > HistoryMinutes*time.Minute || ru.MinHistory%time.Minute != 0 {
			return "min_history", fmt.Errorf("%v must be whole minutes from 1m to %dm", ru.MinHistory, HistoryMinutes)
		}
	}
	return "", nil
}

// LoadRules reads and validates a rules file (see deploy/rules.yaml).
func LoadRules(path string) (Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Rules{}, fmt.Errorf("read rules: %w", err)
	}
	return ParseRules(path, b)
}

// ParseRules parses and validates a YAML rules document. Errors name the
// file, the line and the field. Fields left out take their defaults.
func ParseRules(name string, b []byte) (Rules, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return Rules{}, fmt.Errorf("%s: %w", name, err)
	}
	p := ruleParser{file: name}
	r := p.document(&doc)
	if len(p.errs) > 0 {
		return Rules{}, errors.Join(p.errs...)
	}
	r = r.withDefaults()
	if err := r.Validate(); err != nil {
		return Rules{}, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// ruleParser walks the YAML tree by hand so that every error can name the
// line and the field it is about.
type ruleParser struct {
	file   string
	errs   []error
	failed map[string]bool // fields already reported, so each is reported once
}

func (p *ruleParser) fail(n *yaml.Node, field, format string, args ...any) {
	if p.failed == nil {
		p.failed = make(map[string]bool)
	}
	p.failed[field] = true
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s: %s", p.file, n.Line, field, fmt.Sprintf(format, args...)))
}

func (p *ruleParser) document(doc *yaml.Node) Rules {
	var r Rules
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errs = append(p.errs, fmt.Errorf("%s: empty rules file", p.file))
		return r
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		p.fail(top, "(top level)", "want a mapping with lateness, future_skew, normal_after, idle_after, max_order_notional and rules")
		return r
	}
	seenRules := false
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "lateness":
			r.Lateness = p.duration(v, k.Value)
		case "future_skew":
			r.FutureSkew = p.duration(v, k.Value)
		case "normal_after":
			r.NormalAfter = p.duration(v, k.Value)
		case "idle_after":
			r.IdleAfter = p.duration(v, k.Value)
		case "max_order_notional":
			if v.Kind == yaml.ScalarNode && v.Value == "none" {
				r.MaxOrderNotional = math.Inf(1)
				continue
			}
			r.MaxOrderNotional = p.float(v, k.Value)
			if !(r.MaxOrderNotional > 0) || math.IsInf(r.MaxOrderNotional, 0) {
				p.fail(v, k.Value, "%s is not a positive amount (or none, to count every order whole)", v.Value)
			}
		case "rules":
			seenRules = true
			if v.Kind != yaml.SequenceNode {
				p.fail(v, "rules", "want a list of rules")
				continue
			}
			names := make(map[string]int)
			for j, rn := range v.Content {
				ru := p.rule(rn, j)
				if prev, dup := names[ru.Name]; dup && ru.Name != "" {
					p.fail(fieldNode(rn, "name"), fmt.Sprintf("rules[%d].name", j), "%q is also the name of rules[%d]", ru.Name, prev)
				}
				names[ru.Name] = j
				r.Rules = append(r.Rules, ru)
			}
		default:
			p.fail(k, k.Value, "unknown field (want lateness, future_skew, normal_after, idle_after, max_order_notional or rules)")
		}
	}
	if !seenRules {
		p.fail(top, "rules", "is required")
	}
	return r
}

func (p *ruleParser) rule(n *yaml.Node, idx int) Rule {
	var ru Rule
	at := func(f string) string { return fmt.Sprintf("rules[%d].%s", idx, f) }
	if n.Kind != yaml.MappingNode {
		p.fail(n, fmt.Sprintf("rules[%d]", idx), "want a mapping")
		return ru
	}
	set := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := set[k.Value]; dup {
			p.fail(k, at(k.Value), "given twice")
		}
		set[k.Value] = v
		switch k.Value {
		case "name":
			ru.Name = p.str(v, at(k.Value))
		case "dimension":
			ru.Dimension = domain.ScopeType(p.str(v, at(k.Value)))
		case "window":
			ru.Window = p.duration(v, at(k.Value))
		case "metric":
			ru.Metric = Metric(p.str(v, at(k.Value)))
		case "threshold":
			ru.Threshold = p.float(v, at(k.Value))
		case "action":
			ru.Action = domain.Action(p.str(v, at(k.Value)))
		case "max_rate_per_second":
			ru.MaxRatePerSecond = p.float(v, at(k.Value))
		case "min_orders":
			f := p.float(v, at(k.Value))
			if f != math.Trunc(f) || math.Abs(f) > 1e9 {
				p.fail(v, at(k.Value), "%v is not a whole number", v.Value)
			}
			ru.MinOrders = int(f)
		case "min_history":
			ru.MinHistory = p.duration(v, at(k.Value))
		default:
			p.fail(k, at(k.Value), "unknown field (want name, dimension, window, metric, threshold, action, max_rate_per_second, min_orders or min_history)")
		}
	}
	missing := false
	for _, req := range []string{"name", "dimension", "metric", "threshold"} {
		if set[req] == nil {
			p.fail(n, at(req), "is required")
			missing = true
		}
	}
	if set["window"] == nil && ru.Metric != MetricZScore {
		p.fail(n, at("window"), "is required")
		missing = true
	}
	if missing {
		return ru
	}
	// Field-level checks, reported at the field's own line.
	if ru.Metric == MetricZScore && ru.Window == 0 {
		ru.Window = time.Minute
	}
	if (ru.Metric == MetricTopSymbolShare || ru.Metric == MetricZScore) && set["min_orders"] == nil {
		ru.MinOrders = DefaultMinOrders
	}
	if ru.Metric == MetricZScore && set["min_history"] == nil {
		ru.MinHistory = DefaultMinHistory
	}
	if ru.Action == "" {
		ru.Action = domain.ActionKill
	}
	if f, err := ru.validate(); err != nil && !p.failed[at(f)] {
		node := set[f]
		if node == nil {
			node = n
		}
		p.fail(node, at(f), "%v", err)
	}
	return ru
}

// fieldNode returns the value node of a mapping's field, or the mapping.
func fieldNode(n *yaml.Node, field string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == field {
			return n.Content[i+1]
		}
	}
	return n
}

func (p *ruleParser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "want a string")
		return ""
	}
	return n.Value
}

func (p *ruleParser) float(n *yaml.Node, field string) float64 {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "want a number")
		return 0
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		p.fail(n, field, "%q is not a number", n.Value)
		return 0
	}
	return f
}

func (p *ruleParser) duration(n *yaml.Node, field string) time.Duration {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "want a duration such as 60s, 5m or 1h")
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.fail(n, field, "%q is not a duration such as 60s, 5m or 1h", n.Value)
		return 0
	}
	return d
}
