package limits

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/idhash"
	"github.com/riskgate/riskgate/ingest/internal/prefetch"
)

// Scope type indexes, in domain.ScopeTypes order (most general first), which
// is also the order in which scopes are named when several decide alike.
const (
	tGlobal = iota
	tAccount
	tSymbol
	tStrategy
)

func typeIndex(t domain.ScopeType) int {
	switch t {
	case domain.ScopeGlobal:
		return tGlobal
	case domain.ScopeAccount:
		return tAccount
	case domain.ScopeSymbol:
		return tSymbol
	case domain.ScopeStrategy:
		return tStrategy
	}
	return -1
}

// maxTS is the last Unix ms whose second fits a bucket (year 2106).
const maxTS = (1<<32 - 1) * 1000

// resolved is what a check reads of one scope's limits, in the units it
// compares: Scale units for money, none for a limit that is not set. It
// fits one cache line.
type resolved struct {
	maxQty           float64 // +Inf: none
	maxOrderNotional int64
	collar           int64 // collarScale units of a percent; 0: none
	// capOrders and capNotional are max_orders and max_notional at this
	// router's partition share (equal for ACCOUNT).
	capOrders   int64
	capNotional int64
	credit      int64
	window      int32 // seconds
	maxRefAge   int32 // ms
	restricted  bool
	requireRef  bool
	// unreadable: the scope's latest risk.limits.v1 record could not be
	// read; every order of the scope is blocked (KindUnreadableLimits).
	unreadable bool
}

// meta is the rest of a scope's limits: what a blocked order's audit names
// and what the caps are scaled from.
type meta struct {
	maxOrders   int64
	maxNotional int64
	version     int64
}

// reference is a symbol's reference price.
type reference struct {
	price int64 // Scale units
	ts    int64 // Unix ms; 0: the symbol has no reference; refUnreadable
}

// refUnreadable is the ts of a reference whose latest record could not be
// read (KindUnreadableReference).
const refUnreadable = -1

// key is everything the engine holds for one scope: its limits (the type's
// defaults or its override's), its reference price (SYMBOL), and its usage
// on this router, as a whole (agg, what checks read) and per orders.v1
// partition (what the changelog carries and a partition move takes away).
// A key takes three cache lines, in the order a decision reads them: what
// Touch and a check read (check, lim and the sums of agg) in the first,
// then what a commit adds to that (agg's bucket ring with its first bucket,
// typ, the partition, and a SYMBOL's reference), and last what neither
// reads. Its limits are
// not in it: lim points to its type's defaults or to its override's
// limitSet, which the scopes overridden alike share, so a check reads no
// line of limits of each scope's own. TestKeyLayout holds that.
type key struct {
	check uint64 // the id's check hash (see index)
	lim   *resolved
	agg   usage
	typ   int32
	// soloPart is the partition of parts[0] while it is the only one
	// (single): a commit then finds its partition here, without reading
	// the partitions.
	soloPart int32
	single   bool // len(parts) == 1
	ref      reference
	// set is the scope's limits while it has a risk.limits.v1 record
	// (nil: none, its type's defaults), version the record's version.
	version int64
	set     *limitSet
	id      string
	parts   []*contrib
	_       [8]byte // to three cache lines: a key starts on a line
}

// limitSet is the limits of the overrides of one scope type that come to
// the same plain limits, shared by their keys: a firm's tiers of accounts
// share a few, which stay in the CPU caches however many accounts there
// are.
type limitSet struct {
	r    resolved // first: what a check reads
	meta meta     // version unused: each scope has its own
	setKey
	refs int // keys holding the set
}

// setKey finds the limitSet of a scope type's plain limits.
type setKey struct {
	typ   int
	plain Limits
}

// overridden reports whether the scope has a risk.limits.v1 record.
func (k *key) overridden() bool { return k.set != nil }

// contrib is one partition's share of a key's usage.
type contrib struct {
	key  *key
	part int32
	u    usage
}

// Engine decides orders against pre-trade limits and keeps the usage they
// count against. It is safe for concurrent use: the limits and reference
// topics are applied from their reader while one goroutine checks and
// commits orders. A Result must be committed (or dropped) before the next
// Check.
type Engine struct {
	mu      sync.Mutex
	cfg     Config
	def     [4]resolved
	defMeta [4]meta
	// failed is what a scope whose latest risk.limits.v1 record could not
	// be read is held to, per type: its defaults, marked unreadable.
	failed [4]resolved
	// failedWhy says, per scope failing closed on an unreadable record,
	// which record it was.
	failedWhy map[failure]string
	// unrestored lists the partitions failing closed on a changelog
	// record that did not restore (FailUsageClosed).
	unrestored []unrestored
	global     *key
	byType     [3]index // ACCOUNT, SYMBOL, STRATEGY, by id
	// owned of total orders.v1 partitions are this router's (see
	// SetPartitionShare).
	owned, total uint64
	skew         int64 // ms
	clock        int64 // newest effective order time, Unix ms
	cal          calendar
	today        int32
	changes      []changeLog // by partition
	// gen changes whenever a key is added or removed, which voids the
	// keys Touch noted in a Prepared.
	gen uint64
	// sets holds the limits of every override, shared (see limitSet).
	sets  map[setKey]*limitSet
	txn   bool
	undo  []undoEntry
	stats Stats
}

// Stats counts what the engine holds and what it ignored.
type Stats struct {
	Keys       int   // scopes held (with limits, a reference or usage)
	Overrides  int   // scopes with an override from risk.limits.v1
	References int   // symbols with a reference price
	Stale      int64 // limits and reference records ignored as not newer
	Clamped    int64 // overrides with a value above its ceiling, clamped
	// FailedClosed counts the scopes (limits) and symbols (references)
	// failing closed on an unreadable record.
	FailedClosed int
	// Unrestored counts the partitions failing closed on a changelog
	// record that did not restore (FailUsageClosed).
	Unrestored int
}

// New returns an engine with cfg's defaults and no overrides, references or
// usage. A zero cfg field takes its default; cfg must validate.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("limits config: %w", err)
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("limits config: trading day time zone: %w", err)
	}
	e := &Engine{cfg: cfg, owned: 1, total: 1, gen: 1, skew: cfg.FutureSkew.Milliseconds(), cal: newCalendar(loc, cfg.DayStart),
		sets: make(map[setKey]*limitSet), failedWhy: make(map[failure]string)}
	for i, t := range domain.ScopeTypes {
		e.def[i], e.defMeta[i] = e.resolve(*cfg.Defaults.Of(t), i, 0)
		e.failed[i] = e.def[i]
		e.failed[i].unreadable = true
	}
	for i := range e.byType {
		e.byType[i] = newIndex(i) // tAccount-1 is idhash.Account, and so on
	}
	e.global = &key{typ: tGlobal, lim: &e.def[tGlobal]}
	e.global.agg.init()
	return e, nil
}

// Config returns the configuration the engine runs with, defaults filled.
func (e *Engine) Config() Config { return e.cfg }

// resolve converts plain limits to check units at the current share.
func (e *Engine) resolve(l Limits, typ int, version int64) (resolved, meta) {
	r := resolved{maxQty: math.Inf(1), maxOrderNotional: none, credit: none,
		restricted: l.Restricted, requireRef: l.RequireReference, window: int32(l.WindowSeconds)}
	m := meta{maxOrders: none, maxNotional: none, version: version}
	if l.MaxOrderQty > 0 {
		r.maxQty = l.MaxOrderQty
	}
	if l.MaxOrderNotional > 0 {
		r.maxOrderNotional = toUnits(l.MaxOrderNotional)
	}
	if l.CollarPct > 0 {
		r.collar = max(int64(math.Round(l.CollarPct*collarScale)), 1)
	}
	if l.MaxOrders > 0 {
		m.maxOrders = l.MaxOrders
	}
	if l.MaxNotional > 0 {
		m.maxNotional = toUnits(l.MaxNotional)
	}
	if r.window <= 0 {
		r.window = DefaultWindowSeconds
	}
	if l.CreditLimit > 0 {
		r.credit = toUnits(l.CreditLimit)
	}
	age := l.MaxRefAgeSeconds
	if age <= 0 {
		age = DefaultMaxRefAgeSeconds
	}
	r.maxRefAge = int32(age * 1000)
	e.scale(&r, &m, typ)
	return r, m
}

// scale sets the caps of r at this router's share: an account lives in one
// partition, so its caps are exact; every other scope's flow spreads over
// the partitions, so this router enforces its share of the cap.
func (e *Engine) scale(r *resolved, m *meta, typ int) {
	if typ == tAccount {
		r.capOrders, r.capNotional = m.maxOrders, m.maxNotional
		return
	}
	r.capOrders = scaleShare(m.maxOrders, e.owned, e.total)
	r.capNotional = scaleShare(m.maxNotional, e.owned, e.total)
}

// meta returns the meta of the limits lims[i] of r's scope i.
func (e *Engine) meta(r *Result, i int) meta {
	if k := r.keys[i]; k != nil && k.overridden() {
		m := k.set.meta
		m.version = k.version
		return m
	}
	return e.defMeta[i]
}

// acquire returns the shared limitSet of plain limits l of scope type typ,
// creating it, for one more key.
func (e *Engine) acquire(typ int, l Limits) *limitSet {
	sk := setKey{typ, l}
	s := e.sets[sk]
	if s == nil {
		s = &limitSet{setKey: sk}
		s.r, s.meta = e.resolve(l, typ, 0)
		e.sets[sk] = s
	}
	s.refs++
	return s
}

// release gives back a key's hold on s, forgetting s with its last one.
func (e *Engine) release(s *limitSet) {
	if s.refs--; s.refs == 0 {
		delete(e.sets, s.setKey)
	}
}

// lookup returns the key of scope type typ and id, or nil.
func (e *Engine) lookup(typ int, id string) *key {
	if typ == tGlobal {
		return e.global
	}
	return e.byType[typ-1].get(id)
}

// keyFor returns the key of scope type typ and id, creating it (with a copy
// of id, which may alias a record) when it is new.
func (e *Engine) keyFor(typ int, id string) *key {
	if k := e.lookup(typ, id); k != nil {
		return k
	}
	k := &key{typ: int32(typ), id: strings.Clone(id), lim: &e.def[typ]}
	k.agg.init()
	e.byType[typ-1].put(k)
	e.gen++
	e.stats.Keys++
	return k
}

// Check decides whether order o, read from orders.v1 partition part at the
// router's clock now (Unix ms), would cross a limit. It changes no usage:
// when the result is not Blocked and the caller allows the order, Commit
// counts it. A CANCEL is never blocked and never counts.
//
// Time: the order counts at its own ts, clamped to no later than now plus
// Config.FutureSkew (now ≤ 0 disables that clamp) and to no earlier than
// the newest time already counted, so every order lands in the newest
// second of every window and no window that has passed can be overfilled
// afterwards. Windows and the trading day follow that time.
//
// Which limit decides: the kinds are checked in the order of the Kind
// constants; per order the most restrictive of the order's scopes (GLOBAL,
// ACCOUNT, SYMBOL, STRATEGY) decides, and among equals the most general.
// Check does not allocate.
func (e *Engine) Check(o *domain.Order, part int32, now int64) (r Result) {
	var p Prepared
	e.Prepare(o, &p)
	e.check(o, &p, part, now, &r)
	return r
}

// Prepared is an order's scope ids, hashed by Prepare for CheckPrepared,
// and the keys Touch found for them.
type Prepared struct {
	// IDs are the order's account, symbol and strategy ids hashed with
	// the process's scope seeds (idhash.OfScopes): the router's kill table
	// looks the order's scopes up with them too.
	IDs idhash.Scopes
	// keys are the keys of IDs (nil: none) while gen is the engine's: a
	// key added or removed since Touch makes the check look them up again.
	keys [3]*key
	gen  uint64
}

// Prepare hashes the order's account, symbol and strategy ids into p. It
// reads nothing of the engine's state, so a router can prepare a chunk of
// orders while it decodes them, Touch the chunk, then check each order.
func (e *Engine) Prepare(o *domain.Order, p *Prepared) {
	p.IDs = idhash.OfScopes(o.AccountID, o.Symbol, o.Strategy)
	p.gen = 0
}

// Touch finds the keys of the scopes of a chunk of prepared orders and
// notes them in ps, changing nothing of the engine. A large table of scopes
// is mostly out of the CPU caches, and a check would stall on each of its
// misses in turn. Touch asks for them a chunk at a time instead, in three
// passes, each prefetching what the next one reads (a prefetch does not
// wait for memory, so the misses of the whole chunk are in flight at once):
// the ids' home slots in the indexes; the two lines of the keys in those
// slots that a check and a commit read (see key); then it looks each key
// up, now mostly in cache, and prefetches the bucket a commit adds to when
// the key's ring is on the heap. The check then reads the keys Touch found
// instead of looking them up again.
func (e *Engine) Touch(ps []Prepared) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.touch(ps)
}

// Hold is Touch that keeps the engine locked until Release, so that
// checking and committing the chunk (CheckHeld, CommitHeld) take no lock
// per order: with the kill table's, those locks were a fifth of a decision
// that finds everything in cache. Until Release nothing else may be called on the
// engine from the holding goroutine, and limits and references applied
// from other goroutines wait for the chunk.
func (e *Engine) Hold(ps []Prepared) {
	e.mu.Lock()
	e.touch(ps)
}

// Release ends Hold.
func (e *Engine) Release() { e.mu.Unlock() }

func (e *Engine) touch(ps []Prepared) {
	for i := range ps {
		for t := range ps[i].IDs {
			prefetch.Line(unsafe.Pointer(e.byType[t].home(ps[i].IDs[t])))
		}
	}
	for i := range ps {
		for t := range ps[i].IDs {
			// The key in the home slot: the id's, but for a collision
			// of place hashes (then the lookup below probes on).
			if k := e.byType[t].home(ps[i].IDs[t]).k; k != nil {
				prefetch.Line(unsafe.Pointer(k))
				prefetch.Line(unsafe.Add(unsafe.Pointer(k), prefetch.LineSize))
			}
		}
	}
	for i := range ps {
		p := &ps[i]
		for t := range p.IDs {
			var k *key
			if p.IDs[t] != (idhash.Hash{}) { // an order without a strategy
				k = e.byType[t].at(p.IDs[t])
			}
			p.keys[t] = k
			if k != nil && len(k.agg.b.buf) > 1 && k.agg.b.len() > 0 { // a ring on the heap
				prefetch.Line(unsafe.Pointer(k.agg.b.back()))
			}
		}
		p.gen = e.gen
	}
}

// CheckPrepared is Check of an order whose ids Prepare hashed into p.
func (e *Engine) CheckPrepared(o *domain.Order, p *Prepared, part int32, now int64) (r Result) {
	e.check(o, p, part, now, &r)
	return r
}

// CheckHeld is CheckPrepared between Hold and Release.
func (e *Engine) CheckHeld(o *domain.Order, p *Prepared, part int32, now int64) (r Result) {
	if o.Type != domain.OrderCancel {
		e.checkLocked(o, p, part, now, &r)
	}
	return r
}

// check is Check into a zero r.
func (e *Engine) check(o *domain.Order, p *Prepared, part int32, now int64, r *Result) {
	if o.Type == domain.OrderCancel {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checkLocked(o, p, part, now, r)
}

// checkLocked is check of a NEW order with e.mu held. It works on locals
// and writes r once it has decided, so that its loops compile tight.
func (e *Engine) checkLocked(o *domain.Order, p *Prepared, part int32, now int64, r *Result) {
	x := &e.byType
	ts := o.TS
	if now > 0 && ts > now+e.skew {
		ts = now + e.skew
	}
	ts = min(max(ts, e.clock), maxTS)
	e.clock = ts
	day := e.cal.dayOf(ts)
	if day < e.today {
		day = e.today
	}
	e.today = day
	sec := ts / 1000
	n := notionalUnits(o.Qty, o.Price)

	keys := [4]*key{e.global, p.keys[tAccount-1], p.keys[tSymbol-1], p.keys[tStrategy-1]}
	if p.gen != e.gen {
		keys[tAccount], keys[tSymbol] = x[tAccount-1].at(p.IDs[tAccount-1]), x[tSymbol-1].at(p.IDs[tSymbol-1])
		keys[tStrategy] = x[tStrategy-1].at(p.IDs[tStrategy-1])
	}
	ns := 3
	if o.Strategy != "" {
		ns = 4
	} else {
		keys[tStrategy] = nil
	}
	r.o, r.keys, r.nscope = o, keys, ns
	// An order without a strategy is held to no STRATEGY limits, so every
	// pass below runs over four scopes, unrolled.
	lims := [4]*resolved{&e.def[tGlobal], &e.def[tAccount], &e.def[tSymbol], &e.def[tStrategy]}
	for i, k := range keys {
		if k != nil {
			lims[i] = k.lim
		}
	}
	if ns == 3 {
		lims[tStrategy] = &unlimited
	}
	if ui := unreadable(&lims); ui >= 0 {
		r.block(KindUnreadableLimits, ui, e.meta(r, ui), 0, 0, 0)
		return
	}

	// Per order.
	qi, ni, ci, ri := tightest(&lims)
	minQty, minNotional := lims[qi].maxQty, lims[ni].maxOrderNotional
	var collar int64
	if ci >= 0 {
		collar = lims[ci].collar
	}
	if lims[tSymbol].restricted {
		r.block(KindRestricted, tSymbol, e.meta(r, tSymbol), 0, 0, 0)
		return
	}
	if o.Qty > minQty {
		r.block(KindMaxOrderQty, qi, e.meta(r, qi), minQty, minQty, o.Qty)
		return
	}
	if n > minNotional {
		lim := fromUnits(minNotional)
		r.block(KindMaxOrderNotional, ni, e.meta(r, ni), lim, lim, fromUnits(n))
		return
	}
	if (ci >= 0 || ri >= 0) && e.checkReference(r, o, lims[tSymbol], ci, collar, ri, ts) {
		return
	}

	// Per window.
	if len(e.unrestored) > 0 {
		if s := e.unrestoredScope(sec, day, &lims); s >= 0 {
			r.block(KindUnrestoredUsage, s, e.meta(r, s), 0, 0, 0)
			return
		}
	}
	oi, vi := crossing(&keys, &lims, sec, n)
	if oi >= 0 {
		l, m := lims[oi], e.meta(r, oi)
		var count int64
		if k := keys[oi]; k != nil {
			count, _ = k.agg.sums(sec - int64(l.window))
		}
		r.block(KindMaxOrders, oi, m, float64(l.capOrders), float64(m.maxOrders), float64(count+1))
		r.WindowSeconds = int64(l.window)
		return
	}
	if vi >= 0 {
		l, m := lims[vi], e.meta(r, vi)
		var notional int64
		if k := keys[vi]; k != nil {
			_, notional = k.agg.sums(sec - int64(l.window))
		}
		r.block(KindMaxNotional, vi, m, fromUnits(l.capNotional), fromUnits(m.maxNotional), fromUnits(satAdd(notional, n)))
		r.WindowSeconds = int64(l.window)
		return
	}

	// Per day.
	if l := lims[tAccount]; l.credit != none {
		var used int64
		if k := keys[tAccount]; k != nil {
			used = k.agg.creditOn(day)
		}
		if after := satAdd(used, n); after > l.credit {
			r.block(KindCreditLimit, tAccount, e.meta(r, tAccount), fromUnits(l.credit), fromUnits(l.credit), fromUnits(after))
			return
		}
	}
	r.pass = true
	r.part = max(part, 0)
	r.sec = uint32(sec)
	r.day = day
	r.n = n
}

// checkReference applies the tightest collar (scope ci, collar) and the
// first scope requiring a reference (ri), either may be absent (-1), with
// the symbol's max_ref_age_seconds, and reports whether it blocked the
// order. A reference that is too old blocks every order in the symbol: an
// order cannot be shown to be near a price nobody has seen lately.
func (e *Engine) checkReference(r *Result, o *domain.Order, symLim *resolved, ci int, collar int64, ri int, ts int64) bool {
	sym := r.keys[tSymbol]
	if sym == nil || sym.ref.ts == 0 {
		if ri >= 0 {
			r.block(KindRequireReference, ri, e.meta(r, ri), 0, 0, 0)
			return true
		}
		return false
	}
	if sym.ref.ts == refUnreadable {
		r.block(KindUnreadableReference, tSymbol, e.meta(r, tSymbol), 0, 0, 0)
		return true
	}
	if age, most := ts-sym.ref.ts, int64(symLim.maxRefAge); age > most {
		r.block(KindMaxRefAge, tSymbol, e.meta(r, tSymbol), float64(most)/1000, float64(most)/1000, float64(age)/1000)
		return true
	}
	if ci >= 0 {
		if p := toUnits(o.Price); outsideCollar(p, sym.ref.price, collar) {
			pct := float64(collar) / collarScale
			r.block(KindCollar, ci, e.meta(r, ci), pct, pct, deviationPct(p, sym.ref.price))
			return true
		}
	}
	return false
}

// unlimited is the limits of a scope an order does not have.
var unlimited = resolved{maxQty: math.Inf(1), maxOrderNotional: none, capOrders: none, capNotional: none,
	credit: none, window: DefaultWindowSeconds, maxRefAge: math.MaxInt32}

// unreadable returns the first scope whose limits could not be read (-1:
// none), written out for the four scopes like tightest.
func unreadable(l *[4]*resolved) int {
	switch {
	case l[0].unreadable:
		return 0
	case l[1].unreadable:
		return 1
	case l[2].unreadable:
		return 2
	case l[3].unreadable:
		return 3
	}
	return -1
}

// tightest returns the scope with the smallest max_order_qty, the one with
// the smallest max_order_notional, the one with the tightest collar (-1:
// none) and the first requiring a reference (-1: none), the most general
// among equals. It is written out for the four scopes: a loop costs
// several times as many instructions here.
func tightest(l *[4]*resolved) (qi, ni, ci, ri int) {
	g, a, s, t := l[0], l[1], l[2], l[3]
	q := g.maxQty
	if a.maxQty < q {
		qi, q = 1, a.maxQty
	}
	if s.maxQty < q {
		qi, q = 2, s.maxQty
	}
	if t.maxQty < q {
		qi = 3
	}
	v := g.maxOrderNotional
	if a.maxOrderNotional < v {
		ni, v = 1, a.maxOrderNotional
	}
	if s.maxOrderNotional < v {
		ni, v = 2, s.maxOrderNotional
	}
	if t.maxOrderNotional < v {
		ni = 3
	}
	ci, c := -1, int64(math.MaxInt64)
	if x := g.collar; x > 0 {
		ci, c = 0, x
	}
	if x := a.collar; x > 0 && x < c {
		ci, c = 1, x
	}
	if x := s.collar; x > 0 && x < c {
		ci, c = 2, x
	}
	if x := t.collar; x > 0 && x < c {
		ci = 3
	}
	switch {
	case g.requireRef:
		ri = 0
	case a.requireRef:
		ri = 1
	case s.requireRef:
		ri = 2
	case t.requireRef:
		ri = 3
	default:
		ri = -1
	}
	return qi, ni, ci, ri
}

// crossing returns the first scope whose max_orders, and the first whose
// max_notional, an order of notional n in second sec would cross (-1:
// none). It runs from the last scope to the first, so the first crossing
// one is the last set.
func crossing(k *[4]*key, l *[4]*resolved, sec, n int64) (oi, vi int) {
	oi, vi = -1, -1
	for i := 3; i >= 0; i-- {
		var count, sum int64
		if k := k[i]; k != nil {
			// usage.sums, written out: its fast path is the common case.
			u := &k.agg
			count, sum = u.count, u.notional
			if cut := sec - int64(l[i].window); int64(u.first) <= cut {
				count, sum = u.sumsAfter(cut)
			}
		}
		if count+1 > l[i].capOrders {
			oi = i
		}
		if satAdd(sum, n) > l[i].capNotional {
			vi = i
		}
	}
	return oi, vi
}

func (r *Result) block(k Kind, scope int, m meta, limit, group, value float64) {
	r.Blocked, r.Kind = true, k
	r.ScopeType, r.ScopeID = domain.ScopeTypes[scope], r.id(scope)
	r.Limit, r.GroupLimit, r.Value = limit, group, value
	r.Version = m.version
}

// Commit counts an order that Check passed and the caller allowed, and
// returns the credit warning it set off: 50, 75 or 90 when the account's
// gross notional of the day reached that percent of its credit_limit with
// this order, else 0. Committing a blocked result, a CANCEL's or the same
// result twice does nothing.
func (e *Engine) Commit(r *Result) (creditWarning int) {
	if !r.pass {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.commitLocked(r)
}

// CommitHeld is Commit between Hold and Release.
func (e *Engine) CommitHeld(r *Result) (creditWarning int) {
	if !r.pass {
		return 0
	}
	return e.commitLocked(r)
}

// commitLocked is Commit of a passed result with e.mu held.
func (e *Engine) commitLocked(r *Result) (creditWarning int) {
	r.pass = false
	for i := 0; i < r.nscope; i++ {
		k := r.keys[i]
		if k == nil {
			k = e.keyFor(i, r.id(i))
		}
		before := k.agg.creditOn(r.day)
		e.count(k, r.part, r.sec, r.day, r.n)
		if i == tAccount {
			creditWarning = crossedThreshold(before, k.agg.credit, k.lim.credit)
			r.CreditUsed = fromUnits(k.agg.credit)
			if k.lim.credit != none {
				r.CreditLimit = fromUnits(k.lim.credit)
			}
		}
		if e.txn {
			e.undo = append(e.undo, undoEntry{k: k, part: r.part, sec: r.sec, day: r.day, n: r.n})
		}
	}
	if e.txn {
		e.record(r)
	}
	return creditWarning
}

// count adds an allowed order to key k's usage in partition part and to its
// aggregate. Credit is kept for accounts only.
//
// An order older than the window at the engine's clock (only a changelog
// replay brings one) counts against credit only: the aggregate may already
// have dropped its second, and adding it back to the aggregate and not to
// the partitions, or the other way round, would set them apart.
func (e *Engine) count(k *key, part int32, sec uint32, day int32, n int64) {
	// The common case, a key fed by this one partition alone, reads
	// nothing beyond the key (written out: usageOf does not inline).
	var c *contrib
	solo := k.solo() && k.soloPart == part
	if !solo {
		c = k.contrib(part)
		solo = k.solo()
	}
	if w := int64(k.lim.window); int64(sec) > e.clock/1000-w {
		cut := int64(sec) - w
		k.agg.prune(cut)
		k.agg.add(sec, 1, n)
		if !solo {
			c.u.prune(cut)
			c.u.add(sec, 1, n)
		}
	}
	if k.typ == tAccount {
		k.agg.addCredit(day, n)
		if !solo {
			c.u.addCredit(day, n)
		}
	}
}

// usageOf returns k's usage in partition part, creating it, as a contrib,
// or solo when the aggregate is that usage.
func (k *key) usageOf(part int32) (c *contrib, solo bool) {
	if k.solo() && k.soloPart == part {
		return nil, true
	}
	c = k.contrib(part)
	return c, k.solo()
}

// countCredit adds n to the credit of account key k on day, in partition
// part and in its aggregate, as count does for an order.
func (e *Engine) countCredit(k *key, part int32, day int32, n int64) {
	c, solo := k.usageOf(part)
	k.agg.addCredit(day, n)
	if !solo {
		c.u.addCredit(day, n)
	}
}

// Decide is Check followed, when the order passes, by Commit: for a caller
// that allows every order the limits pass.
func (e *Engine) Decide(o *domain.Order, part int32, now int64) (Result, int) {
	r := e.Check(o, part, now)
	return r, e.Commit(&r)
}

// solo reports whether one partition holds all of k's usage, which is then
// kept in k.agg alone: an account lives in one partition, and so does every
// scope of a router that owns one, so most commits update one usage, not
// two.
func (k *key) solo() bool { return k.single }

// usageIn returns the usage of k in c's partition.
func (k *key) usageIn(c *contrib) *usage {
	if k.solo() {
		return &k.agg
	}
	return &c.u
}

// contrib returns k's usage in partition part, creating it. A second
// partition ends solo: the first one's usage is then the aggregate's.
func (k *key) contrib(part int32) *contrib {
	for _, c := range k.parts {
		if c.part == part {
			return c
		}
	}
	if k.solo() {
		k.parts[0].u.copyFrom(&k.agg)
	}
	c := &contrib{key: k, part: part}
	c.u.init()
	k.setParts(append(k.parts, c))
	return c
}

// partIn returns k's usage in partition part, or nil.
func (k *key) partIn(part int32) *contrib {
	for _, c := range k.parts {
		if c.part == part {
			return c
		}
	}
	return nil
}

// setParts sets k's partitions, and soloPart when there is one.
func (k *key) setParts(parts []*contrib) {
	k.parts, k.single = parts, len(parts) == 1
	if len(parts) == 1 {
		k.soloPart = parts[0].part
	}
}
