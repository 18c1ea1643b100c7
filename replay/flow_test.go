package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
)

// t0 is the start of the generated flows.
var t0 = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC).UnixMilli()

// knownFlow is a generated day-in-miniature with outcomes known by
// construction:
//   - a runaway account R1: 40 orders 100 ms apart from t0+10s over eight
//     symbols, $1,000 each (r1-1 … r1-40);
//   - a symbol pile-in: 50 accounts P00 … P49 buy PILE once each, 200 ms
//     apart from t0+70s, $1,000 each (pile-1 … pile-50);
//   - quiet accounts: Q1 sends 8 orders 7 s apart from t0 (q1-1 … q1-8),
//     Q2 … Q5 four each, 15 s apart, all on QSYM.
func knownFlow() []domain.Order {
	var out []domain.Order
	add := func(id string, ts int64, acct, sym string, qty, price float64) {
		out = append(out, domain.Order{OrderID: id, TS: ts, AccountID: acct, Symbol: sym, Side: domain.Buy,
			Qty: qty, Price: price, Strategy: "MANUAL", Type: domain.OrderNew})
	}
	for i := range 40 {
		add(fmt.Sprint("r1-", i+1), t0+10_000+int64(i)*100, "R1", fmt.Sprint("S", i%8), 10, 100)
	}
	for i := range 50 {
		add(fmt.Sprint("pile-", i+1), t0+70_000+int64(i)*200, fmt.Sprintf("P%02d", i), "PILE", 5, 200)
	}
	for i := range 8 {
		add(fmt.Sprint("q1-", i+1), t0+int64(i)*7_000, "Q1", "QSYM", 1, 50)
	}
	for q := 2; q <= 5; q++ {
		for i := range 4 {
			add(fmt.Sprintf("q%d-%d", q, i+1), t0+1_000*int64(q)+int64(i)*15_000, fmt.Sprint("Q", q), "QSYM", 1, 50)
		}
	}
	slices.SortStableFunc(out, func(a, b domain.Order) int { return cmpInt(a.TS, b.TS) })
	return out
}

// baseRules: more than 10 orders per account or 30 per symbol in 60 s kill.
const baseRules = `
rules:
  - name: account_count_1m
    dimension: ACCOUNT
    window: 1m
    metric: count
    threshold: 10
    action: KILL
  - name: symbol_count_1m
    dimension: SYMBOL
    window: 1m
    metric: count
    threshold: 30
    action: KILL
`

// tightRules lowers the account rule to 6 orders.
const tightRules = `
rules:
  - name: account_count_1m
    dimension: ACCOUNT
    window: 1m
    metric: count
    threshold: 6
    action: KILL
  - name: symbol_count_1m
    dimension: SYMBOL
    window: 1m
    metric: count
    threshold: 30
    action: KILL
`

func parseRules(t testing.TB, name, doc string) detector.Rules {
	t.Helper()
	r, err := detector.ParseRules(name, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// jsonl encodes orders one per line.
func jsonl(t testing.TB, orders []domain.Order) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range orders {
		line, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// byScope finds a scope's line of the report.
func byScope(t testing.TB, res *Result, s domain.Scope) *ScopeResult {
	t.Helper()
	for i := range res.Scopes {
		if res.Scopes[i].Scope == s {
			return &res.Scopes[i]
		}
	}
	t.Fatalf("%s is not in the report; scopes: %v", s, scopeNames(res))
	return nil
}

func scopeNames(res *Result) []domain.Scope {
	var out []domain.Scope
	for _, s := range res.Scopes {
		out = append(out, s.Scope)
	}
	return out
}
