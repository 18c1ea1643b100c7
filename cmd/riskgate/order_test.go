package main

import (
	"strings"
	"testing"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// TestBlockValue: riskgate order says what a BLOCK's value means for every
// kind of limit, reading the limit's name as the router writes it (a
// window cap split among a group's routers included).
func TestBlockValue(t *testing.T) {
	want := map[limits.Kind]string{
		limits.KindMaxOrderQty:      "the order's quantity is 1500000",
		limits.KindMaxOrderNotional: "the order's notional is 1500000",
		limits.KindCollar:           "the order's price is 1500000 % from the reference price",
		limits.KindMaxRefAge:        "the reference price is 1500000 s old",
		limits.KindMaxOrders:        "the order would have made it 1500000 orders in the window",
		limits.KindMaxNotional:      "the order would have made it 1500000 of notional in the window",
		limits.KindCreditLimit:      "the order would have made it 1500000 of gross notional today",
	}
	for _, k := range limits.Kinds() {
		r := limits.Result{Blocked: true, Kind: k, ScopeType: domain.ScopeSymbol, ScopeID: "AAPL",
			Limit: 333, GroupLimit: 1000, Value: 1.5e6, WindowSeconds: 60}
		name := r.LimitName()
		got := blockValue(name, r.Value)
		if w, ok := want[k]; ok && got != w {
			t.Errorf("%s: %q, want %q", name, got, w)
		}
		if _, ok := want[k]; !ok && k.Valued() {
			t.Errorf("%s (%s) has a value and no wording in this test", name, k)
		}
		if strings.Contains(got, "e+") {
			t.Errorf("%s: %q writes the value in exponent form", name, got)
		}
	}
	if got := blockValue("GLOBAL some_new_limit=5", 7); got != "value 7" {
		t.Errorf("an unknown limit: %q, want \"value 7\"", got)
	}
}

// TestBlockCondition: riskgate order explains the BLOCKs that name a
// condition rather than a value where the name alone does not.
func TestBlockCondition(t *testing.T) {
	for limit, want := range map[string]string{
		"ACCOUNT:12345 unreadable_limits":  "the scope's latest risk.limits.v1 record could not be read",
		"SYMBOL:AAPL unreadable_reference": "the symbol's latest marketdata.ref.v1 record could not be read",
		"SYMBOL:GME restricted":            "",
		"GLOBAL unrestored_usage":          "a limits usage record of the router's changelog could not be restored",
	} {
		got := blockCondition(limit)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", limit, got, want)
		}
	}
}
