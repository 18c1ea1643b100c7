package gen

import (
	"testing"
	"time"
)

func TestModesProduceValidOrdersWithTheirKey(t *testing.T) {
	tests := []struct {
		cfg   Config
		check func(t *testing.T, g *Generator)
	}{
		{Config{Mode: Normal}, func(t *testing.T, g *Generator) {
			accounts := map[string]bool{}
			for range 200 {
				o := g.Next(time.Now())
				accounts[o.AccountID] = true
				if len(o.AccountID) != 5 {
					t.Fatalf("normal account %q is not 5 digits", o.AccountID)
				}
			}
			if len(accounts) < 100 {
				t.Fatalf("normal flow used only %d accounts in 200 orders", len(accounts))
			}
		}},
		{Config{Mode: Panic}, func(t *testing.T, g *Generator) {
			for range 50 {
				if o := g.Next(time.Now()); o.AccountID != "12345" {
					t.Fatalf("panic order for account %s, want 12345", o.AccountID)
				}
			}
		}},
		{Config{Mode: Symbol, Symbol: "TSLA"}, func(t *testing.T, g *Generator) {
			for range 50 {
				if o := g.Next(time.Now()); o.Symbol != "TSLA" {
					t.Fatalf("symbol burst order for %s, want TSLA", o.Symbol)
				}
			}
		}},
		{Config{Mode: Strategy}, func(t *testing.T, g *Generator) {
			for range 50 {
				if o := g.Next(time.Now()); o.Strategy != "ALGO_X" {
					t.Fatalf("strategy burst order for %s, want ALGO_X", o.Strategy)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.cfg.Mode), func(t *testing.T) {
			cfg := tt.cfg
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := New(cfg)
			seen := map[string]bool{}
			for range 100 {
				o := g.Next(time.Now())
				if err := o.Validate(); err != nil {
					t.Fatalf("generated an invalid order %+v: %v", o, err)
				}
				if seen[o.OrderID] {
					t.Fatalf("order id %s repeated", o.OrderID)
				}
				seen[o.OrderID] = true
			}
			tt.check(t, g)
		})
	}
}

func TestValidateRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{Mode: "storm"}, {Rate: -1}, {Mode: Panic, Account: "bad account"}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", cfg)
		}
	}
	cfg := Config{Mode: Panic}
	if err := cfg.Validate(); err != nil || cfg.Rate != 50 || cfg.Account != "12345" {
		t.Fatalf("panic defaults: %+v, %v", cfg, err)
	}
}
