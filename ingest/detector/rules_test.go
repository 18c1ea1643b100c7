package detector

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// deploy/rules.yaml documents the defaults: it must parse to exactly them.
func TestDeployRulesAreTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../../deploy/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRules("rules.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultRules().withDefaults()
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got.Rules), len(want.Rules)) {
			if i >= len(got.Rules) || i >= len(want.Rules) || got.Rules[i] != want.Rules[i] {
				t.Errorf("rule %d differs", i)
			}
		}
		t.Fatalf("deploy/rules.yaml differs from DefaultRules:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseRules(t *testing.T) {
	const good = `
lateness: 3s
normal_after: 90s
max_order_notional: 2500000
rules:
  - name: a
    dimension: ACCOUNT
    window: 30s
    metric: count
    threshold: 10
  - name: z
    dimension: SYMBOL
    metric: zscore
    threshold: 4
    action: THROTTLE
    max_rate_per_second: 2
`
	r, err := ParseRules("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Name: "a", Dimension: domain.ScopeAccount, Window: 30 * time.Second, Metric: MetricCount, Threshold: 10, Action: domain.ActionKill},
		{Name: "z", Dimension: domain.ScopeSymbol, Window: time.Minute, Metric: MetricZScore, Threshold: 4,
			Action: domain.ActionThrottle, MaxRatePerSecond: 2, MinOrders: DefaultMinOrders, MinHistory: DefaultMinHistory},
	}
	if !reflect.DeepEqual(r.Rules, want) || r.Lateness != 3*time.Second || r.NormalAfter != 90*time.Second ||
		r.FutureSkew != DefaultFutureSkew || r.IdleAfter != 61*time.Minute || r.MaxOrderNotional != 2_500_000 {
		t.Fatalf("parsed %+v", r)
	}
	// Left out, the cap is the default; none counts every order whole.
	for _, c := range []struct {
		line string
		want float64
	}{{"", DefaultMaxOrderNotional}, {"max_order_notional: none\n", math.Inf(1)}} {
		r, err := ParseRules("f.yaml", []byte(c.line+"rules:\n  - name: r\n    dimension: ACCOUNT\n    window: 1m\n    metric: count\n    threshold: 5\n"))
		if err != nil {
			t.Fatal(err)
		}
		if r.MaxOrderNotional != c.want {
			t.Errorf("%q: max_order_notional %v, want %v", c.line, r.MaxOrderNotional, c.want)
		}
	}
}

func TestRuleFileErrors(t *testing.T) {
	const head = "rules:\n  - name: r\n    dimension: ACCOUNT\n    window: 1m\n    metric: count\n    threshold: 5\n"
	tests := []struct {
		name string
		yaml string
		want string // substring: file:line: field: ...
	}{
		{"misspelled field", head + "    treshold: 6\n", "f.yaml:7: rules[0].treshold: unknown field"},
		{"bad dimension", strings.Replace(head, "ACCOUNT", "ACCT", 1), "f.yaml:3: rules[0].dimension: \"ACCT\" is not ACCOUNT"},
		{"bad window", strings.Replace(head, "1m", "1 minute", 1), "f.yaml:4: rules[0].window: \"1 minute\" is not a duration"},
		{"window too long", strings.Replace(head, "1m", "1h", 1), "f.yaml:4: rules[0].window: 1h0m0s must be whole seconds"},
		{"fractional window", strings.Replace(head, "1m", "1500ms", 1), "f.yaml:4: rules[0].window"},
		{"bad metric", strings.Replace(head, "count", "orders", 1), "f.yaml:5: rules[0].metric: \"orders\" is not count"},
		{"threshold not a number", strings.Replace(head, "5\n", "five\n", 1), "f.yaml:6: rules[0].threshold: \"five\" is not a number"},
		{"negative threshold", strings.Replace(head, "5\n", "-1\n", 1), "f.yaml:6: rules[0].threshold: -1 must be"},
		{"bad action", head + "    action: STOP\n", "f.yaml:7: rules[0].action: \"STOP\" is not KILL or THROTTLE"},
		{"throttle without rate", head + "    action: THROTTLE\n", "f.yaml:2: rules[0].max_rate_per_second: 0: a THROTTLE needs a positive rate"},
		{"rate on a kill", head + "    max_rate_per_second: 3\n", "f.yaml:7: rules[0].max_rate_per_second: only a THROTTLE"},
		{"min_orders on count", head + "    min_orders: 3\n", "f.yaml:7: rules[0].min_orders: applies to top_symbol_share and zscore"},
		{"share ≥ 1", strings.Replace(strings.Replace(head, "count", "top_symbol_share", 1), "5\n", "1\n", 1), "f.yaml:6: rules[0].threshold: 1: a share is at most 1"},
		{"missing threshold", strings.Replace(head, "    threshold: 5\n", "", 1), "f.yaml:2: rules[0].threshold: is required"},
		{"missing window", strings.Replace(head, "    window: 1m\n", "", 1), "f.yaml:2: rules[0].window: is required"},
		{"unknown top-level field", "latenes: 5s\n" + head, "f.yaml:1: latenes: unknown field"},
		{"bad lateness", "lateness: soon\n" + head, "f.yaml:1: lateness: \"soon\" is not a duration"},
		{"max_order_notional zero", "max_order_notional: 0\n" + head, "f.yaml:1: max_order_notional: 0 is not a positive amount"},
		{"max_order_notional negative", "max_order_notional: -5\n" + head, "f.yaml:1: max_order_notional: -5 is not a positive amount"},
		{"max_order_notional not a number", "max_order_notional: lots\n" + head, "f.yaml:1: max_order_notional: \"lots\" is not a number"},
		{"max_order_notional infinite", "max_order_notional: .inf\n" + head, "f.yaml:1: max_order_notional: .inf is not a positive amount (or none"},
		{"duplicate name", head + strings.Replace(head, "rules:\n", "", 1), "f.yaml:7: rules[1].name: \"r\" is also the name of rules[0]"},
		{"no rules", "lateness: 5s\n", "f.yaml:1: rules: is required"},
		{"rules not a list", "rules: 5\n", "f.yaml:1: rules: want a list"},
		{"bad name", strings.Replace(head, "name: r", "name: a b", 1), "f.yaml:2: rules[0].name"},
		{"not yaml", "rules: [\n", "f.yaml: yaml:"},
		{"zscore window", strings.Replace(strings.Replace(head, "count", "zscore", 1), "1m", "5m", 1), "f.yaml:4: rules[0].window: 5m0s: a zscore rule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules("f.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// Every bad field is reported, each once.
func TestRuleFileReportsEveryField(t *testing.T) {
	y := "rules:\n  - name: r\n    dimension: ACCT\n    window: soon\n    metric: count\n    threshold: 5\n    treshold: 4\n"
	_, err := ParseRules("f.yaml", []byte(y))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"f.yaml:3: rules[0].dimension", "f.yaml:4: rules[0].window", "f.yaml:7: rules[0].treshold"} {
		if strings.Count(err.Error(), want) != 1 {
			t.Errorf("error should name %q once:\n%v", want, err)
		}
	}
}

// Rules built in code are held to max_order_notional's range as a file is:
// a positive amount, or +Inf for none.
func TestMaxOrderNotionalValidated(t *testing.T) {
	for _, m := range []float64{-1, math.NaN(), math.Inf(-1)} {
		r := oneRule(countRule(domain.ScopeAccount, time.Minute, 5))
		r.MaxOrderNotional = m
		if _, err := NewEngine(r, &recSink{}, nil); err == nil || !strings.Contains(err.Error(), "max_order_notional") {
			t.Errorf("max_order_notional %v: error %v", m, err)
		}
	}
	r := oneRule(countRule(domain.ScopeAccount, time.Minute, 5))
	r.MaxOrderNotional = math.Inf(1)
	e, err := NewEngine(r, &recSink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.OrderNotional(1e9, 120); got != NotionalUnits(1e9, 120) {
		t.Errorf("none: OrderNotional %d, want the whole %d", got, NotionalUnits(1e9, 120))
	}
}
