package router

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

func state(scope domain.Scope, status domain.Status, version int64) domain.State {
	st := domain.State{Scope: scope, Status: status, Version: version, CorrID: "corr-" + string(scope), Reason: "test"}
	if status == domain.StatusThrottled {
		st.MaxRatePerSecond = 10
	}
	return st
}

func order(acct, sym, strat string) domain.Order {
	return domain.Order{OrderID: "o1", TS: 1, AccountID: acct, Symbol: sym, Side: domain.Buy, Qty: 1, Price: 1, Strategy: strat}
}

func TestDecidePrecedence(t *testing.T) {
	const (
		acct  = domain.Scope("ACCOUNT:A1")
		sym   = domain.Scope("SYMBOL:AAPL")
		strat = domain.Scope("STRATEGY:S1")
	)
	killed, throttled, active := domain.StatusKilled, domain.StatusThrottled, domain.StatusActive
	tests := []struct {
		name    string
		states  []domain.State
		cancel  bool
		known   bool // the CANCEL's order was ALLOWed within the dedup window
		noStrat bool
		want    domain.Decision
		scope   domain.Scope
		matches int
	}{
		{name: "empty table allows", want: domain.DecisionAllow},
		{name: "active scopes allow", states: []domain.State{state(acct, active, 1), state(domain.Global, active, 1)}, want: domain.DecisionAllow},
		{name: "killed account drops", states: []domain.State{state(acct, killed, 1)}, want: domain.DecisionDrop, scope: acct, matches: 1},
		{name: "killed symbol drops", states: []domain.State{state(sym, killed, 1)}, want: domain.DecisionDrop, scope: sym, matches: 1},
		{name: "killed strategy drops", states: []domain.State{state(strat, killed, 1)}, want: domain.DecisionDrop, scope: strat, matches: 1},
		{name: "killed global drops", states: []domain.State{state(domain.Global, killed, 1)}, want: domain.DecisionDrop, scope: domain.Global, matches: 1},
		{name: "most general killed scope named: global over account",
			states: []domain.State{state(acct, killed, 1), state(domain.Global, killed, 1), state(sym, killed, 1)},
			want:   domain.DecisionDrop, scope: domain.Global, matches: 3},
		{name: "most general killed scope named: account over symbol",
			states: []domain.State{state(strat, killed, 1), state(sym, killed, 1), state(acct, killed, 1)},
			want:   domain.DecisionDrop, scope: acct, matches: 3},
		{name: "kill beats throttle even when the throttle is more general",
			states: []domain.State{state(domain.Global, throttled, 1), state(strat, killed, 1)},
			want:   domain.DecisionDrop, scope: strat, matches: 2},
		{name: "empty throttle bucket throttles", states: []domain.State{state(sym, throttled, 1)}, want: domain.DecisionThrottle, scope: sym, matches: 1},
		{name: "cancel of an allowed order passes a kill", states: []domain.State{state(domain.Global, killed, 1), state(acct, killed, 1)}, cancel: true, known: true, want: domain.DecisionAllow, matches: 2},
		{name: "cancel of an allowed order passes a throttle", states: []domain.State{state(sym, throttled, 1)}, cancel: true, known: true, want: domain.DecisionAllow, matches: 1},
		{name: "other cancel rejected by the most general kill", states: []domain.State{state(acct, killed, 1), state(domain.Global, killed, 1)}, cancel: true, want: domain.DecisionReject, scope: domain.Global, matches: 2},
		{name: "other cancel rejected by a kill before a throttle", states: []domain.State{state(domain.Global, throttled, 1), state(strat, killed, 1)}, cancel: true, want: domain.DecisionReject, scope: strat, matches: 2},
		{name: "other cancel rejected by a throttle", states: []domain.State{state(sym, throttled, 1)}, cancel: true, want: domain.DecisionReject, scope: sym, matches: 1},
		{name: "other cancel passes where nothing applies", states: []domain.State{state("ACCOUNT:B2", killed, 1), state(acct, active, 1)}, cancel: true, want: domain.DecisionAllow},
		{name: "other account unaffected", states: []domain.State{state("ACCOUNT:B2", killed, 1)}, want: domain.DecisionAllow},
		{name: "strategy kill does not match an order without strategy", states: []domain.State{state(strat, killed, 1)}, noStrat: true, want: domain.DecisionAllow},
		{name: "same id, other type, unaffected", states: []domain.State{state("SYMBOL:A1", killed, 1)}, want: domain.DecisionAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			tab := NewTable(func() time.Time { return now })
			for _, st := range tt.states {
				tab.ApplyState(st)
			}
			o := order("A1", "AAPL", "S1")
			if tt.noStrat {
				o.Strategy = ""
			}
			if tt.cancel {
				o.Type = domain.OrderCancel
			}
			v := tab.Decide(&o, now.UnixNano(), tt.known)
			if v.Decision != tt.want {
				t.Fatalf("decision = %s, want %s (reason %q)", v.Decision, tt.want, v.Reason)
			}
			if tt.want == domain.DecisionDrop || tt.want == domain.DecisionThrottle || tt.want == domain.DecisionReject {
				if v.Scope != tt.scope {
					t.Errorf("deciding scope = %s, want %s", v.Scope, tt.scope)
				}
				if v.CorrID != "corr-"+string(tt.scope) {
					t.Errorf("corr_id = %q, want the deciding scope's", v.CorrID)
				}
				if v.Version != 1 {
					t.Errorf("version = %d, want 1", v.Version)
				}
			}
			if v.NMatches != tt.matches {
				t.Errorf("matches = %v, want %d of them", v.Matches[:v.NMatches], tt.matches)
			}
			for i := 1; i < v.NMatches; i++ {
				if rank(v.Matches[i-1]) >= rank(v.Matches[i]) {
					t.Errorf("matches %v are not most general first", v.Matches[:v.NMatches])
				}
			}
		})
	}
}

func rank(s domain.Scope) int {
	for i, t := range domain.ScopeTypes {
		if s.Type() == t {
			return i
		}
	}
	return -1
}

func TestDecideReasons(t *testing.T) {
	tab := NewTable(nil)
	st := state("ACCOUNT:A1", domain.StatusKilled, 3)
	st.Reason = "order count 150 > 100 in 1m"
	tab.ApplyState(st)
	o := order("A1", "AAPL", "")
	v := tab.Decide(&o, time.Now().UnixNano(), false)
	if want := "ACCOUNT:A1 KILLED: order count 150 > 100 in 1m"; v.Reason != want {
		t.Errorf("reason = %q, want %q", v.Reason, want)
	}
	if v.Status != domain.StatusKilled {
		t.Errorf("status = %s, want KILLED", v.Status)
	}
}

func TestVersionOrdering(t *testing.T) {
	tab := NewTable(nil)
	s := domain.Scope("ACCOUNT:A1")
	tab.ApplyState(state(s, domain.StatusKilled, 5))
	tab.ApplyState(state(s, domain.StatusActive, 4)) // older: ignored
	tab.ApplyState(state(s, domain.StatusActive, 5)) // same: ignored
	if st, v, _ := tab.Lookup(s); st != domain.StatusKilled || v != 5 {
		t.Fatalf("after stale records: %s v%d, want KILLED v5", st, v)
	}
	if got := tab.Stale(); got != 2 {
		t.Errorf("stale = %d, want 2", got)
	}
	tab.ApplyState(state(s, domain.StatusActive, 6))
	if st, v, _ := tab.Lookup(s); st != domain.StatusActive || v != 6 {
		t.Fatalf("after newer record: %s v%d, want ACTIVE v6", st, v)
	}
	o := order("A1", "X", "")
	if d := tab.Decide(&o, 1, false).Decision; d != domain.DecisionAllow {
		t.Errorf("decision after unkill = %s, want ALLOW", d)
	}
}

func TestTombstone(t *testing.T) {
	tab := NewTable(nil)
	for _, s := range []domain.Scope{domain.Global, "ACCOUNT:A1", "SYMBOL:X", "STRATEGY:S"} {
		tab.ApplyState(state(s, domain.StatusKilled, 9))
	}
	if tab.Len() != 4 {
		t.Fatalf("len = %d, want 4", tab.Len())
	}
	o := order("A1", "X", "S")
	for _, s := range []domain.Scope{domain.Global, "ACCOUNT:A1", "SYMBOL:X", "STRATEGY:S"} {
		if d := tab.Decide(&o, 1, false).Decision; d != domain.DecisionDrop {
			t.Fatalf("before tombstone of %s: %s, want DROP", s, d)
		}
		tab.DeleteState(s)
	}
	if d := tab.Decide(&o, 1, false).Decision; d != domain.DecisionAllow {
		t.Errorf("after tombstones: %s, want ALLOW", d)
	}
	if tab.Len() != 0 {
		t.Errorf("len = %d, want 0", tab.Len())
	}
	tab.DeleteState("ACCOUNT:never") // unknown scope: no-op
	// A scope re-created after its tombstone starts over, whatever version.
	tab.ApplyState(state("ACCOUNT:A1", domain.StatusKilled, 1))
	if d := tab.Decide(&o, 1, false).Decision; d != domain.DecisionDrop {
		t.Errorf("after re-creation: %s, want DROP", d)
	}
}

// TestThrottleAccuracy offers 50 orders/s to a 10/s scope for 10 s on a fake
// clock and expects 100 ± 10 ALLOWs.
func TestThrottleAccuracy(t *testing.T) {
	tests := []struct {
		name         string
		rate         float64
		offered      int // per second
		seconds      int
		wantAllowed  int
		wantPlusMinu int
	}{
		{"10/s scope, 50/s offered", 10, 50, 10, 100, 10},
		{"10/s scope, 5/s offered passes all but the first", 10, 5, 10, 49, 0},
		{"0.5/s scope", 0.5, 20, 20, 10, 1},
		{"1000/s scope, 5000/s offered", 1000, 5000, 10, 10000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1_700_000_000, 0)
			tab := NewTable(func() time.Time { return start })
			st := state("SYMBOL:X", domain.StatusThrottled, 1)
			st.MaxRatePerSecond = tt.rate
			tab.ApplyState(st)
			o := order("A1", "X", "")
			allowed := 0
			n := tt.offered * tt.seconds
			step := time.Second / time.Duration(tt.offered)
			for i := range n {
				now := start.Add(time.Duration(i) * step)
				switch v := tab.Decide(&o, now.UnixNano(), false); v.Decision {
				case domain.DecisionAllow:
					allowed++
				case domain.DecisionThrottle:
				default:
					t.Fatalf("unexpected %s", v.Decision)
				}
			}
			if d := allowed - tt.wantAllowed; d < -tt.wantPlusMinu || d > tt.wantPlusMinu {
				t.Errorf("allowed %d of %d, want %d ± %d", allowed, n, tt.wantAllowed, tt.wantPlusMinu)
			}
		})
	}
}

func TestThrottleBurstAndRateChange(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tab := NewTable(func() time.Time { return now })
	tab.ApplyState(state("ACCOUNT:A1", domain.StatusThrottled, 1)) // 10/s
	o := order("A1", "X", "")
	decideN := func(at time.Time, n int) (allowed int) {
		for range n {
			if tab.Decide(&o, at.UnixNano(), false).Decision == domain.DecisionAllow {
				allowed++
			}
		}
		return allowed
	}
	if got := decideN(now, 5); got != 0 {
		t.Errorf("a new throttle allowed %d at once, want 0 (empty bucket)", got)
	}
	// After a long idle time the bucket holds one second of rate, no more.
	now = now.Add(time.Minute)
	if got := decideN(now, 50); got != 10 {
		t.Errorf("after idling, burst allowed %d, want 10", got)
	}
	// A lower rate caps the bucket at the new burst.
	now = now.Add(time.Minute)
	st := state("ACCOUNT:A1", domain.StatusThrottled, 2)
	st.MaxRatePerSecond = 2
	tab.ApplyState(st)
	if got := decideN(now, 50); got != 2 {
		t.Errorf("after a rate cut, burst allowed %d, want 2", got)
	}
}

// TestThrottleNeedsEveryBucket checks that an order under two throttles
// needs a token from each, names the most general empty one, and takes no
// token when it is throttled.
func TestThrottleNeedsEveryBucket(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tab := NewTable(func() time.Time { return now })
	sym := state("SYMBOL:X", domain.StatusThrottled, 1)
	sym.MaxRatePerSecond = 100
	acct := state("ACCOUNT:A1", domain.StatusThrottled, 1)
	acct.MaxRatePerSecond = 1
	tab.ApplyState(sym)
	tab.ApplyState(acct)
	now = now.Add(10 * time.Second) // both buckets full: 100 and 1
	o := order("A1", "X", "")
	v := tab.Decide(&o, now.UnixNano(), false)
	if v.Decision != domain.DecisionAllow || v.Scope != "ACCOUNT:A1" {
		t.Fatalf("first order: %s via %s, want ALLOW via ACCOUNT:A1", v.Decision, v.Scope)
	}
	v = tab.Decide(&o, now.UnixNano(), false)
	if v.Decision != domain.DecisionThrottle || v.Scope != "ACCOUNT:A1" {
		t.Fatalf("second order: %s by %s, want THROTTLE by ACCOUNT:A1", v.Decision, v.Scope)
	}
	// The symbol bucket gave one token only: another account gets 99.
	other := order("B2", "X", "")
	allowed := 0
	for range 200 {
		if tab.Decide(&other, now.UnixNano(), false).Decision == domain.DecisionAllow {
			allowed++
		}
	}
	if allowed != 99 {
		t.Errorf("symbol bucket allowed %d more, want 99", allowed)
	}
}

func TestDecideAllocatesNothing(t *testing.T) {
	tab := benchTable(1000, false)
	orders := benchOrders(64)
	now := time.Now().UnixNano()
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		_ = tab.Decide(&orders[i%len(orders)], now, false)
		i++
	})
	if allocs != 0 {
		t.Errorf("Decide allocates %.1f times per call, want 0", allocs)
	}
}

// benchTable builds a table of n scopes: mostly ACTIVE accounts, with
// killed and throttled accounts, symbols and strategies among them. With
// allHot every scope is KILLED or THROTTLED.
func benchTable(n int, allHot bool) *Table {
	tab := NewTable(nil)
	for i := range n {
		var s domain.Scope
		switch i % 10 {
		case 0:
			s = domain.Scope(fmt.Sprintf("SYMBOL:SYM%d", i))
		case 1:
			s = domain.Scope(fmt.Sprintf("STRATEGY:strat-%d", i))
		default:
			s = domain.Scope(fmt.Sprintf("ACCOUNT:%08d", i))
		}
		status := domain.StatusActive
		switch {
		case i%7 == 3 || allHot && i%2 == 0:
			status = domain.StatusKilled
		case i%7 == 5 || allHot:
			status = domain.StatusThrottled
		}
		tab.ApplyState(state(s, status, int64(i+1)))
	}
	return tab
}

func benchOrders(n int) []domain.Order {
	out := make([]domain.Order, n)
	for i := range out {
		out[i] = order(fmt.Sprintf("%08d", i*37%100000), fmt.Sprintf("SYM%d", i*10), fmt.Sprintf("strat-%d", i*10+1))
	}
	return out
}

// BenchmarkDecide decides orders against a table of 100,000 scopes: mixed
// (a realistic table, mostly ACTIVE scopes with killed and throttled ones of
// every type) and all-hot (every scope KILLED or THROTTLED, the worst case).
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		name   string
		allHot bool
	}{{"mixed", false}, {"all-hot", true}} {
		b.Run(bc.name, func(b *testing.B) {
			tab := benchTable(100_000, bc.allHot)
			orders := benchOrders(4096)
			now := time.Now().UnixNano()
			b.ReportAllocs()
			cpu := cpuTime()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				_ = tab.Decide(&orders[i&4095], now, false)
				i++
			}
			b.StopTimer()
			reportCPU(b, cpu)
		})
	}
}

func TestLatencyHistogram(t *testing.T) {
	h := newLatencyHistogram("x", "x")
	for _, ns := range []int64{0, 100, 101, 200, 201, 3_276_800, 3_276_801, 1e9} {
		h.observe(ns)
	}
	h.flush()
	// 0 and 100 → ≤100ns; 101, 200 → ≤200ns; 201 → ≤400ns; 3,276,800 → the
	// last finite bucket; above it → +Inf.
	want := [latencyBuckets + 1]uint64{0: 2, 1: 2, 2: 1, 15: 1, 16: 2}
	if h.counts != want {
		t.Errorf("counts = %v, want %v", h.counts, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { h.observe(1234) }); allocs != 0 {
		t.Errorf("observe allocates %v", allocs)
	}
}

// TestTouchWhileStatesChange touches and decides chunks while another
// goroutine kills and restores scopes (growing, shrinking and rebuilding
// the hot indexes): under -race, Touch reads the table under its lock.
func TestTouchWhileStatesChange(t *testing.T) {
	tab := NewTable(nil)
	eng, err := limits.New(limits.Default())
	if err != nil {
		t.Fatal(err)
	}
	orders := make([]domain.Order, 64)
	ps := make([]limits.Prepared, len(orders))
	for i := range orders {
		orders[i] = order(fmt.Sprintf("A%d", i), fmt.Sprintf("S%d", i), fmt.Sprintf("T%d", i))
		eng.Prepare(&orders[i], &ps[i])
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := range int64(2000) {
			status := domain.StatusKilled
			if v%3 == 0 {
				status = domain.StatusActive
			}
			tab.ApplyState(state(domain.Scope(fmt.Sprintf("ACCOUNT:A%d", v%64)), status, v+1))
			tab.ApplyState(state(domain.Scope(fmt.Sprintf("SYMBOL:S%d", v%64)), status, v+1))
		}
	}()
	drops := 0
	for round, running := 0, true; running; round++ {
		select {
		case <-done:
			running = false
		default:
		}
		// Touch and a lock per decision, or the chunk held (as the
		// router decides), in turn.
		held := round%2 == 1
		if held {
			tab.Hold(ps)
		} else {
			tab.Touch(ps)
		}
		for i := range ps {
			var v Verdict
			if held {
				tab.DecideHeld(&v, &orders[i], &ps[i].IDs, 0, false, false)
			} else {
				tab.DecideHashed(&v, &orders[i], &ps[i].IDs, 0, false, false)
			}
			if v.Decision == domain.DecisionDrop {
				drops++
			}
		}
		if held {
			tab.Release()
		}
	}
	if drops == 0 {
		t.Error("no order was dropped: the kills were not seen")
	}
}

// DecideHashed, which the router calls with the ids limits.Prepare hashed,
// decides every order as DecideLimited does with the ids themselves: the
// kill table and the limits engine hash scope ids with the same seeds. And
// Touch, which the router calls on each chunk first, changes no decision;
// nor does deciding with the table held (Hold, DecideHeld, Release).
func TestDecideHashedAgrees(t *testing.T) {
	NewTable(nil).Touch(make([]limits.Prepared, 3)) // an empty table
	tabs := [3]*Table{NewTable(nil), NewTable(nil), NewTable(nil)}
	for i := range 300 {
		s := domain.Scope(fmt.Sprintf("ACCOUNT:A%d", i))
		switch i % 3 {
		case 1:
			s = domain.Scope(fmt.Sprintf("SYMBOL:S%d", i))
		case 2:
			s = domain.Scope(fmt.Sprintf("STRATEGY:T%d", i))
		}
		status := []domain.Status{domain.StatusKilled, domain.StatusThrottled, domain.StatusActive}[i%7%3]
		for _, tab := range tabs {
			tab.ApplyState(state(s, status, 1))
		}
	}
	eng, err := limits.New(limits.Default())
	if err != nil {
		t.Fatal(err)
	}
	decisions := map[domain.Decision]int{}
	for i := range 3000 {
		o := order(fmt.Sprintf("A%d", i%310), fmt.Sprintf("S%d", i*7%320), fmt.Sprintf("T%d", i*13%330))
		if i%5 == 0 {
			o.Strategy = ""
		}
		if i%11 == 0 {
			o.Type = domain.OrderCancel
		}
		var p limits.Prepared
		eng.Prepare(&o, &p)
		now := int64(i) * int64(time.Millisecond)
		limited := i%4 == 0
		want := tabs[0].DecideLimited(&o, now, i%2 == 0, limited)
		var got Verdict
		// Touch (with a Prepared of no ids beside) changes no decision.
		tabs[1].Touch([]limits.Prepared{p, {}})
		tabs[1].DecideHashed(&got, &o, &p.IDs, now, i%2 == 0, limited)
		if got != want {
			t.Fatalf("order %d %+v: DecideHashed %+v, DecideLimited %+v", i, o, got, want)
		}
		tabs[2].Hold([]limits.Prepared{p})
		tabs[2].DecideHeld(&got, &o, &p.IDs, now, i%2 == 0, limited)
		tabs[2].Release()
		if got != want {
			t.Fatalf("order %d %+v: DecideHeld %+v, DecideLimited %+v", i, o, got, want)
		}
		decisions[got.Decision]++
	}
	for _, d := range []domain.Decision{domain.DecisionAllow, domain.DecisionDrop, domain.DecisionThrottle, domain.DecisionBlock, domain.DecisionReject} {
		if decisions[d] == 0 {
			t.Errorf("no order was decided %s: %v", d, decisions)
		}
	}
}
