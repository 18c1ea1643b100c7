package limits

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/internal/prefetch"
)

// t0 is a Unix ms on a whole second, 2023-11-14 22:13:20 UTC.
const t0 = int64(1_700_000_000_000)

// bare is a config without any limit, in UTC, to which a test adds the
// limits it is about.
func bare() Config {
	return Config{TimeZone: "UTC", Defaults: ByType{}}
}

func newEngine(t testing.TB, c Config) *Engine {
	t.Helper()
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ord(acct, sym, strat string, qty, price float64, ts int64) domain.Order {
	return domain.Order{OrderID: "o", TS: ts, AccountID: acct, Symbol: sym, Side: domain.Buy, Qty: qty, Price: price,
		Strategy: strat, Type: domain.OrderNew}
}

// decide checks and, when the order passes, commits it, as a router that
// allows everything the limits pass.
func decide(e *Engine, o domain.Order) Result {
	r, _ := e.Decide(&o, 0, 0)
	return r
}

func wantPass(t *testing.T, r Result) {
	t.Helper()
	if r.Blocked {
		t.Fatalf("blocked by %s (value %v), want pass", r.LimitName(), r.Value)
	}
}

func wantBlock(t *testing.T, r Result, kind Kind, limit string, value float64) {
	t.Helper()
	if !r.Blocked || r.Kind != kind || r.LimitName() != limit || r.Value != value {
		t.Fatalf("got blocked=%v %v %q value %v, want %v %q value %v", r.Blocked, r.Kind, r.LimitName(), r.Value, kind, limit, value)
	}
}

func override(t testing.TB, e *Engine, scope domain.Scope, version int64, v domain.LimitValues) {
	t.Helper()
	ok, err := e.ApplyLimits(domain.LimitsRecord{Scope: scope, Limits: v, Version: version})
	if err != nil || !ok {
		t.Fatalf("apply limits of %s: %v %v", scope, ok, err)
	}
}

func ref(t testing.TB, e *Engine, sym string, price float64, ts int64) {
	t.Helper()
	if ok, err := e.ApplyReference(domain.RefPrice{Symbol: sym, Price: price, TS: ts}); err != nil || !ok {
		t.Fatalf("apply reference %s: %v %v", sym, ok, err)
	}
}

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }
func yes() *bool             { v := true; return &v }

func TestMaxOrderQty(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrderQty = 1000
	e := newEngine(t, c)
	wantPass(t, decide(e, ord("a", "S", "", 1000, 1, t0)))
	wantBlock(t, decide(e, ord("a", "S", "", 1e9, 1, t0)), KindMaxOrderQty, "ACCOUNT:a max_order_qty=1000", 1e9)
}

func TestMaxOrderNotional(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrderNotional = 500_000
	e := newEngine(t, c)
	wantPass(t, decide(e, ord("a", "S", "", 2500, 200, t0)))
	wantBlock(t, decide(e, ord("a", "S", "", 2500, 200.01, t0)), KindMaxOrderNotional, "ACCOUNT:a max_order_notional=500000", 500_025)
	// An absurd qty × price saturates instead of wrapping to a small number.
	r := decide(e, ord("a", "S", "", 1e300, 1e300, t0))
	if !r.Blocked || r.Kind != KindMaxOrderNotional {
		t.Fatalf("absurd notional passed: %+v", r)
	}
}

// The most restrictive matching scope decides, and among equals the most
// general one is named.
func TestPrecedence(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrderQty = 100
	c.Defaults.Global.MaxOrderQty = 500
	c.Defaults.Strategy.MaxOrderQty = 50
	e := newEngine(t, c)
	wantBlock(t, decide(e, ord("a", "S", "algo", 60, 1, t0)), KindMaxOrderQty, "STRATEGY:algo max_order_qty=50", 60)
	// Without a strategy the account's limit is the tightest.
	wantBlock(t, decide(e, ord("a", "S", "", 150, 1, t0)), KindMaxOrderQty, "ACCOUNT:a max_order_qty=100", 150)
	wantPass(t, decide(e, ord("a", "S", "", 100, 1, t0)))

	// An override tightens one scope below every default, and is named
	// with its version.
	override(t, e, "SYMBOL:S", 7, domain.LimitValues{MaxOrderQty: f64(10)})
	r := decide(e, ord("a", "S", "algo", 20, 1, t0))
	wantBlock(t, r, KindMaxOrderQty, "SYMBOL:S max_order_qty=10", 20)
	if r.Version != 7 {
		t.Errorf("version %d, want 7", r.Version)
	}
	// An override loosening a scope does not loosen the others.
	override(t, e, "ACCOUNT:b", 1, domain.LimitValues{MaxOrderQty: f64(1000)})
	wantBlock(t, decide(e, ord("b", "T", "", 600, 1, t0)), KindMaxOrderQty, "GLOBAL max_order_qty=500", 600)

	// Equal limits: the most general scope is named.
	override(t, e, "GLOBAL", 1, domain.LimitValues{MaxOrderQty: f64(100)})
	wantBlock(t, decide(e, ord("a", "T", "", 150, 1, t0)), KindMaxOrderQty, "GLOBAL max_order_qty=100", 150)

	// Window caps: every scope counts its own usage; the first scope
	// whose cap would be crossed (most general first) is named.
	c = bare()
	c.Defaults.Account.MaxOrders = 2
	c.Defaults.Symbol.MaxOrders = 3
	e = newEngine(t, c)
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0)))
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0)))
	wantBlock(t, decide(e, ord("a", "S", "", 1, 1, t0)), KindMaxOrders, "ACCOUNT:a max_orders=2/60s", 3)
	wantPass(t, decide(e, ord("b", "S", "", 1, 1, t0)))
	wantBlock(t, decide(e, ord("c", "S", "", 1, 1, t0)), KindMaxOrders, "SYMBOL:S max_orders=3/60s", 4)
}

// A CANCEL is never blocked and never counts, whatever the limits.
func TestCancelPasses(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrders = 1
	c.Defaults.Account.MaxOrderQty = 1
	c.Defaults.Symbol.RequireReference = true
	e := newEngine(t, c)
	override(t, e, "SYMBOL:S", 1, domain.LimitValues{Restricted: yes()})
	for range 5 {
		o := ord("a", "S", "", 1e9, 1e9, t0)
		o.Type = domain.OrderCancel
		r, warn := e.Decide(&o, 0, 0)
		wantPass(t, r)
		if warn != 0 || r.Kind != KindNone {
			t.Fatalf("cancel result %+v", r)
		}
	}
	if e.Stats().Keys != 2 { // GLOBAL and SYMBOL:S (for its override)
		t.Errorf("a CANCEL created usage: %+v", e.Stats())
	}
	override(t, e, "SYMBOL:S", 2, domain.LimitValues{})
	wantBlock(t, decide(e, ord("a", "S", "", 1, 1, t0)), KindRequireReference, "SYMBOL:S require_reference", 0)
	ref(t, e, "S", 1, t0)
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0)))
	wantBlock(t, decide(e, ord("a", "S", "", 1, 1, t0)), KindMaxOrders, "ACCOUNT:a max_orders=1/60s", 2)
}

func TestRestricted(t *testing.T) {
	e := newEngine(t, bare())
	override(t, e, "SYMBOL:GME", 3, domain.LimitValues{Restricted: yes()})
	r := decide(e, ord("a", "GME", "", 1, 1, t0))
	wantBlock(t, r, KindRestricted, "SYMBOL:GME restricted", 0)
	if r.Version != 3 || r.ScopeType != domain.ScopeSymbol || r.ScopeID != "GME" {
		t.Errorf("result %+v", r)
	}
	wantPass(t, decide(e, ord("a", "AMC", "", 1, 1, t0)))
	// A tombstone puts the symbol back on the defaults.
	e.DeleteLimits("SYMBOL:GME")
	wantPass(t, decide(e, ord("a", "GME", "", 1, 1, t0)))
}

func TestCollar(t *testing.T) {
	c := bare()
	c.Defaults.Symbol.CollarPct = 10
	e := newEngine(t, c)
	ref(t, e, "AAPL", 100, t0)
	for _, tc := range []struct {
		price float64
		pass  bool
	}{{100, true}, {110, true}, {90, true}, {110.0001, false}, {89.9999, false}, {150, false}, {1e-4, false}} {
		r := decide(e, ord("a", "AAPL", "", 1, tc.price, t0))
		if r.Blocked == tc.pass || !tc.pass && r.Kind != KindCollar {
			t.Errorf("price %v: %+v, want pass=%v", tc.price, r, tc.pass)
		}
	}
	r := decide(e, ord("a", "AAPL", "", 1, 150, t0))
	wantBlock(t, r, KindCollar, "SYMBOL:AAPL collar_pct=10", 50)
	// The tightest collar of the order's scopes applies.
	override(t, e, "ACCOUNT:retail", 1, domain.LimitValues{CollarPct: f64(2.5)})
	wantBlock(t, decide(e, ord("retail", "AAPL", "", 1, 103, t0)), KindCollar, "ACCOUNT:retail collar_pct=2.5", 3)
	wantPass(t, decide(e, ord("retail", "AAPL", "", 1, 102.5, t0)))
}

// A symbol without any reference is collared only where a scope requires a
// reference; a reference older than max_ref_age_seconds blocks every order
// in its symbol.
func TestCollarMissingAndStaleReference(t *testing.T) {
	c := bare()
	c.Defaults.Symbol.CollarPct = 10
	e := newEngine(t, c)
	wantPass(t, decide(e, ord("a", "NEW", "", 1, 12345, t0)))
	override(t, e, "STRATEGY:strict", 4, domain.LimitValues{RequireReference: yes()})
	r := decide(e, ord("a", "NEW", "strict", 1, 1, t0))
	wantBlock(t, r, KindRequireReference, "STRATEGY:strict require_reference", 0)
	if r.Version != 4 {
		t.Errorf("version %d", r.Version)
	}

	ref(t, e, "OLD", 50, t0)
	wantPass(t, decide(e, ord("a", "OLD", "", 1, 50, t0+60_000))) // exactly 60 s old
	wantBlock(t, decide(e, ord("a", "OLD", "", 1, 50, t0+60_001)), KindMaxRefAge, "SYMBOL:OLD max_ref_age_seconds=60", 60.001)
	// A fresh reference lifts it; an older record is ignored.
	if ok, _ := e.ApplyReference(domain.RefPrice{Symbol: "OLD", Price: 50, TS: t0 - 1}); ok {
		t.Error("an older reference was applied")
	}
	ref(t, e, "OLD", 51, t0+60_001)
	wantPass(t, decide(e, ord("a", "OLD", "", 1, 50, t0+60_001)))
	// A symbol's own max_ref_age_seconds.
	override(t, e, "SYMBOL:OLD", 1, domain.LimitValues{MaxRefAgeSeconds: i64(5)})
	wantBlock(t, decide(e, ord("a", "OLD", "", 1, 50, t0+66_000)), KindMaxRefAge, "SYMBOL:OLD max_ref_age_seconds=5", 5.999)
	// A tombstone of the reference: back to "never had one".
	e.DeleteReference("OLD")
	wantPass(t, decide(e, ord("a", "OLD", "", 1, 50, t0+66_000)))
}

// Orders exactly on a bucket boundary: the window of W seconds ending in
// second s holds the seconds s−W+1 … s.
func TestWindowEdge(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrders = 3
	c.Defaults.Account.WindowSeconds = 10
	e := newEngine(t, c)
	for i := range 3 {
		wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0+int64(i)*999))) // seconds 0, 0 and 1
	}
	wantBlock(t, decide(e, ord("a", "S", "", 1, 1, t0+9_999)), KindMaxOrders, "ACCOUNT:a max_orders=3/10s", 4)
	// Second 10: second 0 (two orders) has left the window, second 1 has not.
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0+10_000)))
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0+10_000)))
	wantBlock(t, decide(e, ord("a", "S", "", 1, 1, t0+10_999)), KindMaxOrders, "ACCOUNT:a max_orders=3/10s", 4)
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0+11_000)))
}

// The orders before the crossing one pass; the crossing one and every later
// one that would not fit are blocked; a smaller order that still fits under
// a notional cap passes.
func TestWindowNotional(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxNotional = 1_000_000
	e := newEngine(t, c)
	for range 4 {
		wantPass(t, decide(e, ord("a", "S", "", 1000, 240, t0)))
	}
	wantBlock(t, decide(e, ord("a", "S", "", 1000, 250, t0+1)), KindMaxNotional, "ACCOUNT:a max_notional=1000000/60s", 1_210_000)
	wantBlock(t, decide(e, ord("a", "S", "", 1000, 250, t0+2)), KindMaxNotional, "ACCOUNT:a max_notional=1000000/60s", 1_210_000)
	wantPass(t, decide(e, ord("a", "S", "", 100, 400, t0+3))) // exactly up to the cap
	wantBlock(t, decide(e, ord("a", "S", "", 1, 0.0001, t0+4)), KindMaxNotional, "ACCOUNT:a max_notional=1000000/60s", 1_000_000.0001)
	wantPass(t, decide(e, ord("a", "S", "", 1000, 250, t0+60_000)))
}

func TestBurstAgainstDefaults(t *testing.T) {
	e := newEngine(t, Default())
	ref(t, e, "AAPL", 190, t0)
	allowed := 0
	for i := range 5000 {
		if r := decide(e, ord("12345", "AAPL", "", 10, 190, t0+int64(i))); !r.Blocked {
			allowed++
		} else if r.LimitName() != "ACCOUNT:12345 max_orders=100/60s" || r.Value != 101 {
			t.Fatalf("order %d: %q value %v", i, r.LimitName(), r.Value)
		}
	}
	if allowed != 100 {
		t.Fatalf("%d orders allowed against a cap of 100", allowed)
	}
	// The panic generator: orders of ~$250,000 against $1,000,000 per 60 s.
	allowed = 0
	for range 50 {
		if !decide(e, ord("77", "AAPL", "", 1300, 190, t0+10)).Blocked {
			allowed++
		}
	}
	if allowed != 4 { // 4 × $247,000 = $988,000
		t.Fatalf("%d panic orders allowed, want 4", allowed)
	}
	wantBlock(t, decide(e, ord("78", "AAPL", "", 1e9, 190, t0+10)), KindMaxOrderQty, "ACCOUNT:78 max_order_qty=100000", 1e9)
	wantBlock(t, decide(e, ord("78", "AAPL", "", 1, 285, t0+10)), KindCollar, "SYMBOL:AAPL collar_pct=10", 50)
}

// Credit resets at the trading day's boundary, in its time zone, daylight
// saving included.
func TestCreditTradingDay(t *testing.T) {
	c := bare()
	c.TimeZone = "America/New_York"
	c.DayStart = 17 * time.Hour
	c.Defaults.Account.CreditLimit = 1000
	e := newEngine(t, c)
	ny, _ := time.LoadLocation("America/New_York")
	at := func(y int, m time.Month, d, h, mi, s, ms int) int64 {
		return time.Date(y, m, d, h, mi, s, ms*1e6, ny).UnixMilli()
	}
	// 2024-03-08 16:59:59.999 ET belongs to the day that began on the 7th
	// at 17:00; 17:00:00.000 begins the next.
	wantPass(t, decide(e, ord("a", "S", "", 6, 100, at(2024, 3, 8, 16, 59, 59, 0))))
	r := decide(e, ord("a", "S", "", 6, 100, at(2024, 3, 8, 16, 59, 59, 999)))
	wantBlock(t, r, KindCreditLimit, "ACCOUNT:a credit_limit=1000/day", 1200)
	wantPass(t, decide(e, ord("a", "S", "", 6, 100, at(2024, 3, 8, 17, 0, 0, 0))))
	wantPass(t, decide(e, ord("a", "S", "", 4, 100, at(2024, 3, 9, 9, 0, 0, 0))))
	wantBlock(t, decide(e, ord("a", "S", "", 0.01, 1, at(2024, 3, 9, 10, 0, 0, 0))), KindCreditLimit, "ACCOUNT:a credit_limit=1000/day", 1000.01)
	// Across the switch to daylight saving (Sunday 2024-03-10 02:00 EST →
	// 03:00 EDT) the day still ends at 17:00 local time, now EDT.
	wantPass(t, decide(e, ord("a", "S", "", 9, 100, at(2024, 3, 10, 16, 59, 0, 0))))
	wantBlock(t, decide(e, ord("a", "S", "", 2, 100, at(2024, 3, 10, 16, 59, 30, 0))), KindCreditLimit, "ACCOUNT:a credit_limit=1000/day", 1100)
	wantPass(t, decide(e, ord("a", "S", "", 9, 100, at(2024, 3, 10, 17, 0, 0, 0))))
}

func TestCreditWarnings(t *testing.T) {
	c := bare()
	c.Defaults.Account.CreditLimit = 1000
	e := newEngine(t, c)
	for _, tc := range []struct {
		notional float64
		warn     int
		used     float64
	}{{400, 0, 400}, {100, 50, 500}, {200, 0, 700}, {100, 75, 800}, {150, 90, 950}, {50, 0, 1000}} {
		o := ord("a", "S", "", 1, tc.notional, t0)
		r, warn := e.Decide(&o, 0, 0)
		wantPass(t, r)
		if warn != tc.warn || r.CreditUsed != tc.used || r.CreditLimit != 1000 {
			t.Fatalf("order of %v: warning %d used %v of %v, want %d at %v", tc.notional, warn, r.CreditUsed, r.CreditLimit, tc.warn, tc.used)
		}
	}
	// One order crossing several thresholds reports the highest.
	o := ord("b", "S", "", 1, 950, t0)
	if _, warn := e.Decide(&o, 0, 0); warn != 90 {
		t.Fatalf("warning %d, want 90", warn)
	}
}

// SYMBOL, STRATEGY and GLOBAL caps are split by partition share; ACCOUNT
// caps are not.
func TestPartitionShare(t *testing.T) {
	c := bare()
	c.Defaults.Symbol.MaxOrders = 10
	c.Defaults.Account.MaxOrders = 5
	e := newEngine(t, c)
	e.SetPartitionShare(1, 3)
	for range 3 {
		wantPass(t, decide(e, ord("x", "S", "", 1, 1, t0)))
	}
	wantBlock(t, decide(e, ord("y", "S", "", 1, 1, t0)), KindMaxOrders, "SYMBOL:S max_orders=3/60s (10 across the group)", 4)
	for i := range 5 {
		wantPass(t, decide(e, ord("a", fmt.Sprint("T", i), "", 1, 1, t0)))
	}
	wantBlock(t, decide(e, ord("a", "T9", "", 1, 1, t0)), KindMaxOrders, "ACCOUNT:a max_orders=5/60s", 6)
	// Overrides are split too, and a new share applies at once.
	override(t, e, "SYMBOL:U", 1, domain.LimitValues{MaxOrders: i64(4)})
	e.SetPartitionShare(2, 3)
	wantPass(t, decide(e, ord("b", "U", "", 1, 1, t0)))
	wantPass(t, decide(e, ord("c", "U", "", 1, 1, t0)))
	wantBlock(t, decide(e, ord("d", "U", "", 1, 1, t0)), KindMaxOrders, "SYMBOL:U max_orders=2/60s (4 across the group)", 3)
	wantPass(t, decide(e, ord("y", "S", "", 1, 1, t0))) // 6 of 10 now
	e.SetPartitionShare(0, 0)
	wantPass(t, decide(e, ord("d", "U", "", 1, 1, t0)))
}

func TestOverrides(t *testing.T) {
	c := Default()
	e := newEngine(t, c)
	override(t, e, "ACCOUNT:mm", 5, domain.LimitValues{MaxOrders: i64(500)})
	if ok, err := e.ApplyLimits(domain.LimitsRecord{Scope: "ACCOUNT:mm", Version: 5, Limits: domain.LimitValues{MaxOrders: i64(1)}}); ok || err != nil {
		t.Fatalf("a record of the same version was applied: %v %v", ok, err)
	}
	l, v := e.Effective("ACCOUNT:mm")
	want := c.Defaults.Account
	want.MaxOrders = 500
	if l != want || v != 5 {
		t.Fatalf("effective %+v v%d", l, v)
	}
	// Above the ceiling: clamped, and counted.
	override(t, e, "ACCOUNT:mm", 6, domain.LimitValues{MaxOrders: i64(1_000_000), CreditLimit: f64(1)})
	if l, _ := e.Effective("ACCOUNT:mm"); l.MaxOrders != 1000 || l.CreditLimit != 1 {
		t.Fatalf("effective %+v", l)
	}
	if s := e.Stats(); s.Clamped != 1 || s.Stale != 1 || s.Overrides != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Above the ceiling with a second operator's approval: as approved.
	if ok, err := e.ApplyLimits(domain.LimitsRecord{Scope: "ACCOUNT:mm", Version: 7, ApprovedBy: "bob",
		Limits: domain.LimitValues{MaxOrders: i64(5000)}}); !ok || err != nil {
		t.Fatalf("approved record: %v %v", ok, err)
	}
	if l, _ := e.Effective("ACCOUNT:mm"); l.MaxOrders != 5000 {
		t.Fatalf("approved beyond the ceiling: effective max_orders %d, want 5000", l.MaxOrders)
	}
	if s := e.Stats(); s.Clamped != 1 {
		t.Fatalf("approved record counted as clamped: %+v", s)
	}
	// Invalid records are refused.
	if _, err := e.ApplyLimits(domain.LimitsRecord{Scope: "ACCOUNT:x", Version: 1, Limits: domain.LimitValues{Restricted: yes()}}); err == nil ||
		!strings.Contains(err.Error(), "SYMBOL scopes only") {
		t.Fatalf("error %v", err)
	}
	e.DeleteLimits("ACCOUNT:mm")
	if l, v := e.Effective("ACCOUNT:mm"); l != c.Defaults.Account || v != 0 {
		t.Fatalf("after tombstone %+v v%d", l, v)
	}
}

// Check counts nothing; only Commit does, once.
func TestCheckDoesNotCount(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrders = 1
	e := newEngine(t, c)
	o := ord("a", "S", "", 1, 1, t0)
	for range 3 {
		wantPass(t, e.Check(&o, 0, 0))
	}
	r := e.Check(&o, 0, 0)
	e.Commit(&r)
	e.Commit(&r)
	wantBlock(t, e.Check(&o, 0, 0), KindMaxOrders, "ACCOUNT:a max_orders=1/60s", 2)
	o.AccountID = "b"
	wantPass(t, e.Check(&o, 0, 0))
}

// An order stamped ahead of the clock counts at the clock plus the skew; one
// stamped in the past counts at the newest time already counted.
func TestTimeClamps(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrders = 1
	c.Defaults.Account.WindowSeconds = 5
	e := newEngine(t, c)
	far := ord("a", "S", "", 1, 1, t0+3_600_000)
	r, _ := e.Decide(&far, 0, t0)
	wantPass(t, r)
	// Counted at t0+2s, so it fills the window until t0+7s.
	o := ord("a", "S", "", 1, 1, t0+6_999)
	r, _ = e.Decide(&o, 0, t0+6_999)
	wantBlock(t, r, KindMaxOrders, "ACCOUNT:a max_orders=1/5s", 2)
	o.TS = t0 + 7_000
	r, _ = e.Decide(&o, 0, t0+7_000)
	wantPass(t, r)
	// A late order cannot slip into a past second.
	o = ord("a", "S", "", 1, 1, t0)
	r, _ = e.Decide(&o, 0, t0+7_000)
	wantBlock(t, r, KindMaxOrders, "ACCOUNT:a max_orders=1/5s", 2)
}

func TestAppendLimit(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Blocked: true, Kind: KindMaxOrders, ScopeType: domain.ScopeAccount, ScopeID: "12345", Limit: 100, GroupLimit: 100, WindowSeconds: 60},
			"ACCOUNT:12345 max_orders=100/60s"},
		{Result{Blocked: true, Kind: KindMaxNotional, ScopeType: domain.ScopeGlobal, Limit: 333333.3333, GroupLimit: 1e6, WindowSeconds: 60},
			"GLOBAL max_notional=333333.3333/60s (1000000 across the group)"},
		{Result{Blocked: true, Kind: KindCreditLimit, ScopeType: domain.ScopeAccount, ScopeID: "a", Limit: 2.5e7, GroupLimit: 2.5e7},
			"ACCOUNT:a credit_limit=25000000/day"},
		{Result{Blocked: true, Kind: KindRestricted, ScopeType: domain.ScopeSymbol, ScopeID: "X"}, "SYMBOL:X restricted"},
		{Result{}, ""},
	} {
		if got := tc.r.LimitName(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	r := Result{Blocked: true, Kind: KindMaxOrders, ScopeType: domain.ScopeAccount, ScopeID: "12345", Limit: 100, GroupLimit: 100, WindowSeconds: 60}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendLimit(buf[:0]) }); n != 0 {
		t.Errorf("AppendLimit allocates %v", n)
	}
	for _, k := range Kinds() {
		if k.String() == "" || k.String() == "unknown" {
			t.Errorf("kind %d has no name", k)
		}
	}
}

// Once its scopes exist, checking and committing an order allocates
// nothing.
func TestCheckAndCommitDoNotAllocate(t *testing.T) {
	e := newEngine(t, Default())
	ref(t, e, "AAPL", 190, t0)
	o := ord("a", "AAPL", "VWAP", 1, 190, t0)
	e.Decide(&o, 0, t0)
	e.BeginTxn()
	ts := t0
	n := testing.AllocsPerRun(1000, func() {
		ts += 1000 // a new second each time, so buckets come and go
		o.TS = ts
		r := e.Check(&o, 0, ts)
		e.Commit(&r)
		e.EndTxn()
		e.BeginTxn()
	})
	if n != 0 {
		t.Fatalf("%v allocations per order", n)
	}
}

// A window made longer counts only the history kept for the shorter one:
// buckets that had left the old window are gone, and the new window fills
// from the change on.
func TestLongerWindow(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrders = 2
	c.Defaults.Account.WindowSeconds = 2
	e := newEngine(t, c)
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0)))
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0)))
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0+3000))) // second 0 leaves and is dropped
	override(t, e, "ACCOUNT:a", 1, domain.LimitValues{WindowSeconds: i64(10)})
	wantPass(t, decide(e, ord("a", "S", "", 1, 1, t0+4000)))
	wantBlock(t, decide(e, ord("a", "S", "", 1, 1, t0+5000)), KindMaxOrders, "ACCOUNT:a max_orders=2/10s", 3)
}

// What Touch and a check read of a scope sits in the first cache line of
// its key (the check hash, the pointer to the limits in force and the
// sums), what a commit reads besides in the second, and a key's size is a
// size class of whole lines, so every key starts on a line.
func TestKeyLayout(t *testing.T) {
	var k key
	if size := unsafe.Sizeof(resolved{}); size > 64 {
		t.Errorf("the checked limits take %d bytes", size)
	}
	if off := unsafe.Offsetof(k.set.r); off != 0 {
		t.Errorf("a limitSet's checked limits at byte %d, want 0", off)
	}
	// What Touch and a check read: the first line.
	if end := unsafe.Offsetof(k.agg) + unsafe.Offsetof(k.agg.b); end > prefetch.LineSize {
		t.Errorf("the checked fields of a key end at byte %d", end)
	}
	// What a commit reads besides: the second line.
	for name, end := range map[string]uintptr{
		"agg":    unsafe.Offsetof(k.agg) + unsafe.Sizeof(k.agg), // with its first bucket
		"typ":    unsafe.Offsetof(k.typ) + unsafe.Sizeof(k.typ),
		"single": unsafe.Offsetof(k.single) + 1,
		"ref":    unsafe.Offsetof(k.ref) + unsafe.Sizeof(k.ref),
	} {
		if end > 2*prefetch.LineSize {
			t.Errorf("the committed field %s of a key ends at byte %d", name, end)
		}
	}
	// Three whole lines: Go places objects of a 192-byte size class at
	// multiples of 192, so every key starts on a line.
	if size := unsafe.Sizeof(k); size != 3*prefetch.LineSize {
		t.Errorf("a key takes %d bytes, want 192", size)
	}
	if size := unsafe.Sizeof(slot{}); 64%size != 0 {
		t.Errorf("an index slot takes %d bytes", size)
	}
}

// Scopes overridden alike share one set of limits, each still named with
// its own record's version; changing or deleting one scope's override
// leaves the others' as they were, and the partition share scales a shared
// set for each of its scopes.
func TestOverridesShareLimits(t *testing.T) {
	e := newEngine(t, bare())
	tier := domain.LimitValues{MaxOrders: i64(2)}
	override(t, e, "SYMBOL:A", 3, tier)
	override(t, e, "SYMBOL:B", 5, tier)
	override(t, e, "SYMBOL:C", 1, domain.LimitValues{MaxOrders: i64(4)})
	if len(e.sets) != 2 {
		t.Fatalf("%d limit sets for two kinds of override", len(e.sets))
	}
	for _, sc := range []struct {
		sym     string
		version int64
	}{{"A", 3}, {"B", 5}} {
		wantPass(t, decide(e, ord("a", sc.sym, "", 1, 1, t0)))
		wantPass(t, decide(e, ord("a", sc.sym, "", 1, 1, t0)))
		r := decide(e, ord("a", sc.sym, "", 1, 1, t0))
		wantBlock(t, r, KindMaxOrders, "SYMBOL:"+sc.sym+" max_orders=2/60s", 3)
		if r.Version != sc.version {
			t.Errorf("SYMBOL:%s blocked under version %d, want %d", sc.sym, r.Version, sc.version)
		}
	}
	// B's override changes; A keeps the tier.
	override(t, e, "SYMBOL:B", 6, domain.LimitValues{MaxOrders: i64(10)})
	wantPass(t, decide(e, ord("a", "B", "", 1, 1, t0)))
	wantBlock(t, decide(e, ord("a", "A", "", 1, 1, t0)), KindMaxOrders, "SYMBOL:A max_orders=2/60s", 3)
	if l, v := e.Effective("SYMBOL:A"); l.MaxOrders != 2 || v != 3 {
		t.Errorf("SYMBOL:A's effective limits %+v version %d, want max_orders 2 version 3", l, v)
	}
	// A back to the defaults (none here): the tier's set is gone.
	e.DeleteLimits("SYMBOL:A")
	wantPass(t, decide(e, ord("a", "A", "", 1, 1, t0)))
	if len(e.sets) != 2 {
		t.Errorf("%d limit sets held for B's and C's overrides", len(e.sets))
	}
	// D shares B's set; at one partition of two each is held to 5.
	override(t, e, "SYMBOL:D", 1, domain.LimitValues{MaxOrders: i64(10)})
	e.SetPartitionShare(1, 2)
	for _, sc := range []struct {
		sym  string
		used int
	}{{"B", 3}, {"D", 0}} {
		for i := sc.used; i < 5; i++ {
			wantPass(t, decide(e, ord("a", sc.sym, "", 1, 1, t0)))
		}
		r := decide(e, ord("a", sc.sym, "", 1, 1, t0))
		if !r.Blocked || r.Kind != KindMaxOrders || r.Limit != 5 || r.GroupLimit != 10 {
			t.Errorf("SYMBOL:%s's 6th order at half the partitions: %+v, want blocked at 5 of 10", sc.sym, r)
		}
	}
	// A record not newer changes nothing; with the last override gone,
	// no set is held.
	if ok, err := e.ApplyLimits(domain.LimitsRecord{Scope: "SYMBOL:D", Limits: tier, Version: 1}); ok || err != nil {
		t.Fatalf("a record of the version held applied: %v %v", ok, err)
	}
	for _, s := range []domain.Scope{"SYMBOL:B", "SYMBOL:C", "SYMBOL:D"} {
		e.DeleteLimits(s)
	}
	if len(e.sets) != 0 || e.Stats().Overrides != 0 {
		t.Errorf("%d limit sets and %d overrides held after every override was deleted", len(e.sets), e.Stats().Overrides)
	}
}

// Limits and reference records are applied by their reader while one
// goroutine decides orders, a lock per call or with the engine held (run
// with -race).
func TestConcurrentApply(t *testing.T) {
	e := newEngine(t, Default())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			s := domain.Scope(fmt.Sprint("ACCOUNT:", i%50))
			if _, err := e.ApplyLimits(domain.LimitsRecord{Scope: s, Version: int64(i + 1), Limits: domain.LimitValues{MaxOrders: i64(int64(1 + i%7))}}); err != nil {
				t.Error(err)
				return
			}
			if _, err := e.ApplyReference(domain.RefPrice{Symbol: fmt.Sprint("S", i%20), Price: 100, TS: t0 + int64(i)}); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 0 {
				e.DeleteLimits(s)
				e.SetPartitionShare(1+i%3, 3)
				_ = e.Stats()
			}
		}
	}()
	e.BeginTxn()
	var buf []byte
	for i := 0; ; i++ {
		select {
		case <-done:
			e.EndTxn()
			return
		default:
		}
		o := ord(fmt.Sprint(i%60), fmt.Sprint("S", i%25), "", 1, 100, t0+int64(i))
		var p Prepared
		e.Prepare(&o, &p)
		if i%2 == 0 {
			e.Touch([]Prepared{p})
			r := e.CheckPrepared(&o, &p, int32(i%3), t0+int64(i))
			e.Commit(&r)
		} else { // as the router decides a chunk
			e.Hold([]Prepared{p})
			r := e.CheckHeld(&o, &p, int32(i%3), t0+int64(i))
			e.CommitHeld(&r)
			e.Release()
		}
		if i%50 == 0 {
			buf = e.AppendChanges(buf[:0], int32(i%3))
			e.EndTxn()
			e.BeginTxn()
		}
	}
}
