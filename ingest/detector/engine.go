package detector

import (
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/riskgate/riskgate/domain"
)

// NotionalScale is the fixed-point scale of notional sums: qty × price is
// rounded to 1/10,000 of the currency unit once per order and summed as an
// integer, so a window's notional never drifts however many orders enter
// and leave it.
const NotionalScale = 10_000

// Observation is one admitted order as the engine sees it.
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
	// lastShare is the longest window that tracks symbols, or -1.
	lastShare int
	// zMinOrders is the smallest min_orders of the zscore rules: below it a
	// risk signal carries no z-score.
	zMinOrders int64
	rules      []compiledRule
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

// symIdxMin is how many entries one second must have before a key builds
// its symbol index.
const symIdxMin = 8

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
// minute's count inline, the HistoryMinutes before it in a ring indexed by
// minute that is only written when a minute closes and only read when a
// z-score is wanted (this minute has at least min_orders), so the common
// order touches none of it.
type minutes struct {
	first  int64 // earliest minute seen
	cur    int64 // the key's current minute
	curCnt int64
	slot   *[HistoryMinutes + 1]minuteSlot
}

// minuteSlot is one minute's count and which minute it is, side by side so
// that one cache line holds both.
type minuteSlot struct {
	tag uint32
	cnt uint32
}

// incident is the detector's view of one scope's incident.
type incident struct {
	breachTS   int64
	underSince int64 // event ms
	action     domain.Action
	corrID     string
	// cmd and signalledAt are the cmd_id and event time of the last breach
	// signal, for resending it while nothing shows the workflow got it.
	cmd         string
	signalledAt int64
	open        bool
	under       bool // every rule under its threshold since underSince
	replayed    bool // opened while rebuilding; resolved at the first live evaluation
}

// key is everything held for one scope: its 1-second buckets over the
// longest window, running sums per window, symbol counts where a share is
// tracked, per-minute counts where a z-score is, and its incident.
type key struct {
	// Fields are ordered by use: what every order reads comes first, in as
	// few cache lines as possible; with many cold keys each line is a miss.
	// The id is held inline and found by hash, so that finding a key reads
	// the key's own memory and nothing else.
	hash      uint64
	same      *key  // next key with the same hash
	clock     int64 // newest event time seen or advanced to, ms
	lastOrder int64 // newest order ts, ms, for eviction
	lastRisk  int64 // second of the last risk signal
	idLen     uint8
	dim       dim
	started   bool
	part      int32
	buckets   ring[bucket]
	syms      ring[symEntry]
	// symsDropped counts entries ever dropped from the front of syms, so
	// that symIdx can hold positions that survive drops.
	symsDropped uint32
	// symEpoch changes whenever an entry is inserted before others (a late
	// order), which moves positions and so invalidates symIdx.
	symEpoch uint32
	inc      incident
	late     int64
	clamped  int64
	scope    domain.Scope
	mins     minutes // slot is nil unless the dimension has a zscore rule
	win      [MaxWindowsPerDimension]winSums
	share    [MaxWindowsPerDimension]topSymbols // where the window tracks symbols
	idBuf    [domain.MaxIDLen]byte
	// symIdx finds the entry of (newest second, symbol) without scanning
	// the second's entries: the absolute position of each symbol's entry
	// for the second in symIdxTag (epoch<<32 | second). It is built
	// (symIdxOn) only for keys with many symbols per second.
	symIdx    symIndex
	symIdxTag uint64
	symIdxOn  bool
	slot      int   // position in Engine.all
	openSlot  int   // position in Engine.open, -1 when no incident is open
	adopted   int64 // state version adopted without a detector breach
}

// Engine evaluates the rules over sliding windows, key by key. It is not
// safe for concurrent use; the Detector serialises access.
type Engine struct {
	rules   Rules
	dims    [numDims]dimConfig
	keys    [numDims]map[uint64]*key
	seed    maphash.Seed
	global  *key
	all     []*key
	open    []*key // keys with an open incident
	free    []*key
	symIDs  map[string]uint32
	symName []string
	sink    Sink
	status  StatusFunc
	anyShr  bool
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
		seed:        maphash.MakeSeed(),
		symIDs:      make(map[string]uint32),
		normalAfter: rules.NormalAfter.Milliseconds(),
		idleAfter:   rules.IdleAfter.Milliseconds(),
	}
	for d := range numDims {
		e.keys[d] = make(map[uint64]*key)
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

func (k *key) is(id string) bool {
	return int(k.idLen) == len(id) && string(k.idBuf[:k.idLen]) == id
}

func (e *Engine) lookup(d dim, id string, part int32, create bool) *key {
	if d == dimGlobal {
		if e.global == nil && create {
			e.global = e.newKey(d, "", 0, part)
		}
		return e.global
	}
	h := maphash.String(e.seed, id)
	for k := e.keys[d][h]; k != nil; k = k.same {
		if k.is(id) {
			return k
		}
	}
	if !create || len(id) > domain.MaxIDLen {
		return nil
	}
	k := e.newKey(d, id, h, part)
	k.same = e.keys[d][h]
	e.keys[d][h] = k
	return k
}

func (e *Engine) newKey(d dim, id string, h uint64, part int32) *key {
	var k *key
	if n := len(e.free); n > 0 {
		k = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		k = new(key)
	}
	dc := &e.dims[d]
	k.dim, k.part, k.hash, k.same = d, part, h, nil
	k.idLen = uint8(copy(k.idBuf[:], id))
	if d == dimGlobal {
		k.scope = domain.Global
	} else {
		k.scope = domain.Scope(string(dimTypes[d]) + ":" + id)
	}
	k.win = [MaxWindowsPerDimension]winSums{}
	for w := range k.win {
		k.win[w].bNext, k.win[w].sNext = noHead, noHead
	}
	for i := range k.share {
		k.share[i].reset()
	}
	if dc.zscore {
		if k.mins.slot == nil {
			k.mins = minutes{slot: new([HistoryMinutes + 1]minuteSlot)}
		} else {
			k.mins = minutes{slot: k.mins.slot}
			*k.mins.slot = [HistoryMinutes + 1]minuteSlot{}
		}
	} else {
		k.mins = minutes{}
	}
	k.slot = len(e.all)
	k.openSlot = -1
	e.all = append(e.all, k)
	return k
}

func (e *Engine) removeKey(k *key) {
	if k.dim == dimGlobal {
		e.global = nil
	} else {
		m := e.keys[k.dim]
		if m[k.hash] == k {
			if k.same != nil {
				m[k.hash] = k.same
			} else {
				delete(m, k.hash)
			}
		} else {
			for p := m[k.hash]; p != nil; p = p.same {
				if p.same == k {
					p.same = k.same
					break
				}
			}
		}
		k.same = nil
	}
	e.setClosed(k)
	last := e.all[len(e.all)-1]
	e.all[k.slot] = last
	last.slot = k.slot
	e.all = e.all[:len(e.all)-1]
	k.buckets.reset()
	k.syms.reset()
	k.symsDropped, k.symEpoch = 0, 0
	k.symIdx, k.symIdxTag, k.symIdxOn = symIndex{}, 0, false
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

func (e *Engine) observe(d dim, id string, part int32, ob *Observation, live bool) {
	dc := &e.dims[d]
	if len(dc.rules) == 0 {
		return
	}
	k := e.lookup(d, id, part, true)
	if k == nil {
		return // an id longer than any valid one: never from a validated order
	}
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
		if k.mins.slot != nil {
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
			wasSat := saturated(sums.notional)
			for ; i < n; i++ {
				b := k.buckets.at(i)
				if int64(b.sec) > newCut {
					break
				}
				sums.count -= int64(b.count)
				sums.notional -= b.notional
			}
			if wasSat {
				sums.notional = k.sumBuckets(i)
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
	// What left the longest window left the ring; what left the longest
	// share window needs no symbol entries any more.
	if n := int(k.win[len(dc.windows)-1].bStart); n > 0 {
		k.buckets.dropFront(n)
		for w := range dc.windows {
			k.win[w].bStart -= int32(n)
		}
	}
	if dc.lastShare >= 0 {
		if n := int(k.win[dc.lastShare].sStart); n > 0 {
			k.syms.dropFront(n)
			k.syms.shrink()
			k.symsDropped += uint32(n)
			for w := range dc.windows {
				if dc.share[w] {
					k.win[w].sStart -= int32(n)
				}
			}
		}
	}
	if k.mins.slot != nil {
		k.mins.advance(ts / 60000)
	}
}

// add places one order in its second's bucket and in every window whose
// range covers that second.
func (e *Engine) add(k *key, dc *dimConfig, ob *Observation, sym uint32) {
	e.advance(k, dc, ob.TS)
	notional := max(ob.Notional, 0)
	if ob.TS > k.lastOrder {
		k.lastOrder = ob.TS
	}
	sec := ob.TS / 1000
	clockSec := k.clock / 1000
	if k.mins.slot != nil {
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
		b.notional = addUnits(b.notional, notional)
	} else {
		if i == n {
			k.buckets.pushBack(bucket{sec: uint32(sec), count: 1, notional: notional})
		} else {
			k.buckets.insert(i, bucket{sec: uint32(sec), count: 1, notional: notional})
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
			k.win[w].notional = addUnits(k.win[w].notional, notional)
			if dc.share[w] {
				k.share[w].inc(sym)
				tracked = true
			}
		}
	}
	if !tracked {
		return
	}
	// The symbol entry for (sec, sym): entries are sorted by second. Orders
	// of the newest second use the index when the key has one; otherwise
	// scan the entries of the second from the back.
	n = k.syms.len()
	tag := uint64(k.symEpoch)<<32 | uint64(sec)
	var j int
	if k.symIdxOn && n > 0 && int64(k.syms.back().sec) <= sec {
		if k.symIdxTag == tag {
			if abs, ok := k.symIdx.get(sym); ok {
				k.syms.at(int(uint32(abs)-k.symsDropped)).count++
				return
			}
		}
		// The index covers every entry of the newest second, so a miss
		// means the symbol has none yet.
		j = n
		k.syms.pushBack(symEntry{sec: uint32(sec), sym: sym, count: 1})
		k.indexSym(sym, tag, n)
	} else {
		j = n
		for j > 0 && int64(k.syms.at(j-1).sec) > sec {
			j--
		}
		same := 0
		for p := j; p > 0 && int64(k.syms.at(p-1).sec) == sec; p-- {
			if s := k.syms.at(p - 1); s.sym == sym {
				s.count++
				return
			}
			same++
		}
		if j == n {
			k.syms.pushBack(symEntry{sec: uint32(sec), sym: sym, count: 1})
			if k.symIdxOn || same+1 >= symIdxMin {
				k.reindexNewest()
			}
		} else {
			k.syms.insert(j, symEntry{sec: uint32(sec), sym: sym, count: 1})
			k.symEpoch++
			if k.symIdxOn {
				k.reindexNewest()
			}
		}
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

// reindexNewest indexes every entry of the newest second under the current
// epoch: when the index is built, after a late insert moved positions, and
// after the engine renumbered its symbols.
func (k *key) reindexNewest() {
	n := k.syms.len()
	if n == 0 {
		return
	}
	sec := k.syms.back().sec
	k.symIdx.reset()
	k.symIdxTag, k.symIdxOn = uint64(k.symEpoch)<<32|uint64(sec), true
	for p := n - 1; p >= 0 && k.syms.at(p).sec == sec; p-- {
		k.symIdx.set(k.syms.at(p).sym, int32(uint32(p)+k.symsDropped))
	}
}

// indexSym records that the entry of (tag, sym) is at position pos; a new
// tag (a new second) starts the index afresh.
func (k *key) indexSym(sym uint32, tag uint64, pos int) {
	if k.symIdxTag != tag {
		k.symIdx.reset()
		k.symIdxTag = tag
	}
	k.symIdx.set(sym, int32(uint32(pos)+k.symsDropped))
}

func (m *minutes) add(min int64) {
	if min == m.cur {
		m.curCnt++
		return
	}
	if min > m.cur || min < m.cur-HistoryMinutes {
		return
	}
	m.first = minInt(m.first, min)
	sl := &m.slot[min%(HistoryMinutes+1)]
	if int64(sl.tag) != min {
		sl.tag, sl.cnt = uint32(min), 0
	}
	sl.cnt++
}

func minInt(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func (m *minutes) count(min int64) int64 {
	if min == m.cur {
		return m.curCnt
	}
	sl := &m.slot[min%(HistoryMinutes+1)]
	if int64(sl.tag) != min {
		return 0
	}
	return int64(sl.cnt)
}

// advance makes min the current minute, closing the current one into the ring.
func (m *minutes) advance(min int64) {
	if min <= m.cur {
		return
	}
	m.slot[m.cur%(HistoryMinutes+1)] = minuteSlot{tag: uint32(m.cur), cnt: uint32(m.curCnt)}
	m.cur, m.curCnt = min, 0
}

// historyLen is how many minutes of history there are.
func (m *minutes) historyLen() int64 {
	return max(min(HistoryMinutes, m.cur-m.first), 0)
}

// history returns how many minutes of history there are and the sum and
// sum of squares of their counts.
func (m *minutes) history() (n, sum, sumsq int64) {
	n = m.historyLen()
	for h := m.cur - n; h < m.cur; h++ {
		c := m.count(h)
		sum += c
		sumsq += c * c
	}
	return n, sum, sumsq
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
		m := &k.mins
		if m.curCnt < int64(r.MinOrders) || m.historyLen() < r.minHistMn {
			return 0, false
		}
		n, sum, sumsq := m.history()
		return ZScore(m.curCnt, n, sum, sumsq), true
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
	signal, cmd := false, inc.corrID
	switch {
	case !inc.open:
		*inc = incident{open: true, action: p.Action, breachTS: k.clock, corrID: corrID(k.scope, ob)}
		cmd = inc.corrID
		e.setOpen(k)
		if !live {
			inc.replayed = true
			break
		}
		// Signalled whatever the scope's state: a KILLED scope's workflow
		// may still hold the normal of an earlier incident and would
		// auto-unkill on it; the breach makes it forget the normal, and
		// otherwise changes nothing for a scope already killed.
		signal = true
	case live && inc.replayed:
		inc.replayed = false
		// The rebuild cannot tell whether this breach was signalled, nor
		// whether a normal went out since: send it again (the workflow
		// applies one cmd_id once), unless an operator released the scope
		// after it.
		signal = !e.released(k.scope, inc)
	case live && inc.cmd == "":
		// An adopted kill (an operator's, or one from before a restart or
		// an eviction) is breached: its workflow may hold a normal. The
		// breach is named by its own crossing order, not by the adopted
		// corr_id, which may be an earlier breach's cmd_id.
		signal = !e.released(k.scope, inc)
		inc.action, cmd = p.Action, corrID(k.scope, ob)
		if inc.corrID == "" {
			inc.corrID = cmd
		}
	case p.Action == domain.ActionKill && inc.action == domain.ActionThrottle:
		inc.action = domain.ActionKill
		signal, cmd = live, inc.cmd+":"+string(domain.ActionKill)
	case live && k.clock-inc.signalledAt >= resignalAfter && !e.handled(k.scope, inc):
		// Still in breach, and nothing on the state topic shows the workflow
		// got the signal (or the workflow released the scope by itself while
		// it was in breach): send it again rather than let the runaway go
		// on. The cmd_id is the same, so a workflow that did get it applies
		// it once.
		e.stats.Resent++
		e.sink.Breach(e.breachSignal(k, p, ob, inc.cmd))
		inc.signalledAt = k.clock
	}
	if signal {
		e.stats.Breaches++
		inc.cmd, inc.signalledAt = cmd, k.clock
		e.sink.Breach(e.breachSignal(k, p, ob, cmd))
	}
	e.maybeRisk(k, dc, mask, live, signal)
}

// resignalAfter is how long (event time) an open incident waits for the
// state topic to show its breach was handled before the breach is resent.
const resignalAfter = 10_000

// handled reports whether the state topic shows the scope's workflow saw the
// incident: the scope is killed or throttled, or an operator released it
// after the breach.
func (e *Engine) handled(s domain.Scope, inc *incident) bool {
	st, ok := e.state(s)
	return ok && (st.Status != domain.StatusActive || released(st, inc))
}

// released reports whether the scope's state shows it made ACTIVE after
// the incident began by anyone but the workflow itself: an operator's
// release, which a resend must not undo. The workflow ending a kill on its
// own (auto-unkill, end of probation) while the scope is still in breach is
// no such decision, and the breach goes to it again.
func (e *Engine) released(s domain.Scope, inc *incident) bool {
	st, ok := e.state(s)
	return ok && st.Status == domain.StatusActive && released(st, inc)
}

func released(st domain.State, inc *incident) bool {
	return st.UpdatedTS >= inc.breachTS-1000 && st.Trigger != domain.TriggerSystem
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

func (e *Engine) breachSignal(k *key, r *compiledRule, ob *Observation, cmdID string) domain.BreachSignal {
	v, _ := e.value(k, r)
	dc := &e.dims[k.dim]
	sig := domain.BreachSignal{
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
	k.inc = incident{}
	e.setClosed(k)
	if !live {
		return
	}
	st, ok := e.state(k.scope)
	if ok && st.Status != domain.StatusActive {
		k.adopted = st.Version
		e.stats.Normals++
		e.sink.Normal(domain.NormalSignal{
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
		rs.TopSymbol, rs.TopSymbolShare = k.scope.ID(), 1
	} else if dc.share[w] && k.win[w].count > 0 {
		s, c, _ := k.share[w].top()
		rs.TopSymbol = e.symName[s]
		rs.TopSymbolShare = float64(c) / float64(k.win[w].count)
	}
	rs.ZScore = 0
	if m := &k.mins; m.slot != nil && m.curCnt >= dc.zMinOrders && m.historyLen() > 0 {
		n, sum, sumsq := m.history()
		rs.ZScore = ZScore(m.curCnt, n, sum, sumsq)
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

func (e *Engine) setOpen(k *key) {
	if k.openSlot < 0 {
		k.openSlot = len(e.open)
		e.open = append(e.open, k)
	}
}

func (e *Engine) setClosed(k *key) {
	if k.openSlot < 0 {
		return
	}
	last := e.open[len(e.open)-1]
	e.open[k.openSlot] = last
	last.openSlot = k.openSlot
	e.open = e.open[:len(e.open)-1]
	k.openSlot = -1
}

// Open is the number of incidents the engine is tracking.
func (e *Engine) Open() int { return len(e.open) }

// Tick moves time on without orders: keys in an incident are re-evaluated
// at now (so a scope whose orders stopped is still found normal), and a
// 1/64 share of the keys is scanned for eviction. live(k) says whether a key's partition is past
// its rebuild; nil means all are.
func (e *Engine) Tick(now int64, live func(t domain.ScopeType, part int32) bool) {
	for i := len(e.open) - 1; i >= 0; i-- {
		if i >= len(e.open) {
			continue
		}
		k := e.open[i]
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
	if e.symTicks++; e.symTicks >= symCheckTicks {
		e.symTicks = 0
		e.compactSymbols()
	}
}

// evictSweep is how many ticks a full eviction sweep over the keys takes.
const evictSweep = 64

func (e *Engine) evict(now int64) {
	n := min(max(256, len(e.all)/evictSweep), len(e.all))
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
		if k = e.lookup(d, st.Scope.ID(), part, true); k == nil {
			return
		}
		e.advance(k, &e.dims[d], now)
		k.lastOrder = now
	}
	k.adopted = st.Version
	k.inc = incident{open: true, action: domain.ActionKill, corrID: st.CorrID, breachTS: now}
	e.setOpen(k)
}

// KeyBytes estimates the memory the keys hold now, for the keys-held and
// bytes-per-key figures.
func (e *Engine) KeyBytes() (keys int, bytes int64) {
	for _, k := range e.all {
		bytes += k.bytes()
	}
	return len(e.all), bytes
}

// bytes estimates the memory one key holds.
func (k *key) bytes() int64 {
	b := int64(unsafe.Sizeof(key{})) + int64(len(k.scope))
	b += int64(k.buckets.capBytes(int(unsafe.Sizeof(bucket{}))))
	b += int64(k.syms.capBytes(int(unsafe.Sizeof(symEntry{}))))
	b += int64(k.symIdx.capBytes())
	for i := range k.share {
		b += int64(k.share[i].capBytes())
	}
	if k.mins.slot != nil {
		b += int64(unsafe.Sizeof(*k.mins.slot))
	}
	return b
}
