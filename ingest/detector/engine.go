package detector

import (
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// NotionalScale is the fixed-point scale of notional sums: qty × price is
// rounded to 1/10,000 of the currency unit once per order and summed as an
// integer, so a window's notional never drifts however many orders enter
// and leave it.
const NotionalScale = 10_000

// Observation is one admitted order as the engine sees it. Its strings may
// alias the Kafka record it was decoded from: the engine keeps none of them
// past the call without copying it.
type Observation struct {
	// TS is the order's event time in Unix milliseconds, after lateness and
	// future-skew handling.
	TS int64
	// Notional is qty × price in NotionalScale units (NotionalUnits); a
	// negative one counts as zero.
	Notional int64
	Symbol   string
	Account  string
	Strategy string
	OrderID  string
}

// Sink receives what the engine decides. It is called synchronously from
// Observe and Tick; implementations hand slow work to another goroutine.
type Sink interface {
	// Breach reports a new incident (or its escalation from THROTTLE to KILL).
	Breach(sig domain.BreachSignal)
	// Normal reports that a scope in an incident stayed under every
	// threshold for NormalAfter.
	Normal(sig domain.NormalSignal)
	// Risk reports a key's window metrics: at most once per key per second
	// of event time, and at once with every breach. rs is reused after the
	// call returns.
	Risk(rs *domain.RiskSignal)
}

// DeliveryReporter is what a Sink may also tell the engine: whether a
// breach signal, by scope and cmd_id, has been accepted by the workflow's
// side (Temporal recorded it). A delivered breach is not lost, so while the
// state topic does not show it handled yet the engine waits longer before
// sending it again, instead of adding signals to a workflow that is only
// slow (a mass kill on a loaded server).
type DeliveryReporter interface {
	Delivered(scope domain.Scope, cmdID string) bool
}

// RiskIgnorer is a Sink that drops every risk signal (a replay, which
// reports breaches only). The engine then builds none: building one is a
// good part of evaluating an order of a key not seen in the last second.
type RiskIgnorer interface {
	IgnoresRisk() bool
}

// StatusFunc returns a scope's current kill state, if it has one.
type StatusFunc func(domain.Scope) (domain.State, bool)

// dim indexes the four dimensions.
type dim uint8

const (
	dimAccount dim = iota
	dimSymbol
	dimStrategy
	dimGlobal
	numDims
)

var dimTypes = [numDims]domain.ScopeType{domain.ScopeAccount, domain.ScopeSymbol, domain.ScopeStrategy, domain.ScopeGlobal}

func dimOf(t domain.ScopeType) (dim, bool) {
	switch t {
	case domain.ScopeAccount:
		return dimAccount, true
	case domain.ScopeSymbol:
		return dimSymbol, true
	case domain.ScopeStrategy:
		return dimStrategy, true
	case domain.ScopeGlobal:
		return dimGlobal, true
	}
	return 0, false
}

// Engine evaluates the rules over sliding windows, key by key. It is not
// safe for concurrent use; the Detector serialises access.
type Engine struct {
	rules Rules
	// maxNotional is Rules.MaxOrderNotional in units (MaxInt64 for
	// none).
	maxNotional int64
	dims        [numDims]dimConfig
	keys        [numDims]keyIndex
	seed        maphash.Seed
	global      *key
	all         []*key
	open        []*key // keys with an open incident
	free        []*key
	symIDs      symTable
	symName     []string
	sink        Sink
	noRisk      bool // sink is a RiskIgnorer: build no risk signals
	status      StatusFunc
	// delivered is the sink as a DeliveryReporter, if it is one.
	delivered DeliveryReporter
	anyShr    bool
	// symTicks counts ticks since the symbol table was last checked.
	symTicks int

	normalAfter int64
	idleAfter   int64
	evictAt     int

	risk     domain.RiskSignal
	breaches [64]domain.Breach

	stats EngineStats
}

// EngineStats are cumulative counters of an Engine.
type EngineStats struct {
	Evaluations int64 // key evaluations (one per order per dimension)
	Breaches    int64 // incidents opened or escalated while live
	Resent      int64 // breaches sent again because no state showed them handled
	Normals     int64
	Evicted     int64
}

// maxFree bounds the pool of evicted keys kept for reuse.
const maxFree = 4096

// NewEngine compiles rules (defaults filled in; zero rules mean DefaultRules)
// and returns an engine reporting to sink. status may be nil. A sink that is
// also a DeliveryReporter spaces out the resends of delivered breaches.
func NewEngine(rules Rules, sink Sink, status StatusFunc) (*Engine, error) {
	if rules.IsZero() {
		rules = DefaultRules()
	}
	rules = rules.withDefaults()
	if err := rules.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		rules:       rules,
		sink:        sink,
		status:      status,
		seed:        maphash.MakeSeed(),
		normalAfter: rules.NormalAfter.Milliseconds(),
		idleAfter:   rules.IdleAfter.Milliseconds(),
		maxNotional: NotionalUnits(rules.MaxOrderNotional, 1),
	}
	e.delivered, _ = sink.(DeliveryReporter)
	if ri, ok := sink.(RiskIgnorer); ok {
		e.noRisk = ri.IgnoresRisk()
	}
	for _, r := range rules.Rules {
		d, _ := dimOf(r.Dimension)
		dc := &e.dims[d]
		w := int64(r.Window / time.Second)
		if !slices.Contains(dc.windows, w) {
			dc.windows = append(dc.windows, w)
		}
	}
	for d := range numDims {
		dc := &e.dims[d]
		slices.Sort(dc.windows)
		if len(dc.windows) == 0 {
			continue
		}
		if len(dc.windows) > MaxWindowsPerDimension {
			return nil, fmt.Errorf("the %s rules use %d different windows; at most %d are allowed",
				dimTypes[d], len(dc.windows), MaxWindowsPerDimension)
		}
		dc.horizon = dc.windows[len(dc.windows)-1]
		dc.share = make([]bool, len(dc.windows))
		// An account's risk signals always name its top symbol (as the
		// original demo's did). Elsewhere symbols are tracked only where a
		// rule asks: for a symbol-wide key the count-sorted array holds
		// every symbol and its upkeep is a fifth of the evaluation.
		if dim(d) == dimAccount {
			dc.share[0] = true
		}
	}
	for _, r := range rules.Rules {
		d, _ := dimOf(r.Dimension)
		dc := &e.dims[d]
		cr := compiledRule{Rule: r, win: slices.Index(dc.windows, int64(r.Window/time.Second))}
		cr.metric = metricKindOf(r.Metric)
		cr.thrUnits = r.Threshold * NotionalScale
		cr.minHistMn = int64(r.MinHistory / time.Minute)
		switch r.Metric {
		case MetricTopSymbolShare:
			dc.share[cr.win] = true
		case MetricZScore:
			if !dc.zscore || int64(r.MinOrders) < dc.zMinOrders {
				dc.zMinOrders = int64(r.MinOrders)
			}
			dc.zscore = true
		}
		dc.rules = append(dc.rules, cr)
		thr := cr.Threshold
		if cr.metric == kindNotional {
			thr = cr.thrUnits
		}
		dc.checks = append(dc.checks, ruleCheck{thr: thr, minOrders: int32(min(cr.MinOrders, math.MaxInt32)), win: uint8(cr.win), metric: cr.metric})
		if len(dc.rules) > len(e.breaches) {
			return nil, fmt.Errorf("more than %d rules for dimension %s", len(e.breaches), r.Dimension)
		}
	}
	for d := range numDims {
		dc := &e.dims[d]
		dc.lastShare = -1
		for w, on := range dc.share {
			if on {
				dc.lastShare = w
				dc.shareWins = append(dc.shareWins, w)
				e.anyShr = true
			}
		}
	}
	return e, nil
}

// Rules returns the compiled rules with their defaults filled in.
func (e *Engine) Rules() Rules { return e.rules }

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats { return e.stats }

// Keys is the number of keys held.
func (e *Engine) Keys() int { return len(e.all) }

// ObserveAll evaluates the order for every dimension that has rules: the
// single-instance path, and the benchmark's.
func (e *Engine) ObserveAll(ob *Observation, part int32, live bool) {
	// The symbol is hashed once, for its id and its key; its id is found
	// once for the four dimensions.
	hSym := maphash.String(e.seed, ob.Symbol)
	var sym uint32
	if e.anyShr {
		sym = e.symID(ob.Symbol, hSym)
	}
	e.observe(dimAccount, ob.Account, e.hash(dimAccount, ob.Account), part, ob, sym, live)
	e.observe(dimSymbol, ob.Symbol, hSym, part, ob, sym, live)
	if ob.Strategy != "" {
		e.observe(dimStrategy, ob.Strategy, e.hash(dimStrategy, ob.Strategy), part, ob, sym, live)
	}
	e.observe(dimGlobal, "", 0, part, ob, sym, live)
}

// Observe evaluates the order for one dimension's key: the account, symbol
// or strategy it names, or GLOBAL. part is the partition the key is owned
// through (for DropPartition). Nothing is signalled unless live.
func (e *Engine) Observe(t domain.ScopeType, ob *Observation, part int32, live bool) {
	d, ok := dimOf(t)
	if !ok {
		return
	}
	var sym uint32
	if e.dims[d].lastShare >= 0 {
		sym = e.symID(ob.Symbol, maphash.String(e.seed, ob.Symbol))
	}
	switch d {
	case dimAccount:
		e.observe(d, ob.Account, e.hash(d, ob.Account), part, ob, sym, live)
	case dimSymbol:
		e.observe(d, ob.Symbol, e.hash(d, ob.Symbol), part, ob, sym, live)
	case dimStrategy:
		if ob.Strategy != "" {
			e.observe(d, ob.Strategy, e.hash(d, ob.Strategy), part, ob, sym, live)
		}
	case dimGlobal:
		e.observe(d, "", 0, part, ob, sym, live)
	}
}

// HasRules reports whether any rule watches the dimension.
func (e *Engine) HasRules(t domain.ScopeType) bool {
	d, ok := dimOf(t)
	return ok && len(e.dims[d].rules) > 0
}

// Count records late and clamped orders against the account key, so its
// risk signals carry them.
func (e *Engine) Count(account string, part int32, late, clamped bool) {
	if len(e.dims[dimAccount].rules) == 0 {
		return
	}
	k := e.lookup(dimAccount, account, part, true)
	if k == nil {
		return
	}
	if late {
		k.late++
	}
	if clamped {
		k.clamped++
	}
}

// observe evaluates the order for dimension d's key id, whose hash is h;
// sym is the order's symbol id, which only a dimension tracking symbols
// reads.
func (e *Engine) observe(d dim, id string, h uint64, part int32, ob *Observation, sym uint32, live bool) {
	dc := &e.dims[d]
	if len(dc.rules) == 0 {
		return
	}
	k := e.lookupHashed(d, id, h, part, true)
	if k == nil {
		return // an id longer than any valid one: never from a validated order
	}
	e.add(k, dc, ob, sym)
	e.stats.Evaluations++
	mask := e.evaluate(k, dc)
	e.decide(k, dc, mask, live, ob)
}

// Open is the number of incidents the engine is tracking.
func (e *Engine) Open() int { return len(e.open) }
