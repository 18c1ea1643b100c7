package detector

import (
	"fmt"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// NotionalScale is the fixed-point scale of notional sums: qty × price is
// rounded to 1/10,000 of the currency unit once per order and summed as an
// integer, so a window's notional never drifts however many orders enter
// and leave it.
const NotionalScale = 10_000

// NotionalUnits converts qty × price to fixed-point units.
func NotionalUnits(qty, price float64) int64 {
	return int64(math.Round(qty * price * NotionalScale))
}

// Observation is one admitted order as the engine sees it.
type Observation struct {
	// TS is the order's event time in Unix milliseconds, after lateness and
	// future-skew handling.
	TS int64
	// Notional is qty × price in NotionalScale units.
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
	Breach(sig workflows.BreachSignal)
	// Normal reports that a scope in an incident stayed under every
	// threshold for NormalAfter.
	Normal(sig workflows.NormalSignal)
	// Risk reports a key's window metrics: at most once per key per second
	// of event time, and at once with every breach. rs is reused after the
	// call returns.
	Risk(rs *domain.RiskSignal)
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

// compiledRule is a Rule bound to its dimension's window index.
type compiledRule struct {
	Rule
	win       int // index into dimConfig.windows
	thrUnits  float64
	minHistMn int64
}

// dimConfig is what the rules ask of one dimension.
type dimConfig struct {
	windows []int64 // distinct window lengths, seconds, ascending
	share   []bool  // per window: keep exact symbol counts
	zscore  bool
	horizon int64 // longest window, seconds
	rules   []compiledRule
}

// bucket is one second of one key.
type bucket struct {
	sec      uint32
	count    uint32
	notional int64
}

// symEntry is one symbol's order count within one second of one key.
type symEntry struct {
	sec   uint32
	sym   uint32
	count uint32
}

// winSums are a window's running totals and where the window starts in
// the key's bucket and symbol rings. bNext and sNext cache the second of
// the first bucket and symbol entry inside the window (noHead when there is
// none), so that nothing expires without touching the rings.
type winSums struct {
	count    int64
	notional int64
	bStart   int32
	sStart   int32
	bNext    uint32
	sNext    uint32
}

const noHead = math.MaxUint32

// MaxWindowsPerDimension bounds the distinct windows the rules of one
// dimension may use; their sums live inline in every key.
const MaxWindowsPerDimension = 6

// minutes holds a key's per-minute counts for the z-score: the current
// minute and the HistoryMinutes before it, in a ring indexed by minute.
type minutes struct {
	cnt   [HistoryMinutes + 1]uint32
	tag   [HistoryMinutes + 1]uint32 // which minute the slot holds
	first int64                      // earliest minute seen
	cur   int64                      // the key's current minute
	sum   int64                      // over the history minutes
	sumsq int64
}

// incident is the detector's view of one scope's incident.
type incident struct {
	open       bool
	action     domain.Action
	corrID     string
	breachTS   int64
	under      bool  // every rule under its threshold since underSince
	underSince int64 // event ms
	replayed   bool  // opened while rebuilding; resolved at the first live evaluation
}

// key is everything held for one scope: its 1-second buckets over the
// longest window, running sums per window, symbol counts where a share is
// tracked, per-minute counts where a z-score is, and its incident.
type key struct {
	scope     domain.Scope
	id        string
	dim       dim
	part      int32
	slot      int   // position in Engine.keys
	clock     int64 // newest event time seen or advanced to, ms
	lastOrder int64 // newest order ts, ms, for eviction
	started   bool
	buckets   ring[bucket]
	win       [MaxWindowsPerDimension]winSums
	syms      ring[symEntry]
	share     []topSymbols // per window; empty where not tracked
	mins      *minutes
	inc       incident
	adopted   int64 // state version adopted without a detector breach
	lastRisk  int64 // second of the last risk signal
	late      int64
	clamped   int64
}

// Engine evaluates the rules over sliding windows, key by key. It is not
// safe for concurrent use; the Detector serialises access.
type Engine struct {
	rules   Rules
	dims    [numDims]dimConfig
	keys    [numDims]map[string]*key
	global  *key
	all     []*key
	free    []*key
	symIDs  map[string]uint32
	symName []string
	sink    Sink
	status  StatusFunc
	anyShr  bool

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
	Normals     int64
	Evicted     int64
}

// maxFree bounds the pool of evicted keys kept for reuse.
const maxFree = 4096

// NewEngine compiles rules (defaults filled in; zero rules mean DefaultRules)
// and returns an engine reporting to sink. status may be nil.
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
		symIDs:      make(map[string]uint32),
		normalAfter: rules.NormalAfter.Milliseconds(),
		idleAfter:   rules.IdleAfter.Milliseconds(),
	}
	for d := range numDims {
		e.keys[d] = make(map[string]*key)
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
		// The shortest window's top symbol goes into every risk signal.
		if dim(d) != dimSymbol {
			dc.share[0] = true
		}
	}
	for _, r := range rules.Rules {
		d, _ := dimOf(r.Dimension)
		dc := &e.dims[d]
		cr := compiledRule{Rule: r, win: slices.Index(dc.windows, int64(r.Window/time.Second))}
		cr.thrUnits = r.Threshold * NotionalScale
		cr.minHistMn = int64(r.MinHistory / time.Minute)
		switch r.Metric {
		case MetricTopSymbolShare:
			dc.share[cr.win] = true
		case MetricZScore:
			dc.zscore = true
		}
		dc.rules = append(dc.rules, cr)
		if len(dc.rules) > len(e.breaches) {
			return nil, errTooManyRules(r.Dimension)
		}
	}
	for d := range numDims {
		if slices.Contains(e.dims[d].share, true) {
			e.anyShr = true
		}
	}
	return e, nil
}

type errTooManyRules domain.ScopeType

func (e errTooManyRules) Error() string {
	return "more than 64 rules for dimension " + string(e)
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
	e.observe(dimAccount, ob.Account, part, ob, live)
	e.observe(dimSymbol, ob.Symbol, part, ob, live)
	if ob.Strategy != "" {
		e.observe(dimStrategy, ob.Strategy, part, ob, live)
	}
	e.observe(dimGlobal, "", part, ob, live)
}

// Observe evaluates the order for one dimension's key: the account, symbol
// or strategy it names, or GLOBAL. part is the partition the key is owned
// through (for DropPartition). Nothing is signalled unless live.
func (e *Engine) Observe(t domain.ScopeType, ob *Observation, part int32, live bool) {
	d, ok := dimOf(t)
	if !ok {
		return
	}
	switch d {
	case dimAccount:
		e.observe(d, ob.Account, part, ob, live)
	case dimSymbol:
		e.observe(d, ob.Symbol, part, ob, live)
	case dimStrategy:
		if ob.Strategy != "" {
			e.observe(d, ob.Strategy, part, ob, live)
		}
	case dimGlobal:
		e.observe(d, "", part, ob, live)
	}
}

// HasRules reports whether any rule watches the dimension.
func (e *Engine) HasRules(t domain.ScopeType) bool {
	d, ok := dimOf(t)
	return ok && len(e.dims[d].rules) > 0
}

func (e *Engine) symID(s string) uint32 {
	if id, ok := e.symIDs[s]; ok {
		return id
	}
	id := uint32(len(e.symName))
	e.symIDs[s] = id
	e.symName = append(e.symName, s)
	return id
}

func (e *Engine) lookup(d dim, id string, part int32, create bool) *key {
	if d == dimGlobal {
		if e.global == nil && create {
			e.global = e.newKey(d, "", part)
		}
		return e.global
	}
	if k, ok := e.keys[d][id]; ok {
		return k
	}
	if !create {
		return nil
	}
	k := e.newKey(d, id, part)
	e.keys[d][k.id] = k
	return k
}

func (e *Engine) newKey(d dim, id string, part int32) *key {
	var k *key
	if n := len(e.free); n > 0 {
		k = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		k = new(key)
	}
	dc := &e.dims[d]
	k.dim, k.part = d, part
	if d == dimGlobal {
		k.id, k.scope = "", domain.Global
	} else {
		// Copy the id: the caller's string may alias a reused buffer.
		k.id = string([]byte(id))
		k.scope = domain.Scope(string(dimTypes[d]) + ":" + k.id)
	}
	k.win = [MaxWindowsPerDimension]winSums{}
	for w := range k.win {
		k.win[w].bNext, k.win[w].sNext = noHead, noHead
	}
	if cap(k.share) < len(dc.windows) {
		k.share = make([]topSymbols, len(dc.windows))
	}
	k.share = k.share[:len(dc.windows)]
	for i := range k.share {
		k.share[i].reset()
	}
	if dc.zscore {
		if k.mins == nil {
			k.mins = new(minutes)
		} else {
			*k.mins = minutes{}
		}
	} else {
		k.mins = nil
	}
	k.slot = len(e.all)
	e.all = append(e.all, k)
	return k
}

func (e *Engine) removeKey(k *key) {
	if k.dim == dimGlobal {
		e.global = nil
	} else {
		delete(e.keys[k.dim], k.id)
	}
	last := e.all[len(e.all)-1]
	e.all[k.slot] = last
	last.slot = k.slot
	e.all = e.all[:len(e.all)-1]
	k.buckets.reset()
	k.syms.reset()
	k.clock, k.lastOrder, k.started = 0, 0, false
	k.inc = incident{}
	k.adopted, k.lastRisk, k.late, k.clamped = 0, 0, 0, 0
	if len(e.free) < maxFree {
		e.free = append(e.free, k)
	}
}

// DropPartition forgets every key owned through partition part of the
// orders topic (account keys, repartition false) or of the repartition
// topic (the other dimensions), after the partition moved to another
// instance.
func (e *Engine) DropPartition(part int32, repartition bool) {
	for i := len(e.all) - 1; i >= 0; i-- {
		k := e.all[i]
		if k.part == part && (k.dim != dimAccount) == repartition {
			e.removeKey(k)
		}
	}
}

// Count records late and clamped orders against the account key, so its
// risk signals carry them.
func (e *Engine) Count(account string, part int32, late, clamped bool) {
	if len(e.dims[dimAccount].rules) == 0 {
		return
	}
	k := e.lookup(dimAccount, account, part, true)
	if late {
		k.late++
	}
	if clamped {
		k.clamped++
	}
}

func (e *Engine) observe(d dim, id string, part int32, ob *Observation, live bool) {
	dc := &e.dims[d]
	if len(dc.rules) == 0 {
		return
	}
	k := e.lookup(d, id, part, true)
	var sym uint32
	if e.anyShr {
		sym = e.symID(ob.Symbol)
	}
	e.add(k, dc, ob, sym)
	e.stats.Evaluations++
	mask := e.evaluate(k, dc)
	e.decide(k, dc, mask, live, ob)
}

// advance moves the key's clock to ts, expiring what falls out of each window.
func (e *Engine) advance(k *key, dc *dimConfig, ts int64) {
	if !k.started {
		k.clock, k.started = ts, true
		if k.mins != nil {
			k.mins.first, k.mins.cur = ts/60000, ts/60000
		}
		return
	}
	if ts <= k.clock {
		return
	}
	oldSec, newSec := k.clock/1000, ts/1000
	k.clock = ts
	if newSec == oldSec {
		return
	}
	for w, W := range dc.windows {
		newCut := newSec - W
		sums := &k.win[w]
		if int64(sums.bNext) <= newCut {
			i, n := int(sums.bStart), k.buckets.len()
			for ; i < n; i++ {
				b := k.buckets.at(i)
				if int64(b.sec) > newCut {
					break
				}
				sums.count -= int64(b.count)
				sums.notional -= b.notional
			}
			sums.bStart, sums.bNext = int32(i), noHead
			if i < n {
				sums.bNext = k.buckets.at(i).sec
			}
		}
		if dc.share[w] && int64(sums.sNext) <= newCut {
			top := &k.share[w]
			i, n := int(sums.sStart), k.syms.len()
			for ; i < n; i++ {
				s := k.syms.at(i)
				if int64(s.sec) > newCut {
					break
				}
				for range s.count {
					top.dec(s.sym)
				}
			}
			sums.sStart, sums.sNext = int32(i), noHead
			if i < n {
				sums.sNext = k.syms.at(i).sec
			}
		}
	}
	cut := newSec - dc.horizon
	for k.buckets.len() > 0 && int64(k.buckets.at(0).sec) <= cut {
		k.buckets.popFront()
		for w := range dc.windows {
			k.win[w].bStart--
		}
	}
	for k.syms.len() > 0 && int64(k.syms.at(0).sec) <= cut {
		k.syms.popFront()
		for w := range dc.windows {
			if dc.share[w] {
				k.win[w].sStart--
			}
		}
	}
	if k.mins != nil {
		k.mins.advance(ts / 60000)
	}
}

// add places one order in its second's bucket and in every window whose
// range covers that second.
func (e *Engine) add(k *key, dc *dimConfig, ob *Observation, sym uint32) {
	e.advance(k, dc, ob.TS)
	if ob.TS > k.lastOrder {
		k.lastOrder = ob.TS
	}
	sec := ob.TS / 1000
	clockSec := k.clock / 1000
	if k.mins != nil {
		k.mins.add(ob.TS / 60000)
	}
	if sec <= clockSec-dc.horizon {
		return // older than every window
	}
	// Find or insert the bucket; in order the last one is the match.
	n := k.buckets.len()
	i := n
	for i > 0 && int64(k.buckets.at(i-1).sec) > sec {
		i--
	}
	if i > 0 && int64(k.buckets.at(i-1).sec) == sec {
		b := k.buckets.at(i - 1)
		b.count++
		b.notional += ob.Notional
	} else {
		if i == n {
			k.buckets.pushBack(bucket{sec: uint32(sec), count: 1, notional: ob.Notional})
		} else {
			k.buckets.insert(i, bucket{sec: uint32(sec), count: 1, notional: ob.Notional})
		}
		for w, W := range dc.windows {
			ws := &k.win[w]
			switch {
			case int(ws.bStart) > i:
				ws.bStart++
			case int(ws.bStart) == i && sec <= clockSec-W:
				ws.bStart++
			case int(ws.bStart) == i:
				ws.bNext = uint32(sec)
			}
		}
	}
	tracked := false
	for w, W := range dc.windows {
		if sec > clockSec-W {
			k.win[w].count++
			k.win[w].notional += ob.Notional
			if dc.share[w] {
				k.share[w].inc(sym)
				tracked = true
			}
		}
	}
	if !tracked {
		return
	}
	// The symbol entry for (sec, sym): entries are sorted by second; scan the
	// entries of this second from the back.
	n = k.syms.len()
	j := n
	for j > 0 && int64(k.syms.at(j-1).sec) > sec {
		j--
	}
	for p := j; p > 0 && int64(k.syms.at(p-1).sec) == sec; p-- {
		if s := k.syms.at(p - 1); s.sym == sym {
			s.count++
			return
		}
	}
	if j == n {
		k.syms.pushBack(symEntry{sec: uint32(sec), sym: sym, count: 1})
	} else {
		k.syms.insert(j, symEntry{sec: uint32(sec), sym: sym, count: 1})
	}
	for w, W := range dc.windows {
		if !dc.share[w] {
			continue
		}
		ws := &k.win[w]
		switch {
		case int(ws.sStart) > j:
			ws.sStart++
		case int(ws.sStart) == j && sec <= clockSec-W:
			ws.sStart++
		case int(ws.sStart) == j:
			ws.sNext = uint32(sec)
		}
	}
}

func (m *minutes) add(min int64) {
	if min > m.cur || min < m.cur-HistoryMinutes {
		return
	}
	if min < m.first {
		m.first = min
	}
	s := min % (HistoryMinutes + 1)
	if int64(m.tag[s]) != min {
		m.tag[s], m.cnt[s] = uint32(min), 0
	}
	if min < m.cur {
		c := int64(m.cnt[s])
		m.sum++
		m.sumsq += 2*c + 1
	}
	m.cnt[s]++
}

func (m *minutes) count(min int64) int64 {
	s := min % (HistoryMinutes + 1)
	if int64(m.tag[s]) != min {
		return 0
	}
	return int64(m.cnt[s])
}

// advance makes min the current minute, moving minutes into and out of
// the history sums.
func (m *minutes) advance(min int64) {
	if min <= m.cur {
		return
	}
	if min-m.cur > HistoryMinutes {
		m.cur = min
		m.sum, m.sumsq = 0, 0
		for h := max(min-HistoryMinutes, m.first); h < min; h++ {
			c := m.count(h)
			m.sum += c
			m.sumsq += c * c
		}
		return
	}
	for ; m.cur < min; m.cur++ {
		c := m.count(m.cur) // enters the history
		m.sum += c
		m.sumsq += c * c
		if out := m.cur - HistoryMinutes; out >= m.first {
			c := m.count(out)
			m.sum -= c
			m.sumsq -= c * c
		}
	}
}

// history returns how many minutes of history there are and their sums.
func (m *minutes) history() (n, sum, sumsq int64) {
	n = min(HistoryMinutes, m.cur-m.first)
	return max(n, 0), m.sum, m.sumsq
}

// ZScore is the anomaly score of cur against n per-minute counts with the
// given sum and sum of squares: (cur − mean) / σ, with σ (population) no
// lower than 1 order per minute so that a flat history does not divide by
// zero and a quiet key's first few orders do not look infinite.
func ZScore(cur, n, sum, sumsq int64) float64 {
	if n <= 0 {
		return 0
	}
	mean := float64(sum) / float64(n)
	v := float64(sumsq)/float64(n) - mean*mean
	sd := 1.0
	if v > 1 {
		sd = math.Sqrt(v)
	}
	return (float64(cur) - mean) / sd
}

// value computes one rule's metric; ok is false when the rule's gate (min
// orders, min history) is not met.
func (e *Engine) value(k *key, r *compiledRule) (v float64, ok bool) {
	s := &k.win[r.win]
	switch r.Metric {
	case MetricCount:
		return float64(s.count), true
	case MetricNotional:
		return float64(s.notional) / NotionalScale, true
	case MetricTopSymbolShare:
		if s.count < int64(r.MinOrders) || s.count == 0 {
			return 0, false
		}
		_, c, _ := k.share[r.win].top()
		return float64(c) / float64(s.count), true
	case MetricZScore:
		m := k.mins
		cur := m.count(m.cur)
		n, sum, sumsq := m.history()
		if cur < int64(r.MinOrders) || n < r.minHistMn {
			return 0, false
		}
		return ZScore(cur, n, sum, sumsq), true
	}
	return 0, false
}

func (e *Engine) breached(k *key, r *compiledRule) bool {
	if r.Metric == MetricNotional {
		return float64(k.win[r.win].notional) > r.thrUnits
	}
	v, ok := e.value(k, r)
	return ok && v > r.Threshold
}

// evaluate returns the bit set of breached rules.
func (e *Engine) evaluate(k *key, dc *dimConfig) uint64 {
	var mask uint64
	for i := range dc.rules {
		if e.breached(k, &dc.rules[i]) {
			mask |= 1 << i
		}
	}
	return mask
}

// primary picks the rule that names an incident: the first KILL rule
// breached, else the first rule breached.
func primary(dc *dimConfig, mask uint64) *compiledRule {
	var first *compiledRule
	for i := range dc.rules {
		if mask&(1<<i) == 0 {
			continue
		}
		if dc.rules[i].Action == domain.ActionKill {
			return &dc.rules[i]
		}
		if first == nil {
			first = &dc.rules[i]
		}
	}
	return first
}

func (e *Engine) state(s domain.Scope) (domain.State, bool) {
	if e.status == nil {
		return domain.State{}, false
	}
	return e.status(s)
}

// decide applies the once-per-incident rule to one evaluation.
func (e *Engine) decide(k *key, dc *dimConfig, mask uint64, live bool, ob *Observation) {
	inc := &k.inc
	if mask == 0 {
		if !inc.open {
			e.maybeRisk(k, dc, 0, live, false)
			return
		}
		if !inc.under {
			inc.under, inc.underSince = true, k.clock
		}
		if k.clock-inc.underSince >= e.normalAfter {
			e.closeIncident(k, live)
		}
		e.maybeRisk(k, dc, 0, live, false)
		return
	}
	inc.under = false
	p := primary(dc, mask)
	signal, escalate := false, false
	switch {
	case !inc.open:
		*inc = incident{open: true, action: p.Action, breachTS: k.clock, corrID: corrID(k.scope, ob)}
		if !live {
			inc.replayed = true
			break
		}
		st, ok := e.state(k.scope)
		switch {
		case ok && st.Status == domain.StatusKilled:
			// Already killed (an operator, or an incident we signalled before
			// a restart): the workflow is handling it.
		case ok && st.Status == domain.StatusThrottled && p.Action == domain.ActionThrottle:
		default:
			signal = true
		}
	case live && inc.replayed:
		inc.replayed = false
		st, ok := e.state(k.scope)
		if !(ok && (st.Status != domain.StatusActive || st.UpdatedTS >= inc.breachTS-1000)) {
			// Nothing shows the workflow ever saw this incident.
			signal = true
		}
	case p.Action == domain.ActionKill && inc.action == domain.ActionThrottle:
		inc.action = domain.ActionKill
		signal, escalate = live, live
	}
	if signal {
		e.stats.Breaches++
		cmd := inc.corrID
		if escalate {
			cmd += ":" + string(domain.ActionKill)
		}
		e.sink.Breach(e.breachSignal(k, p, ob, cmd))
	}
	e.maybeRisk(k, dc, mask, live, signal)
}

// corrID is the incident's id, derived from the crossing order so that a
// rebuilt detector names a re-sent incident the same (the workflow then
// deduplicates by cmd_id).
func corrID(s domain.Scope, ob *Observation) string {
	if ob == nil || ob.OrderID == "" {
		return domain.NewID()
	}
	return "det:" + string(s) + ":" + ob.OrderID
}

func windowName(sec int64) string {
	d := time.Duration(sec) * time.Second
	if d%time.Minute == 0 {
		return itoa(int64(d/time.Minute)) + "m"
	}
	return itoa(sec) + "s"
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func (e *Engine) breachSignal(k *key, r *compiledRule, ob *Observation, cmdID string) workflows.BreachSignal {
	v, _ := e.value(k, r)
	dc := &e.dims[k.dim]
	sig := workflows.BreachSignal{
		CmdID:     cmdID,
		TS:        k.clock,
		Scope:     k.scope,
		Rule:      r.Name,
		Metric:    string(r.Metric),
		Value:     v,
		Threshold: r.Threshold,
		Window:    windowName(dc.windows[r.win]),
		Action:    r.Action,
		CorrID:    k.inc.corrID,
	}
	if r.Action == domain.ActionThrottle {
		sig.MaxRatePerSecond = r.MaxRatePerSecond
	}
	sig.Reason = r.Name + ": " + string(r.Metric) + " " + formatFloat(v) + " > " + formatFloat(r.Threshold) + " over " + sig.Window
	if ob != nil && ob.OrderID != "" {
		sig.Reason += " at order " + ob.OrderID
	}
	return sig
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return itoa(int64(f))
	}
	return itoa(int64(f)) + "." + fracDigits(f)
}

func fracDigits(f float64) string {
	fr := math.Abs(f - math.Trunc(f))
	d := int64(math.Round(fr * 1000))
	if d >= 1000 {
		d = 999
	}
	s := itoa(d)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

func (e *Engine) closeIncident(k *key, live bool) {
	inc := &k.inc
	*inc = incident{}
	if !live {
		return
	}
	st, ok := e.state(k.scope)
	if ok && st.Status != domain.StatusActive {
		k.adopted = st.Version
		e.stats.Normals++
		e.sink.Normal(workflows.NormalSignal{
			CmdID:  "det-normal:" + string(k.scope) + ":" + itoa(st.Version),
			TS:     k.clock,
			Scope:  k.scope,
			Reason: "under every threshold for " + e.rules.NormalAfter.String(),
		})
	}
}

// maybeRisk emits the key's risk signal once per second of event time, and
// on every breach.
func (e *Engine) maybeRisk(k *key, dc *dimConfig, mask uint64, live, breach bool) {
	if !live {
		return
	}
	sec := k.clock / 1000
	if !breach && sec <= k.lastRisk {
		return
	}
	k.lastRisk = sec
	w := 0
	if breach {
		w = primary(dc, mask).win
	}
	rs := &e.risk
	W := dc.windows[w]
	rs.TS = k.clock
	rs.Scope = k.scope
	rs.WindowMS = W * 1000
	rs.WindowEnd = (sec + 1) * 1000
	rs.WindowStart = rs.WindowEnd - rs.WindowMS
	rs.OrderCount = k.win[w].count
	rs.Notional = float64(k.win[w].notional) / NotionalScale
	rs.TopSymbol, rs.TopSymbolShare = "", 0
	if k.dim == dimSymbol {
		rs.TopSymbol, rs.TopSymbolShare = k.id, 1
	} else if dc.share[w] && k.win[w].count > 0 {
		s, c, _ := k.share[w].top()
		rs.TopSymbol = e.symName[s]
		rs.TopSymbolShare = float64(c) / float64(k.win[w].count)
	}
	rs.ZScore = 0
	if k.mins != nil {
		n, sum, sumsq := k.mins.history()
		rs.ZScore = ZScore(k.mins.count(k.mins.cur), n, sum, sumsq)
	}
	rs.LateOrders, rs.ClampedOrders = k.late, k.clamped
	rs.Breaches = e.breaches[:0]
	for i := range dc.rules {
		if mask&(1<<i) == 0 {
			continue
		}
		r := &dc.rules[i]
		v, _ := e.value(k, r)
		rs.Breaches = append(rs.Breaches, domain.Breach{Rule: r.Name, Metric: string(r.Metric), Value: v, Threshold: r.Threshold})
	}
	e.sink.Risk(rs)
}

// Tick moves time on without orders: keys in an incident are re-evaluated
// at now (so a scope whose orders stopped is still found normal), scopes
// killed by someone else are adopted, and up to evictBatch idle keys are
// scanned for eviction. live(k) says whether a key's partition is past
// its rebuild; nil means all are.
func (e *Engine) Tick(now int64, live func(t domain.ScopeType, part int32) bool) {
	for i := 0; i < len(e.all); i++ {
		k := e.all[i]
		if !k.inc.open {
			continue
		}
		if live != nil && !live(dimTypes[k.dim], k.part) {
			continue
		}
		dc := &e.dims[k.dim]
		e.advance(k, dc, now)
		mask := e.evaluate(k, dc)
		if mask != 0 {
			k.inc.under = false
			continue
		}
		if !k.inc.under {
			k.inc.under, k.inc.underSince = true, k.clock
		}
		if k.clock-k.inc.underSince >= e.normalAfter {
			e.closeIncident(k, true)
		}
	}
	e.evict(now)
}

const evictBatch = 4096

func (e *Engine) evict(now int64) {
	n := min(evictBatch, len(e.all))
	for range n {
		if len(e.all) == 0 {
			return
		}
		if e.evictAt >= len(e.all) {
			e.evictAt = 0
		}
		k := e.all[e.evictAt]
		if !k.inc.open && now-k.lastOrder > e.idleAfter {
			e.removeKey(k)
			e.stats.Evicted++
			continue // the slot now holds another key
		}
		e.evictAt++
	}
}

// Adopt makes the engine watch a scope that is KILLED or THROTTLED without a
// detector incident (an operator's kill, or one from before a restart), so
// that it reports the scope normal once it has stayed under every threshold
// for NormalAfter. It is a no-op for a state version already reported.
func (e *Engine) Adopt(st domain.State, part int32, now int64) {
	if st.Status == domain.StatusActive {
		return
	}
	d, ok := dimOf(st.Scope.Type())
	if !ok || len(e.dims[d].rules) == 0 {
		return
	}
	k := e.lookup(d, st.Scope.ID(), part, false)
	if k != nil && (k.inc.open || k.adopted >= st.Version) {
		return
	}
	if k == nil {
		k = e.lookup(d, st.Scope.ID(), part, true)
		e.advance(k, &e.dims[d], now)
		k.lastOrder = now
	}
	k.adopted = st.Version
	k.inc = incident{open: true, action: domain.ActionKill, corrID: st.CorrID, breachTS: now}
}

// KeyBytes estimates the memory a key holds now, for the keys-held and
// bytes-per-key figures.
func (e *Engine) KeyBytes() (keys int, bytes int64) {
	base := int64(unsafe.Sizeof(key{}))
	for _, k := range e.all {
		b := base + int64(len(k.id)) + int64(len(k.scope))
		b += int64(k.buckets.capBytes(int(unsafe.Sizeof(bucket{}))))
		b += int64(k.syms.capBytes(int(unsafe.Sizeof(symEntry{}))))
		b += int64(cap(k.share)) * int64(unsafe.Sizeof(topSymbols{}))
		for i := range k.share {
			b += int64(k.share[i].capBytes())
		}
		if k.mins != nil {
			b += int64(unsafe.Sizeof(minutes{}))
		}
		bytes += b
	}
	return len(e.all), bytes
}
