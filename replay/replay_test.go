package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

func replayBytes(t testing.TB, cfg Config, input []byte, end int64) *Result {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ReadJSONL(context.Background(), bytes.NewReader(input), r, nil); err != nil {
		t.Fatal(err)
	}
	res := r.Finish(end)
	res.Source = "test"
	return res
}

// TestKnownOutcome replays the generated flow against the base rules: the
// runaway account and the piled-into symbol are killed on exactly the
// orders that cross their lines, every later order of theirs is dropped
// with its notional, and the quiet accounts are left alone.
func TestKnownOutcome(t *testing.T) {
	flow := knownFlow()
	res := replayBytes(t, Config{Rules: parseRules(t, "base", baseRules)}, jsonl(t, flow), 0)

	if got := scopeNames(res); len(got) != 2 {
		t.Fatalf("scopes %v, want ACCOUNT:R1 and SYMBOL:PILE only", got)
	}
	cases := []struct {
		scope     domain.Scope
		rule      string
		order     string
		ts        int64
		value     float64
		threshold float64
		dropped   int64
		notional  float64
	}{
		{"ACCOUNT:R1", "account_count_1m", "r1-11", t0 + 10_000 + 1_000, 11, 10, 29, 29_000},
		{"SYMBOL:PILE", "symbol_count_1m", "pile-31", t0 + 70_000 + 30*200, 31, 30, 19, 19_000},
	}
	for i, c := range cases {
		s := byScope(t, res, c.scope)
		if res.Scopes[i].Scope != c.scope {
			t.Errorf("scope %d is %s, want %s (ordered by first breach)", i, res.Scopes[i].Scope, c.scope)
		}
		b := s.Candidate.FirstBreach
		if b == nil {
			t.Fatalf("%s: no breach", c.scope)
		}
		if b.Source != "rule" || b.Rule != c.rule || b.OrderID != c.order || b.TS.UnixMilli() != c.ts ||
			b.Value != c.value || b.Threshold != c.threshold || b.Metric != "count" || b.Window != "1m" || b.Action != domain.ActionKill {
			t.Errorf("%s first breach %+v, want %s on %s at %d, %v > %v", c.scope, *b, c.rule, c.order, c.ts, c.value, c.threshold)
		}
		if s.Candidate.Kills != 1 || s.Candidate.Incidents != 1 {
			t.Errorf("%s: %d kills, %d incidents, want 1 and 1", c.scope, s.Candidate.Kills, s.Candidate.Incidents)
		}
		if s.Candidate.Dropped != c.dropped || s.Candidate.DroppedNotional != c.notional {
			t.Errorf("%s dropped %d orders, notional %v; want %d and %v", c.scope, s.Candidate.Dropped,
				s.Candidate.DroppedNotional, c.dropped, c.notional)
		}
		iv := s.Candidate.Intervals
		if len(iv) != 1 || iv[0].Status != domain.StatusKilled || iv[0].From.UnixMilli() != c.ts || !iv[0].Ongoing {
			t.Errorf("%s intervals %+v, want KILLED from %d, still held", c.scope, iv, c.ts)
		}
	}
	if res.Counts.Orders != int64(len(flow)) || res.Counts.Bad != 0 || res.Counts.Late != 0 {
		t.Errorf("counts %+v, want %d orders, none bad or late", res.Counts, len(flow))
	}
	if tt := res.Totals; tt.CandidateKills != 2 || tt.CandidateDropped != 48 || tt.CandidateNotional != 48_000 {
		t.Errorf("totals %+v", tt)
	}
	if res.Actual || res.Scopes[0].Actual != nil {
		t.Error("a file replay claims to know what actually happened")
	}
}

// TestNoKillsReportsBreachesOnly: with --no-kills the same breaches are
// reported and nothing is killed or dropped.
func TestNoKillsReportsBreachesOnly(t *testing.T) {
	res := replayBytes(t, Config{Rules: parseRules(t, "base", baseRules), NoKills: true}, jsonl(t, knownFlow()), 0)
	s := byScope(t, res, "ACCOUNT:R1")
	if b := s.Candidate.FirstBreach; b == nil || b.OrderID != "r1-11" {
		t.Fatalf("first breach %+v, want r1-11", b)
	}
	if s.Candidate.Kills != 0 || s.Candidate.Dropped != 0 || s.Candidate.Incidents != 1 || res.Totals.CandidateDropped != 0 {
		t.Errorf("no-kills outcome %+v, want one incident, no kill, nothing dropped", s.Candidate)
	}
	if res.Policy != "" || !res.NoKills {
		t.Errorf("policy %q no_kills %v", res.Policy, res.NoKills)
	}
}

// TestBadLinesAreCountedNotFatal: broken JSON, an invalid order, a line
// longer than the reader takes and a CANCEL are in the file; the bad ones
// are counted and listed by line number, the rest is replayed.
func TestBadLinesAreCountedNotFatal(t *testing.T) {
	flow := knownFlow()
	lines := strings.Split(strings.TrimSuffix(string(jsonl(t, flow)), "\n"), "\n")
	var in []string
	in = append(in, lines[:3]...)
	in = append(in, `{"order_id": "broken"`)                                                             // line 4
	in = append(in, "")                                                                                  // line 5: blank, skipped
	in = append(in, `{"order_id":"no-qty","ts":1,"account_id":"A","symbol":"X","side":"BUY","price":1}`) // line 6
	in = append(in, `{"order_id":"`+strings.Repeat("x", maxLine+10)+`"}`)                                // line 7: too long
	cancel := flow[3]
	cancel.OrderID, cancel.Type = "c-1", domain.OrderCancel
	b, _ := json.Marshal(cancel)
	in = append(in, string(b)) // line 8
	in = append(in, lines[3:]...)
	res := replayBytes(t, Config{Rules: parseRules(t, "base", baseRules)}, []byte(strings.Join(in, "\r\n")), 0)

	if res.Counts.Bad != 3 {
		t.Fatalf("bad %d, want 3: %+v", res.Counts.Bad, res.BadInputs)
	}
	for i, want := range []string{"line 4", "line 6", "line 7"} {
		if res.BadInputs[i].Where != want || res.BadInputs[i].Error == "" {
			t.Errorf("bad input %d: %+v, want %s with its error", i, res.BadInputs[i], want)
		}
	}
	if !strings.Contains(res.BadInputs[1].Error, "qty") || !strings.Contains(res.BadInputs[2].Error, "longer than") {
		t.Errorf("errors do not say what is wrong: %+v", res.BadInputs)
	}
	if res.Counts.Orders != int64(len(flow))+1 || res.Counts.Cancels != 1 {
		t.Errorf("counts %+v: want every valid order and the cancel", res.Counts)
	}
	if b := byScope(t, res, "ACCOUNT:R1").Candidate.FirstBreach; b == nil || b.OrderID != "r1-11" {
		t.Errorf("the flow around the bad lines is not replayed as before: %+v", b)
	}
	var out bytes.Buffer
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 bad inputs skipped") || !strings.Contains(out.String(), "line 6: invalid order") {
		t.Errorf("table does not list the bad lines:\n%s", out.String())
	}
}

// TestKillLifecycle: a runaway killed, quiet, reported normal, is released
// after the cooldown through probation; a second burst during a second
// probation kills it again with the cooldown doubled, as the workflow does.
func TestKillLifecycle(t *testing.T) {
	burst := func(prefix string, start int64, n int) []domain.Order {
		var out []domain.Order
		for i := range n {
			out = append(out, domain.Order{OrderID: fmt.Sprint(prefix, i+1), TS: start + int64(i)*100, AccountID: "R1",
				Symbol: "S", Side: domain.Buy, Qty: 1, Price: 10})
		}
		return out
	}
	b1 := t0
	killed1 := b1 + 10*100 // the 11th order
	cool := 5 * time.Minute
	prob := 2 * time.Minute
	// The second burst comes during the probation of the first kill.
	b2 := killed1 + cool.Milliseconds() + 30_000
	killed2 := b2 + 10*100
	flow := append(burst("a-", b1, 20), burst("b-", b2, 20)...)
	end := killed2 + 11*time.Minute.Milliseconds()
	cfg := Config{Rules: parseRules(t, "base", baseRules), Settings: workflows.Settings{Cooldown: cool, Probation: prob, ProbationRate: 2}}
	res := replayBytes(t, cfg, jsonl(t, flow), end)

	s := byScope(t, res, "ACCOUNT:R1")
	want := []Interval{
		{Status: domain.StatusKilled, From: time.UnixMilli(killed1), To: time.UnixMilli(killed1 + cool.Milliseconds())},
		{Status: domain.StatusThrottled, From: time.UnixMilli(killed1 + cool.Milliseconds()), To: time.UnixMilli(killed2)},
		{Status: domain.StatusKilled, From: time.UnixMilli(killed2), To: time.UnixMilli(killed2 + 2*cool.Milliseconds())},
	}
	got := s.Candidate.Intervals
	if len(got) < 3 {
		t.Fatalf("intervals %+v, want at least %+v", got, want)
	}
	for i, w := range want {
		if got[i].Status != w.Status || !got[i].From.Equal(w.From) || !got[i].To.Equal(w.To) {
			t.Errorf("interval %d: %s %v – %v, want %s %v – %v", i, got[i].Status, got[i].From.UnixMilli(), got[i].To.UnixMilli(),
				w.Status, w.From.UnixMilli(), w.To.UnixMilli())
		}
	}
	if s.Candidate.Kills != 2 || s.Candidate.Incidents != 2 {
		t.Errorf("%d kills, %d incidents; want 2 and 2", s.Candidate.Kills, s.Candidate.Incidents)
	}
	// The probation's 2 orders/s throttle some of the second burst before
	// the re-kill; after it every order is dropped.
	if s.Candidate.Throttled == 0 || s.Candidate.Dropped != 9+9 {
		t.Errorf("throttled %d, dropped %d; want some throttled and 18 dropped (9 of each burst)", s.Candidate.Throttled, s.Candidate.Dropped)
	}
}

// TestMemoryFollowsLiveKeys: 3,000 accounts, each active for about a
// minute over three hours; the detector's keys held stay near the accounts
// live at once, not the accounts ever seen.
func TestMemoryFollowsLiveKeys(t *testing.T) {
	r, err := New(Config{Rules: parseRules(t, "base", baseRules)})
	if err != nil {
		t.Fatal(err)
	}
	const accounts, perAccount = 3000, 8
	var flow []domain.Order
	for a := range accounts {
		start := t0 + int64(a)*3_600 // a new account every 3.6 s
		for i := range perAccount {
			flow = append(flow, domain.Order{OrderID: fmt.Sprint(a, "-", i), TS: start + int64(i)*8_000,
				AccountID: fmt.Sprint("A", a), Symbol: fmt.Sprint("S", a%500), Side: domain.Buy, Qty: 1, Price: 10})
		}
	}
	slices.SortStableFunc(flow, func(a, b domain.Order) int { return cmpInt(a.TS, b.TS) })
	for i := range flow {
		r.Order(&flow[i], 0)
	}
	res := r.Finish(0)
	t.Logf("%d orders, %d accounts: at most %d keys held", res.Counts.Orders, accounts, res.Counts.KeysPeak)
	if res.Counts.KeysPeak > 400 {
		t.Errorf("%d keys held at most for %d accounts live ~10 at a time: memory follows the input", res.Counts.KeysPeak, accounts)
	}
	if len(res.Scopes) != 0 {
		t.Errorf("%d scopes breached (%s first); no account sends more than 10 orders a minute", len(res.Scopes), res.Scopes[0].Scope)
	}
	if res.Counts.Orders != accounts*perAccount {
		t.Errorf("%d orders replayed, want %d", res.Counts.Orders, accounts*perAccount)
	}
}

// TestFatFingerCountsAtTheCap: a replay counts an order's notional as the
// detector does, at most the rules' max_order_notional, so one fat-finger
// order breaches its account's notional rule and not its symbol's; with
// max_order_notional none it breaches both.
func TestFatFingerCountsAtTheCap(t *testing.T) {
	const rules = `
%s
rules:
  - {name: account_notional_1m, dimension: ACCOUNT, window: 1m, metric: notional, threshold: 1000000}
  - {name: symbol_notional_1m, dimension: SYMBOL, window: 1m, metric: notional, threshold: 50000000}
`
	fat := []domain.Order{{OrderID: "fat-1", AccountID: "F1", Symbol: "NVDA", Strategy: "S", Side: domain.Buy,
		Qty: 1e9, Price: 120, TS: t0}}
	for _, c := range []struct {
		line string
		want []domain.Scope
	}{
		{"", []domain.Scope{"ACCOUNT:F1"}},
		{"max_order_notional: none", []domain.Scope{"ACCOUNT:F1", "SYMBOL:NVDA"}},
	} {
		res := replayBytes(t, Config{Rules: parseRules(t, "fat", fmt.Sprintf(rules, c.line))}, jsonl(t, fat), 0)
		got := scopeNames(res)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: scopes %v, want %v", c.line, got, c.want)
		}
	}
}
