package limits

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// deploy/limits.yaml documents the defaults: it must load to exactly them.
func TestDeployLimitsAreTheDefaults(t *testing.T) {
	got, err := Load(filepath.Join("..", "..", "deploy", "limits.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default().withDefaults()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deploy/limits.yaml differs from Default():\n got %+v\nwant %+v", got, want)
	}
	if _, err := New(Default()); err != nil {
		t.Fatalf("the defaults do not start an engine: %v", err)
	}
}

// The defaults agree with the detector's default rules (deploy/rules.yaml),
// so the order a rule calls a breach is the one the router blocks.
func TestDefaultsAgreeWithDetectorRules(t *testing.T) {
	d := Default().Defaults
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"ACCOUNT max_orders", float64(d.Account.MaxOrders), 100},
		{"ACCOUNT max_notional", d.Account.MaxNotional, 1_000_000},
		{"SYMBOL max_orders", float64(d.Symbol.MaxOrders), 1000},
		{"SYMBOL max_notional", d.Symbol.MaxNotional, 50_000_000},
		{"STRATEGY max_orders", float64(d.Strategy.MaxOrders), 2000},
		{"STRATEGY max_notional", d.Strategy.MaxNotional, 100_000_000},
		{"GLOBAL max_orders", float64(d.Global.MaxOrders), 200_000},
		{"GLOBAL max_notional", d.Global.MaxNotional, 1_000_000_000},
		// The detector counts an order's notional at most at this ceiling
		// (its max_order_notional): a larger order is always BLOCKed.
		{"ACCOUNT max_order_notional ceiling", Default().Ceilings.Account.MaxOrderNotional, 5_000_000},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, detector rule threshold %v", c.name, c.got, c.want)
		}
	}
	for _, l := range []Limits{d.Global, d.Account, d.Symbol, d.Strategy} {
		if l.WindowSeconds != 60 {
			t.Errorf("window %d, the detector's 1m rules count 60 s", l.WindowSeconds)
		}
	}
}

func TestParse(t *testing.T) {
	const doc = `
future_skew: 500ms
trading_day:
  time_zone: Europe/London
  starts_at: "17:30"
defaults:
  ACCOUNT:
    max_orders: 1_000
    credit_limit: 2.5e6
  SYMBOL:
    restricted: false
    require_reference: true
ceilings:
  ACCOUNT:
    max_orders: 5000
`
	c, err := Parse("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.FutureSkew != 500*time.Millisecond || c.TimeZone != "Europe/London" || c.DayStart != 17*time.Hour+30*time.Minute {
		t.Errorf("clocks: %+v", c)
	}
	want := Limits{MaxOrders: 1000, CreditLimit: 2.5e6, WindowSeconds: 60}
	if c.Defaults.Account != want {
		t.Errorf("ACCOUNT = %+v, want %+v", c.Defaults.Account, want)
	}
	if s := c.Defaults.Symbol; !s.RequireReference || s.MaxRefAgeSeconds != 60 || s.WindowSeconds != 60 {
		t.Errorf("SYMBOL = %+v", s)
	}
	if c.Defaults.Global.MaxOrders != 0 || c.Ceilings.Account.MaxOrders != 5000 {
		t.Errorf("an unset limit is set: %+v", c)
	}
	// Every scope type may be left without limits, but not by accident.
	if _, err := Parse("empty.yaml", []byte("defaults: {}\n")); err != nil {
		t.Errorf("defaults: {} refused: %v", err)
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty limits file"},
		{"not yaml", "defaults: [", "x.yaml"},
		{"no defaults", "future_skew: 1s\n", "x.yaml:1: defaults: is required"},
		{"unknown top", "defaults: {}\nlimits: 1\n", "x.yaml:2: limits: unknown field"},
		{"unknown type", "defaults:\n  FIRM: {}\n", "x.yaml:2: defaults.FIRM: unknown scope type"},
		{"unknown field", "defaults:\n  ACCOUNT:\n    max_order: 5\n", "x.yaml:3: defaults.ACCOUNT.max_order: unknown field"},
		{"not a number", "defaults:\n  ACCOUNT:\n    max_notional: lots\n", `x.yaml:3: defaults.ACCOUNT.max_notional: "lots" is not a number`},
		{"fraction", "defaults:\n  GLOBAL:\n    max_orders: 10.5\n", `x.yaml:3: defaults.GLOBAL.max_orders: "10.5" is not a whole number`},
		{"zero cap", "defaults:\n  GLOBAL:\n    max_orders: 0\n", "x.yaml:3: defaults.GLOBAL.max_orders: 0 must be a whole number from 1"},
		{"negative", "defaults:\n  ACCOUNT:\n    max_order_qty: -1\n", "x.yaml:3: defaults.ACCOUNT.max_order_qty: -1 must be a number above 0"},
		{"nan", "defaults:\n  ACCOUNT:\n    max_order_qty: .nan\n", "defaults.ACCOUNT.max_order_qty"},
		{"long window", "defaults:\n  ACCOUNT:\n    window_seconds: 7200\n", "x.yaml:3: defaults.ACCOUNT.window_seconds: 7200 must be a whole number from 1 to 3600"},
		{"restricted account", "defaults:\n  ACCOUNT:\n    restricted: false\n", "x.yaml:3: defaults.ACCOUNT.restricted: applies to SYMBOL scopes only"},
		{"credit symbol", "defaults:\n  SYMBOL:\n    credit_limit: 5\n", "x.yaml:3: defaults.SYMBOL.credit_limit: applies to ACCOUNT scopes only"},
		{"ref age account", "defaults:\n  ACCOUNT:\n    max_ref_age_seconds: 5\n", "defaults.ACCOUNT.max_ref_age_seconds: applies to SYMBOL scopes only"},
		{"bad bool", "defaults:\n  SYMBOL:\n    require_reference: yes\n", `x.yaml:3: defaults.SYMBOL.require_reference: "yes" is not true or false`},
		{"twice", "defaults:\n  GLOBAL:\n    max_orders: 1\n    max_orders: 2\n", "x.yaml:4: defaults.GLOBAL.max_orders: given twice"},
		{"list", "defaults:\n  GLOBAL: [1]\n", "x.yaml:2: defaults.GLOBAL: want a mapping"},
		{"bad zone", "trading_day:\n  time_zone: Mars/Olympus\ndefaults: {}\n", `x.yaml:2: trading_day.time_zone: "Mars/Olympus" is not an IANA time zone`},
		{"bad start", "trading_day:\n  starts_at: \"25:00\"\ndefaults: {}\n", `x.yaml:2: trading_day.starts_at: "25:00" is not a time of day`},
		{"bad skew", "future_skew: 2\ndefaults: {}\n", `x.yaml:1: future_skew: "2" is not a duration`},
		{"ceiling window", "defaults: {}\nceilings:\n  GLOBAL:\n    window_seconds: 5\n", "x.yaml:4: ceilings.GLOBAL.window_seconds: has no ceiling"},
		{"over ceiling", "defaults:\n  ACCOUNT:\n    max_orders: 500\nceilings:\n  ACCOUNT:\n    max_orders: 200\n", "x.yaml:3: defaults.ACCOUNT.max_orders: 500 is above its ceiling (line 6)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	c := Default()
	c.Defaults.Account.MaxOrders = 5000 // above the ACCOUNT ceiling of 1000
	c.Defaults.Global.Restricted = true
	c.TimeZone = "Local"
	err := c.Validate()
	for _, want := range []string{"defaults.ACCOUNT: a default is above its ceiling", "defaults.GLOBAL.restricted: applies to SYMBOL",
		`time_zone "Local"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want one containing %q", err, want)
		}
	}
	if _, err := New(c); err == nil {
		t.Error("New accepted an invalid config")
	}
}

// FuzzParse checks that the loader never panics and that what it accepts
// starts an engine.
func FuzzParse(f *testing.F) {
	f.Add([]byte("defaults: {}\n"))
	f.Add([]byte("future_skew: 1s\ntrading_day: {time_zone: UTC, starts_at: \"09:30\"}\ndefaults:\n  ACCOUNT: {max_orders: 5, credit_limit: 1e6}\nceilings:\n  ACCOUNT: {max_orders: 9}\n"))
	f.Add([]byte("defaults:\n  SYMBOL: {restricted: true, collar_pct: 0.5, max_ref_age_seconds: 3}\n"))
	f.Add([]byte("defaults: [x]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("f.yaml", b)
		if err != nil {
			return
		}
		if _, err := New(c); err != nil {
			t.Fatalf("accepted a config New refuses: %v", err)
		}
	})
}
