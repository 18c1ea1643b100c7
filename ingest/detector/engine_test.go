package detector

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// recSink records what an engine reports.
type recSink struct {
	breaches []domain.BreachSignal
	normals  []domain.NormalSignal
	risks    []domain.RiskSignal
}

func (s *recSink) Breach(b domain.BreachSignal) { s.breaches = append(s.breaches, b) }
func (s *recSink) Normal(n domain.NormalSignal) { s.normals = append(s.normals, n) }
func (s *recSink) Risk(rs *domain.RiskSignal) {
	c := *rs
	c.Breaches = append([]domain.Breach(nil), rs.Breaches...)
	s.risks = append(s.risks, c)
}

func (s *recSink) breachScopes() []string {
	var out []string
	for _, b := range s.breaches {
		out = append(out, string(b.Scope)+"/"+b.Rule)
	}
	return out
}

// states is a StatusFunc backed by a map.
type states map[domain.Scope]domain.State

func (m states) get(s domain.Scope) (domain.State, bool) { st, ok := m[s]; return st, ok }

func oneRule(r Rule) Rules {
	return Rules{Rules: []Rule{r}}
}

func countRule(d domain.ScopeType, w time.Duration, th float64) Rule {
	return Rule{Name: "r", Dimension: d, Window: w, Metric: MetricCount, Threshold: th, Action: domain.ActionKill}
}

func newTestEngine(t *testing.T, r Rules, st states) (*Engine, *recSink) {
	t.Helper()
	s := &recSink{}
	var f StatusFunc
	if st != nil {
		f = st.get
	}
	e, err := NewEngine(r, s, f)
	if err != nil {
		t.Fatal(err)
	}
	return e, s
}

func obs(ts int64, acct, sym string) *Observation {
	return &Observation{TS: ts, Notional: 100 * NotionalScale, Account: acct, Symbol: sym, Strategy: "S1",
		OrderID: fmt.Sprintf("o-%s-%d", acct, ts)}
}

const t0 = int64(1_700_000_000_000) // a whole second

func TestBreachOnCrossingOrder(t *testing.T) {
	tests := []struct {
		name      string
		threshold float64
		orders    int
		wantAt    int // 1-based order that breaches; 0 = none
	}{
		{"default 100 breaches on the 101st", 100, 150, 101},
		{"exactly at threshold is not a breach", 100, 100, 0},
		{"threshold 0 breaches on the first", 0, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, tc.threshold)), nil)
			at := 0
			for i := range tc.orders {
				e.ObserveAll(obs(t0+int64(i)*10, "A1", "AAPL"), 0, true)
				if at == 0 && len(s.breaches) > 0 {
					at = i + 1
				}
			}
			if at != tc.wantAt {
				t.Fatalf("breach at order %d, want %d", at, tc.wantAt)
			}
			if tc.wantAt > 0 && len(s.breaches) != 1 {
				t.Fatalf("%d breach signals, want 1 per incident: %v", len(s.breaches), s.breachScopes())
			}
		})
	}
}

// A burst that stops is still detected: the original design waited for a
// tumbling window to close, which never happened when orders stopped.
func TestBurstThatStopsIsDetected(t *testing.T) {
	e, s := newTestEngine(t, Rules{}, nil) // defaults
	for i := range 101 {
		e.ObserveAll(obs(t0+int64(i)*20, "12345", "AAPL"), 0, true)
	}
	// No more orders, no tick: the breach must already be out.
	if len(s.breaches) == 0 {
		t.Fatal("burst not detected on its crossing order")
	}
	b := s.breaches[0]
	if b.Scope != "ACCOUNT:12345" {
		t.Fatalf("breach scope %s", b.Scope)
	}
}

func TestSlidingWindowExpires(t *testing.T) {
	e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 100)), nil)
	// 100 orders in second 0, then 1 order at second 60: the first hundred
	// have left the window (it covers seconds 1..60), so no breach.
	for range 100 {
		e.ObserveAll(obs(t0, "A", "X"), 0, true)
	}
	e.ObserveAll(obs(t0+60_000, "A", "X"), 0, true)
	if len(s.breaches) != 0 {
		t.Fatalf("breach after the window slid: %v", s.breachScopes())
	}
	// At second 59 they are all still inside.
	e2, s2 := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 100)), nil)
	for range 100 {
		e2.ObserveAll(obs(t0, "A", "X"), 0, true)
	}
	e2.ObserveAll(obs(t0+59_999, "A", "X"), 0, true)
	if len(s2.breaches) != 1 {
		t.Fatalf("no breach with 101 orders inside 60 s")
	}
}

func shareRule(th float64, minOrders int) Rule {
	return Rule{Name: "share", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: MetricTopSymbolShare,
		Threshold: th, MinOrders: minOrders, Action: domain.ActionKill}
}

// The original design scored one order as a 100 % concentration and named
// the alphabetically last symbol as the top one.
func TestTopSymbolShare(t *testing.T) {
	type order struct {
		sym string
		n   int
	}
	tests := []struct {
		name      string
		orders    []order
		minOrders int
		wantTop   string
		wantShare float64
		breach    bool
	}{
		{"one order is not a 100% concentration", []order{{"AAPL", 1}}, 20, "AAPL", 1, false},
		{"19 orders all one symbol are under min_orders", []order{{"AAPL", 19}}, 20, "AAPL", 1, false},
		{"20 orders all one symbol breach", []order{{"AAPL", 20}}, 20, "AAPL", 1, true},
		{"most frequent, not alphabetically last", []order{{"AAPL", 16}, {"ZM", 5}}, 20, "AAPL", 16.0 / 21, true},
		{"under the share", []order{{"AAPL", 14}, {"ZM", 7}}, 20, "AAPL", 14.0 / 21, false},
		{"top changes hands", []order{{"ZM", 5}, {"AAPL", 3}, {"MSFT", 12}, {"AAPL", 10}}, 20, "AAPL", 13.0 / 30, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s := newTestEngine(t, oneRule(shareRule(0.7, tc.minOrders)), nil)
			ts := t0
			for _, o := range tc.orders {
				for range o.n {
					ts++
					e.ObserveAll(obs(ts, "A", o.sym), 0, true)
				}
			}
			k := e.lookup(dimAccount, "A", 0, false)
			sym, c, _ := k.share[0].top()
			top, share := e.symName[sym], float64(c)/float64(k.win[0].count)
			if top != tc.wantTop || share != tc.wantShare {
				t.Fatalf("top %s %.4f, want %s %.4f", top, share, tc.wantTop, tc.wantShare)
			}
			if got := len(s.breaches) > 0; got != tc.breach {
				t.Fatalf("breach %v, want %v", got, tc.breach)
			}
		})
	}
}

// An order belongs to the window iff its second is one of the window's
// seconds: (clock second − W, clock second].
func TestBucketBoundaries(t *testing.T) {
	for _, w := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute} {
		W := w.Milliseconds()
		tests := []struct {
			name    string
			second  int64 // ts of the second order, relative to the first at t0
			wantCnt int64
		}{
			{"same second", 999, 2},
			{"last millisecond of the window's last second", W - 1, 2},
			{"first millisecond after the window", W, 1},
			{"well past", 2 * W, 1},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprint(w, "/", tc.name), func(t *testing.T) {
				e, _ := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, w, 1e9)), nil)
				e.ObserveAll(obs(t0, "A", "X"), 0, true)
				e.ObserveAll(obs(t0+tc.second, "A", "X"), 0, true)
				k := e.lookup(dimAccount, "A", 0, false)
				if got := k.win[0].count; got != tc.wantCnt {
					t.Fatalf("count %d, want %d", got, tc.wantCnt)
				}
			})
		}
	}
}

func TestOncePerIncident(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	tests := []struct {
		name  string
		state *domain.State
		want  int
	}{
		{"no state: one incident, resent every 10 s while nothing shows it handled", nil, 3},
		// The workflow may hold a normal from before this incident; the
		// breach makes it forget it, and is not resent while KILLED.
		{"already KILLED (operator or earlier incident): signalled once", &domain.State{Scope: acct, Status: domain.StatusKilled, Version: 3}, 1},
		{"THROTTLED on probation: a KILL breach is signalled", &domain.State{Scope: acct, Status: domain.StatusThrottled, MaxRatePerSecond: 1, Version: 3}, 1},
		{"ACTIVE since before the breach: signalled, resent while unhandled", &domain.State{Scope: acct, Status: domain.StatusActive, Version: 3}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := states{}
			if tc.state != nil {
				st[acct] = *tc.state
			}
			e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
			for i := range 500 {
				e.ObserveAll(obs(t0+int64(i)*50, "A", "X"), 0, true)
			}
			if len(s.breaches) != tc.want {
				t.Fatalf("%d breach signals, want %d", len(s.breaches), tc.want)
			}
			for _, b := range s.breaches {
				if b.CmdID != s.breaches[0].CmdID || b.CorrID != s.breaches[0].CorrID {
					t.Fatalf("a resent breach has cmd_id %s corr_id %s, want the first's %s %s", b.CmdID, b.CorrID, s.breaches[0].CmdID, s.breaches[0].CorrID)
				}
			}
		})
	}
}

// TestBreachResentUntilHandled: a breach whose delivery was lost (Temporal
// unreachable) is sent again while the scope stays in breach, and stops as
// soon as the state topic shows the workflow handled it — including an
// operator's release, which must not be undone by a resend.
func TestBreachResentUntilHandled(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	for _, tc := range []struct {
		name    string
		handled func(breachTS int64) domain.State
	}{
		{"killed", func(int64) domain.State {
			return domain.State{Scope: acct, Status: domain.StatusKilled, Version: 2}
		}},
		{"released by an operator after the breach", func(ts int64) domain.State {
			return domain.State{Scope: acct, Status: domain.StatusActive, UpdatedTS: ts + 500, Version: 3}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := states{}
			e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
			ts := t0
			for len(s.breaches) < 2 {
				e.ObserveAll(obs(ts, "A", "X"), 0, true)
				ts += 50
				if ts > t0+60_000 {
					t.Fatal("an unhandled breach was never resent")
				}
			}
			if gap := s.breaches[1].TS - s.breaches[0].TS; gap < 10_000 {
				t.Fatalf("resent after %d ms, want at least 10 s", gap)
			}
			st[acct] = tc.handled(s.breaches[0].TS)
			for range 1000 {
				e.ObserveAll(obs(ts, "A", "X"), 0, true)
				ts += 50
			}
			if len(s.breaches) != 2 {
				t.Fatalf("%d breach signals after the state showed it handled, want no more than 2", len(s.breaches))
			}
		})
	}
}

func TestEscalationAndNewIncident(t *testing.T) {
	r := Rules{NormalAfter: 2 * time.Minute, Rules: []Rule{
		{Name: "slow", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: MetricCount, Threshold: 5,
			Action: domain.ActionThrottle, MaxRatePerSecond: 1},
		{Name: "fast", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: MetricCount, Threshold: 20,
			Action: domain.ActionKill},
	}}
	e, s := newTestEngine(t, r, nil)
	ts := t0
	for range 30 { // crosses slow (THROTTLE) then fast (KILL)
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if got := s.breachScopes(); len(got) != 2 || got[0] != "ACCOUNT:A/slow" || got[1] != "ACCOUNT:A/fast" {
		t.Fatalf("breaches %v, want the throttle then its escalation to kill", got)
	}
	if s.breaches[0].Action != domain.ActionThrottle || s.breaches[0].MaxRatePerSecond != 1 ||
		s.breaches[1].Action != domain.ActionKill || s.breaches[0].CorrID != s.breaches[1].CorrID ||
		s.breaches[0].CmdID == s.breaches[1].CmdID {
		t.Fatalf("escalation fields wrong: %+v", s.breaches)
	}
	// Quiet for the window plus normal_after: the incident closes. A new
	// crossing is a new incident with a new corr_id.
	ts += 61_000
	e.ObserveAll(obs(ts, "A", "X"), 0, true)
	ts += 121_000
	e.ObserveAll(obs(ts, "A", "X"), 0, true)
	for range 6 {
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if len(s.breaches) != 3 || s.breaches[2].CorrID == s.breaches[0].CorrID {
		t.Fatalf("want a new incident after normal: %v", s.breachScopes())
	}
}

func TestNormalAfter(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	tests := []struct {
		name       string
		status     domain.Status
		quietFor   time.Duration
		wantNormal int
	}{
		{"killed, quiet long enough: normal", domain.StatusKilled, 60*time.Second + 2*time.Minute, 1},
		{"killed, not quiet long enough: nothing", domain.StatusKilled, 60*time.Second + 2*time.Minute - 2*time.Second, 0},
		{"throttled, quiet long enough: normal", domain.StatusThrottled, 5 * time.Minute, 1},
		{"active (operator released it): closed without a normal", domain.StatusActive, 5 * time.Minute, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := states{}
			e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
			ts := t0
			for range 20 {
				ts += 100
				e.ObserveAll(obs(ts, "A", "X"), 0, true)
			}
			if len(s.breaches) != 1 {
				t.Fatalf("no breach")
			}
			st[acct] = domain.State{Scope: acct, Status: tc.status, MaxRatePerSecond: 1, Version: 7}
			// The orders stop; ticks move time on.
			for at := ts; at <= ts+tc.quietFor.Milliseconds(); at += 1000 {
				e.Tick(at, nil)
			}
			if len(s.normals) != tc.wantNormal {
				t.Fatalf("%d normals, want %d", len(s.normals), tc.wantNormal)
			}
			if tc.wantNormal > 0 && s.normals[0].Scope != acct {
				t.Fatalf("normal for %s", s.normals[0].Scope)
			}
			// Later ticks report a killed or throttled scope normal exactly once.
			for at := ts + tc.quietFor.Milliseconds(); at <= ts+tc.quietFor.Milliseconds()+5*60_000; at += 1000 {
				e.Tick(at, nil)
			}
			want := 1
			if tc.status == domain.StatusActive {
				want = 0
			}
			if len(s.normals) != want {
				t.Fatalf("%d normals after more ticks, want %d", len(s.normals), want)
			}
		})
	}
}

// A scope killed by an operator is adopted and reported normal once it has
// been quiet for normal_after, so auto-unkill can proceed.
func TestAdoptOperatorKill(t *testing.T) {
	acct := domain.Scope("ACCOUNT:B")
	st := states{acct: {Scope: acct, Status: domain.StatusKilled, Version: 4}}
	e, s := newTestEngine(t, Rules{}, st)
	e.Adopt(st[acct], 0, t0)
	for at := t0; at <= t0+3*60_000; at += 1000 {
		e.Tick(at, nil)
		e.Adopt(st[acct], 0, at)
	}
	if len(s.normals) != 1 || len(s.breaches) != 0 {
		t.Fatalf("normals %d breaches %d, want 1 and 0", len(s.normals), len(s.breaches))
	}
}

// While rebuilding nothing is signalled; afterwards an incident is sent
// again (same cmd_id) unless an operator released the scope after it: a
// KILLED scope's workflow may have been told normal since.
func TestRebuildDoesNotRefire(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	tests := []struct {
		name  string
		state *domain.State
		want  int
	}{
		{"killed by the incident: sent again", &domain.State{Scope: acct, Status: domain.StatusKilled, Version: 2}, 1},
		{"released by an operator after the breach: adopted", &domain.State{Scope: acct, Status: domain.StatusActive, Version: 3, UpdatedTS: t0 + 60_000}, 0},
		{"no trace of the incident: signalled", nil, 1},
		{"active since before the breach: signalled", &domain.State{Scope: acct, Status: domain.StatusActive, Version: 1, UpdatedTS: t0 - 3_600_000}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := states{}
			if tc.state != nil {
				st[acct] = *tc.state
			}
			e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
			ts := t0
			for range 20 {
				ts += 100
				e.ObserveAll(obs(ts, "A", "X"), 0, false)
			}
			if len(s.breaches) != 0 || len(s.risks) != 0 {
				t.Fatal("signalled while rebuilding")
			}
			ts += 100
			e.ObserveAll(obs(ts, "A", "X"), 0, true)
			if len(s.breaches) != tc.want {
				t.Fatalf("%d breaches after the rebuild, want %d", len(s.breaches), tc.want)
			}
		})
	}
}

func TestRiskSignalsOncePerSecond(t *testing.T) {
	e, s := newTestEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 50)), nil)
	for i := range 100 { // 100 orders over 5 seconds, breaching at the 51st
		e.ObserveAll(obs(t0+int64(i)*50, "A", "X"), 0, true)
	}
	// seconds 0..4 once each, plus one at the breach
	if len(s.risks) != 6 {
		t.Fatalf("%d risk signals, want 6", len(s.risks))
	}
	var withBreach int
	for _, r := range s.risks {
		if len(r.Breaches) > 0 {
			withBreach++
		}
		if r.WindowMS != 60_000 || r.WindowEnd-r.WindowStart != 60_000 || r.Scope != "ACCOUNT:A" {
			t.Fatalf("bad risk signal %+v", r)
		}
	}
	if withBreach == 0 {
		t.Fatal("no risk signal carries the breach")
	}
}

func TestEvictionAndDropPartition(t *testing.T) {
	r := oneRule(countRule(domain.ScopeAccount, time.Minute, 1e9))
	r.IdleAfter = 2 * time.Minute
	e, _ := newTestEngine(t, r, nil)
	e.ObserveAll(obs(t0, "A", "X"), 0, true)
	e.ObserveAll(obs(t0, "B", "X"), 1, true)
	e.ObserveAll(obs(t0+100_000, "C", "X"), 1, true)
	e.Tick(t0+121_000, nil) // A and B idle for > 2 min, C not
	if e.Keys() != 1 || e.lookup(dimAccount, "C", 0, false) == nil {
		t.Fatalf("keys after eviction: %d", e.Keys())
	}
	e.DropPartition(1, false)
	if e.Keys() != 0 {
		t.Fatalf("keys after dropping partition 1: %d", e.Keys())
	}
	// A recycled key starts empty.
	e.ObserveAll(obs(t0+200_000, "D", "X"), 0, true)
	if k := e.lookup(dimAccount, "D", 0, false); k.win[0].count != 1 || k.scope != "ACCOUNT:D" {
		t.Fatalf("recycled key not reset: %+v", k.win)
	}
}

func TestZScore(t *testing.T) {
	z := Rule{Name: "z", Dimension: domain.ScopeAccount, Window: time.Minute, Metric: MetricZScore, Threshold: 3,
		MinOrders: 20, MinHistory: 10 * time.Minute, Action: domain.ActionThrottle, MaxRatePerSecond: 5}
	e, s := newTestEngine(t, oneRule(z), nil)
	ts := t0 - t0%60_000
	// 30 minutes of 10 or 12 orders a minute: mean 11, σ 1.
	for m := range 30 {
		n := 10 + 2*(m%2)
		for i := range n {
			e.ObserveAll(obs(ts+int64(m)*60_000+int64(i)*1000, "A", "X"), 0, true)
		}
	}
	if len(s.breaches) != 0 {
		t.Fatalf("breach on steady flow: %v", s.breachScopes())
	}
	// Minute 30: 20 orders is z = 9 > 3 once min_orders is reached.
	for i := range 20 {
		e.ObserveAll(obs(ts+30*60_000+int64(i)*100, "A", "X"), 0, true)
		if len(s.breaches) > 0 && i < 19 {
			t.Fatalf("breach before min_orders at order %d", i+1)
		}
	}
	if len(s.breaches) != 1 || s.breaches[0].Value != 9 {
		t.Fatalf("breaches %+v, want one at z=9", s.breaches)
	}
}
