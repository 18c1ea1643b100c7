package limits

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// The property test runs random order streams against random limits through
// the engine and through a brute-force model that keeps every allowed order
// and recounts each window from scratch. The model allows an order exactly
// when, greedily, every limit would still hold with it. The engine must
// decide every order as the model does (naming the same limit), and no
// window of any scope may ever hold more than its cap.

type modelOrder struct {
	order  domain.Order
	scopes [4]string // "" for a scope the order does not have
	ts     int64     // effective, Unix ms
	sec    int64
	day    int64
	n      *big.Int
	// The window and caps of each scope when the order was allowed.
	window      [4]int64
	capOrders   [4]*big.Int // nil: no cap
	capNotional [4]*big.Int
}

type model struct {
	cfg         Config
	zone        int64 // fixed offset of the time zone, seconds
	over        map[string]domain.LimitValues
	overVersion map[string]int64
	unreadable  map[string]bool            // scopes whose latest limits record could not be read
	refs        map[string]domain.RefPrice // TS refUnreadable: its latest record could not be read
	// unrestored holds, per partition whose changelog has a record that
	// does not restore, the latest effective time (Unix ms) of an order
	// the record could hold.
	unrestored map[int32]int64
	// rebuilt holds the partitions among them whose credit of that time's
	// day was rebuilt from the allowed orders (RebuildCredit).
	rebuilt      map[int32]bool
	owned, total int64
	clock        int64
	allowed      []modelOrder
}

// limits returns the scope's limits: its type's defaults with its override.
func (m *model) limits(typ int, scope string) Limits {
	t := domain.ScopeTypes[typ]
	l := *m.cfg.Defaults.Of(t)
	if v, ok := m.over[scope]; ok {
		l, _ = l.Overlay(&v).Clamp(m.cfg.Ceilings.Of(t))
	}
	if l.WindowSeconds == 0 {
		l.WindowSeconds = DefaultWindowSeconds
	}
	if l.MaxRefAgeSeconds == 0 {
		l.MaxRefAgeSeconds = DefaultMaxRefAgeSeconds
	}
	return l
}

func units(f float64) *big.Int {
	r, _ := new(big.Float).SetFloat64(math.Round(f * Scale)).Int(nil)
	return r
}

type verdict struct {
	blocked bool
	kind    Kind
	scope   int
}

func (m *model) decide(o *domain.Order, now int64) verdict {
	if o.Type == domain.OrderCancel {
		return verdict{}
	}
	ts := o.TS
	if ts > now+m.cfg.FutureSkew.Milliseconds() {
		ts = now + m.cfg.FutureSkew.Milliseconds()
	}
	ts = max(ts, m.clock)
	m.clock = ts
	sec := ts / 1000
	day := m.dayOf(ts)
	scopes := [4]string{"GLOBAL", "ACCOUNT:" + o.AccountID, "SYMBOL:" + o.Symbol, ""}
	ns := 3
	if o.Strategy != "" {
		scopes[3], ns = "STRATEGY:"+o.Strategy, 4
	}
	var lim [4]Limits
	for i := 0; i < ns; i++ {
		lim[i] = m.limits(i, scopes[i])
	}
	for i := 0; i < ns; i++ {
		if m.unreadable[scopes[i]] {
			return verdict{true, KindUnreadableLimits, i}
		}
	}
	n := units(o.Qty * o.Price)
	block := func(k Kind, i int) verdict { return verdict{true, k, i} }
	// Per order: the smallest set limit decides, the most general first.
	smallest := func(get func(Limits) float64) (int, float64) {
		best, bv := -1, math.Inf(1)
		for i := 0; i < ns; i++ {
			if v := get(lim[i]); v > 0 && v < bv {
				best, bv = i, v
			}
		}
		return best, bv
	}
	if lim[2].Restricted {
		return block(KindRestricted, 2)
	}
	if i, v := smallest(func(l Limits) float64 { return l.MaxOrderQty }); i >= 0 && o.Qty > v {
		return block(KindMaxOrderQty, i)
	}
	if i, v := smallest(func(l Limits) float64 { return l.MaxOrderNotional }); i >= 0 && n.Cmp(units(v)) > 0 {
		return block(KindMaxOrderNotional, i)
	}
	ci, collar := smallest(func(l Limits) float64 { return l.CollarPct })
	req := -1
	for i := 0; i < ns; i++ {
		if lim[i].RequireReference && req < 0 {
			req = i
		}
	}
	if ci >= 0 || req >= 0 {
		rp, ok := m.refs[o.Symbol]
		switch {
		case !ok && req >= 0:
			return block(KindRequireReference, req)
		case !ok:
		case rp.TS == refUnreadable:
			return block(KindUnreadableReference, 2)
		case ts-rp.TS > lim[2].MaxRefAgeSeconds*1000:
			return block(KindMaxRefAge, 2)
		case ci >= 0:
			// |p − r| / r > collar / 100, in exact rationals of the
			// fixed-point prices.
			p, r := units(o.Price), units(rp.Price)
			d := new(big.Int).Abs(new(big.Int).Sub(p, r))
			lhs := new(big.Rat).SetFrac(d, r)
			c := new(big.Rat).SetFrac(big.NewInt(int64(math.Round(collar*collarScale))), big.NewInt(100*collarScale))
			if lhs.Cmp(c) > 0 {
				return block(KindCollar, ci)
			}
		}
	}
	// Usage a lost changelog record may hold, of any scope: an account's
	// credit through the record's trading day, any window cap whose
	// window reaches back to it. The most general scope is named.
	uscope := ns
	for p, latest := range m.unrestored {
		for i := 0; i < uscope; i++ {
			capped := lim[i].MaxOrders > 0 || lim[i].MaxNotional > 0
			lost := day < m.dayOf(latest) || day == m.dayOf(latest) && !m.rebuilt[p]
			if i == 1 && lost && lim[1].CreditLimit > 0 || capped && sec < latest/1000+lim[i].WindowSeconds {
				uscope = i
			}
		}
	}
	if uscope < ns {
		return block(KindUnrestoredUsage, uscope)
	}
	// Per window: recount every allowed order of the scope in the window.
	var counts [4]int64
	var sums [4]*big.Int
	for i := 0; i < ns; i++ {
		sums[i] = new(big.Int)
		for _, a := range m.allowed {
			if a.scopes[i] == scopes[i] && a.sec > sec-lim[i].WindowSeconds {
				counts[i]++
				sums[i].Add(sums[i], a.n)
			}
		}
	}
	mo := modelOrder{order: *o, scopes: scopes, ts: ts, sec: sec, day: day, n: n}
	for i := 0; i < ns; i++ {
		mo.window[i] = lim[i].WindowSeconds
		if l := lim[i]; l.MaxOrders > 0 {
			mo.capOrders[i] = m.cap(i, big.NewInt(l.MaxOrders))
		}
		if l := lim[i]; l.MaxNotional > 0 {
			mo.capNotional[i] = m.cap(i, units(l.MaxNotional))
		}
	}
	for i := 0; i < ns; i++ {
		if c := mo.capOrders[i]; c != nil && counts[i]+1 > c.Int64() {
			return block(KindMaxOrders, i)
		}
	}
	for i := 0; i < ns; i++ {
		if c := mo.capNotional[i]; c != nil && new(big.Int).Add(sums[i], n).Cmp(c) > 0 {
			return block(KindMaxNotional, i)
		}
	}
	if l := lim[1]; l.CreditLimit > 0 {
		used := new(big.Int).Set(n)
		for _, a := range m.allowed {
			if a.scopes[1] == scopes[1] && a.day == day {
				used.Add(used, a.n)
			}
		}
		if used.Cmp(units(l.CreditLimit)) > 0 {
			return block(KindCreditLimit, 1)
		}
	}
	m.allowed = append(m.allowed, mo)
	return verdict{}
}

// dayOf is the trading day of Unix ms ts.
func (m *model) dayOf(ts int64) int64 {
	return (ts/1000 + m.zone - int64(m.cfg.DayStart/time.Second)) / 86400
}

// cap is a cap at the router's share: exact for ACCOUNT, floor(c × owned /
// total) for the others.
func (m *model) cap(typ int, c *big.Int) *big.Int {
	if typ == 1 {
		return c
	}
	r := new(big.Int).Mul(c, big.NewInt(m.owned))
	return r.Quo(r, big.NewInt(m.total))
}

// checkWindows verifies, over the final list of allowed orders, that no
// window of any scope ever held more than the scope's caps in force when
// its newest order was allowed, and that the credit of no trading day went
// over the limit in force. A window holding orders up to second x holds a
// subset of the window that ended at its newest order when that order was
// allowed, so checking those windows checks every window.
func (m *model) checkWindows(t *testing.T) {
	t.Helper()
	for j, end := range m.allowed {
		if j > 0 && end.sec < m.allowed[j-1].sec {
			t.Fatalf("allowed order %d counted at second %d, before second %d", j, end.sec, m.allowed[j-1].sec)
		}
		for i, scope := range end.scopes {
			if scope == "" {
				continue
			}
			var count int64
			n := new(big.Int)
			for _, a := range m.allowed[:j+1] {
				if a.scopes[i] == scope && a.sec > end.sec-end.window[i] {
					count++
					n.Add(n, a.n)
				}
			}
			if c := end.capOrders[i]; c != nil && count > c.Int64() {
				t.Fatalf("%s: %d orders in the window ending %d, cap %v", scope, count, end.sec, c)
			}
			if c := end.capNotional[i]; c != nil && n.Cmp(c) > 0 {
				t.Fatalf("%s: notional %v in the window ending %d, cap %v", scope, n, end.sec, c)
			}
		}
	}
}

func randomLimits(rng *rand.Rand, typ domain.ScopeType) Limits {
	var l Limits
	sometimes := func() bool { return rng.IntN(6) == 0 }
	often := func() bool { return rng.IntN(2) == 0 }
	if sometimes() {
		l.MaxOrderQty = float64(7 + rng.IntN(30))
	}
	if sometimes() {
		l.MaxOrderNotional = float64(600 + rng.IntN(3000))
	}
	if sometimes() {
		l.CollarPct = []float64{2.5, 5, 10, 20}[rng.IntN(4)]
	}
	if often() {
		l.MaxOrders = int64(1 + rng.IntN(8))
	}
	if often() {
		l.MaxNotional = float64(1000 + rng.IntN(5000))
	}
	l.WindowSeconds = int64(1 + rng.IntN(5))
	if typ == domain.ScopeAccount && often() {
		l.CreditLimit = float64(2000 + rng.IntN(20000))
	}
	if rng.IntN(10) == 0 {
		l.RequireReference = true
	}
	if typ == domain.ScopeSymbol {
		l.MaxRefAgeSeconds = int64(10 + rng.IntN(30))
	}
	return l
}

func randomOverride(rng *rand.Rand, typ domain.ScopeType) domain.LimitValues {
	l := randomLimits(rng, typ)
	v := l.Values()
	if typ == domain.ScopeSymbol && rng.IntN(10) == 0 {
		v.Restricted = yes()
	}
	// Overrides set only some fields; the rest come from the defaults.
	// They keep the window: a window made longer only counts the history
	// kept for the shorter one (TestLongerWindow).
	if rng.IntN(2) == 0 {
		v.MaxOrders = nil
	}
	v.WindowSeconds = nil
	return v
}

func TestPropertyAgainstBruteForce(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 40
	}
	var seen [numKinds]int
	rebuilds := 0
	for run := range runs {
		t.Run(fmt.Sprint(run), func(t *testing.T) { propertyRun(t, uint64(run), &seen, &rebuilds) })
	}
	if rebuilds < runs/10 {
		t.Errorf("%d credit rebuilds in %d runs", rebuilds, runs)
	}
	// The streams must reach every decision, or the comparison proves little.
	for k, n := range seen {
		if n < runs {
			t.Errorf("%d of %d orders decided %q", n, runs*400, Kind(k))
		}
	}
	t.Logf("decisions by kind: %v; credit rebuilds: %d", seen, rebuilds)
}

func propertyRun(t *testing.T, seed uint64, seen *[numKinds]int, rebuilds *int) {
	rng := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
	cfg := Config{TimeZone: "Etc/GMT+5", DayStart: time.Duration(rng.IntN(24*60)) * time.Minute,
		FutureSkew: time.Duration(rng.IntN(3000)) * time.Millisecond}
	for _, typ := range domain.ScopeTypes {
		*cfg.Defaults.Of(typ) = randomLimits(rng, typ)
	}
	cfg.Ceilings.Account.MaxOrders = 6 // some overrides are clamped
	cfg.Defaults.Account.MaxOrders = min(cfg.Defaults.Account.MaxOrders, 6)
	e := newEngine(t, cfg)
	m := &model{cfg: e.Config(), zone: -5 * 3600, over: map[string]domain.LimitValues{}, overVersion: map[string]int64{},
		unreadable: map[string]bool{}, refs: map[string]domain.RefPrice{}, unrestored: map[int32]int64{}, rebuilt: map[int32]bool{}, owned: 1, total: 1}
	accts := []string{"a1", "a2", "a3"}
	syms := []string{"S1", "S2", "S3"}
	strats := []string{"", "algo", "vwap"}
	scopes := []domain.Scope{"GLOBAL", "ACCOUNT:a1", "ACCOUNT:a2", "SYMBOL:S1", "SYMBOL:S2", "SYMBOL:S3", "STRATEGY:algo"}
	// The changelog as the router writes it: each transaction's records
	// become durable when it commits, and are lost when it aborts or the
	// router crashes.
	var log, pending [3][][]byte
	mark := 0 // the model's allowed orders up to the last committed transaction
	// latest maps a record of the log that no longer restores to the clock
	// it carried: the router fails its partition closed on it.
	latest := map[*byte]int64{}
	// rebuiltCP marks the first record of each checkpoint written while
	// its partition's credit was rebuilt: restoring it says so.
	rebuiltCP := map[*byte]bool{}
	restore := func(p int32) {
		for _, rec := range log[p] {
			if err := e.Restore(p, rec); err != nil {
				l, ok := latest[&rec[0]]
				if !ok {
					t.Fatal(err)
				}
				e.FailUsageClosed(p, l, "damaged")
				m.unrestored[p] = max(m.unrestored[p], l+m.cfg.FutureSkew.Milliseconds())
				m.rebuilt[p] = false
				continue
			}
			if rebuiltCP[&rec[0]] {
				m.rebuilt[p] = true
			}
			clock, _ := RecordClock(rec)
			m.clock = max(m.clock, clock)
		}
	}
	version := int64(0)
	ts := t0 + rng.Int64N(86_400_000)
	e.BeginTxn()
	for i := range 400 {
		switch x := rng.IntN(100); {
		case x < 4: // an override, or its tombstone
			s := scopes[rng.IntN(len(scopes))]
			if rng.IntN(4) == 0 {
				e.DeleteLimits(s)
				delete(m.over, string(s))
				delete(m.unreadable, string(s))
				break
			}
			if rng.IntN(12) == 0 { // a record that cannot be read
				e.FailLimitsClosed(s, "unreadable")
				m.unreadable[string(s)] = true
				break
			}
			version++
			v := randomOverride(rng, s.Type())
			override(t, e, s, version, v)
			m.over[string(s)] = v
			m.overVersion[string(s)] = version
			delete(m.unreadable, string(s))
		case x < 16: // a reference price, sometimes stale or from the future, or unreadable
			p := domain.RefPrice{Symbol: syms[rng.IntN(len(syms))], Price: float64(90 + rng.IntN(20)), TS: ts - rng.Int64N(12_000) + 1000}
			if rng.IntN(12) == 0 {
				e.FailReferenceClosed(p.Symbol, "unreadable")
				m.refs[p.Symbol] = domain.RefPrice{Symbol: p.Symbol, TS: refUnreadable}
				break
			}
			if cur, ok := m.refs[p.Symbol]; !ok || p.TS > cur.TS {
				m.refs[p.Symbol] = p
			}
			e.ApplyReference(p)
		case x < 18: // a new partition share
			total := int64(1 + rng.IntN(4))
			owned := int64(1 + rng.IntN(int(total)))
			e.SetPartitionShare(int(owned), int(total))
			m.owned, m.total = owned, total
		case x < 20: // a crash: the open transaction is lost; a new engine restores the changelog
			pending = [3][][]byte{}
			m.allowed = m.allowed[:mark]
			e = newEngine(t, cfg)
			e.SetPartitionShare(int(m.owned), int(m.total))
			for s, v := range m.over {
				override(t, e, domain.Scope(s), m.overVersion[s], v)
			}
			for s := range m.unreadable {
				e.FailLimitsClosed(domain.Scope(s), "unreadable")
			}
			for _, p := range m.refs {
				if p.TS == refUnreadable {
					e.FailReferenceClosed(p.Symbol, "unreadable")
					continue
				}
				ref(t, e, p.Symbol, p.Price, p.TS)
			}
			// Now and then a record of the log is damaged: it no longer
			// restores, and the model keeps the orders it held.
			if p := int32(rng.IntN(3)); len(log[p]) > 0 && rng.IntN(5) == 0 {
				j := rng.IntN(len(log[p]))
				clock, _ := RecordClock(log[p][j])
				bad := append([]byte{9}, log[p][j][1:]...) // an unknown format
				latest[&bad[0]] = clock
				log[p][j] = bad
			}
			// The restored engine counts from the newest time the
			// changelog carries, and so does the model.
			m.clock = 0
			clear(m.unrestored)
			clear(m.rebuilt)
			for p := range int32(3) {
				restore(p)
			}
			// Now and then the credit of a partition that did not
			// restore is rebuilt from the orders allowed that day, as
			// the router reads them from orders.gated.v1.
			for _, rb := range e.CreditRebuilds() {
				if rng.IntN(2) == 0 {
					continue
				}
				day := m.dayOf(m.unrestored[rb.Part])
				for _, a := range m.allowed {
					if a.day == day {
						o := a.order
						o.TS = a.ts
						rb.Add(&o, a.ts)
					}
				}
				if _, ok := e.RebuildCredit(rb); !ok {
					t.Fatalf("rebuild of partition %d not applied", rb.Part)
				}
				m.rebuilt[rb.Part] = true
				*rebuilds++
			}
			e.BeginTxn()
		}
		// Time mostly moves on, sometimes jumps, sometimes runs back.
		switch x := rng.IntN(20); {
		case x == 0:
			ts -= rng.Int64N(4000)
		case x == 1:
			ts += rng.Int64N(30_000)
		default:
			ts += rng.Int64N(700)
		}
		o := domain.Order{OrderID: "o", TS: ts + rng.Int64N(5000) - 1000, AccountID: accts[rng.IntN(3)], Symbol: syms[rng.IntN(3)],
			Strategy: strats[rng.IntN(3)], Side: domain.Buy, Qty: float64(1 + rng.IntN(10)),
			Price: float64(85+rng.IntN(30)) + float64(rng.IntN(100))/100, Type: domain.OrderNew}
		if rng.IntN(15) == 0 {
			o.Type = domain.OrderCancel
		}
		// Orders.v1 is keyed by account, so an account's orders come
		// from one partition; now and then one is misrouted.
		part := int32(int(o.AccountID[1]-'1') % 3)
		if rng.IntN(10) == 0 {
			part = int32(rng.IntN(3))
		}
		want := m.decide(&o, ts)
		// Every other order as the router decides a chunk, held.
		var got Result
		held := i%2 == 1
		if held {
			var p Prepared
			e.Prepare(&o, &p)
			e.Hold([]Prepared{p})
			got = e.CheckHeld(&o, &p, part, ts)
		} else {
			got = e.Check(&o, part, ts)
		}
		if got.Blocked != want.blocked || got.Kind != want.kind || got.Blocked && got.ScopeType != domain.ScopeTypes[want.scope] {
			t.Fatalf("order %d %+v: engine blocked=%v %q, model blocked=%v %v on %s", i, o, got.Blocked, got.LimitName(),
				want.blocked, want.kind, domain.ScopeTypes[want.scope])
		}
		if got.Blocked {
			scope := got.AppendScope(nil)
			var v int64
			if _, ok := m.over[string(scope)]; ok {
				v = m.overVersion[string(scope)]
			}
			if got.Version != v {
				t.Fatalf("order %d blocked by %s: version %d, want %d", i, got.LimitName(), got.Version, v)
			}
		}
		seen[got.Kind]++
		if held {
			e.CommitHeld(&got)
			e.Release()
		} else {
			e.Commit(&got)
		}
		if i%9 == 8 { // the end of a transaction
			for p := range int32(3) {
				if rec := e.AppendChanges(nil, p); len(rec) > 0 {
					pending[p] = append(pending[p], rec)
				}
				if rng.IntN(10) == 0 { // now and then a checkpoint, in small records
					cp := e.Checkpoint(p, 40)
					if _, ok := m.unrestored[p]; ok && m.rebuilt[p] {
						rebuiltCP[&cp[0][0]] = true
					}
					pending[p] = append(pending[p], cp...)
				}
			}
			if rng.IntN(5) == 0 {
				e.RollbackTxn()
				m.allowed = m.allowed[:mark]
			} else {
				e.EndTxn()
				for p := range log {
					log[p] = append(log[p], pending[p]...)
				}
				mark = len(m.allowed)
				if rng.IntN(8) == 0 {
					// A partition moves away and back: its usage is
					// forgotten, then restored from the changelog.
					p := int32(rng.IntN(3))
					e.Revoke(p)
					delete(m.unrestored, p)
					delete(m.rebuilt, p)
					clock := m.clock
					restore(p)
					m.clock = clock
				}
			}
			pending = [3][][]byte{}
			e.BeginTxn()
		}
	}
	m.checkWindows(t)
}
