package domain

import "testing"

// SplitLimit reads the scope and the limit from an audit record's Limit as
// the router writes it, and keeps a field without a scope whole.
func TestSplitLimit(t *testing.T) {
	for _, c := range []struct {
		in    string
		scope Scope
		limit string
	}{
		{"ACCOUNT:12345 max_orders=100/60s", "ACCOUNT:12345", "max_orders=100/60s"},
		{"SYMBOL:AAPL max_orders=333/60s (1000 across the group)", "SYMBOL:AAPL", "max_orders=333/60s (1000 across the group)"},
		{"SYMBOL:AAPL restricted", "SYMBOL:AAPL", "restricted"},
		{"GLOBAL max_notional=1000000000/60s", "GLOBAL", "max_notional=1000000000/60s"},
		{"max_orders=5", "", "max_orders=5"},
	} {
		if sc, l := SplitLimit(c.in); sc != c.scope || l != c.limit {
			t.Errorf("SplitLimit(%q) = %q, %q; want %q, %q", c.in, sc, l, c.scope, c.limit)
		}
	}
}
