// Package gen produces synthetic order flow to orders.v1: steady normal
// traffic, or a runaway burst for one account, symbol or strategy. It also
// publishes a reference price for each symbol it trades to marketdata.ref.v1
// and prices its orders close to it, so the router's price collar lets
// normal traffic through.
package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// Mode selects the traffic shape.
type Mode string

// Traffic modes.
const (
	// Normal is background flow: random 5-digit accounts over 8 symbols, 5/s.
	Normal Mode = "normal"
	// Panic is one account firing orders, 50/s.
	Panic Mode = "panic"
	// Symbol is many accounts piling into one symbol, 50/s.
	Symbol Mode = "symbol"
	// Strategy is one strategy firing across accounts and symbols, 50/s.
	Strategy Mode = "strategy"
)

// Symbols are the instruments normal traffic trades, with a reference price.
var Symbols = []struct {
	Name  string
	Price float64
}{
	{"AAPL", 190}, {"MSFT", 420}, {"GOOGL", 170}, {"AMZN", 185},
	{"TSLA", 250}, {"NVDA", 120}, {"META", 500}, {"JPM", 200},
}

// DefaultRefPrice is the reference price of a symbol not in Symbols.
const DefaultRefPrice = 100

// PriceBand is how far, as a fraction, an order's price may stray from its
// symbol's reference: well inside the default 10 % collar
// (deploy/limits.yaml), so generated traffic is never collared.
const PriceBand = 0.02

// DefaultRefRefresh is how often Run republishes the reference prices: well
// within the router's default max_ref_age of 60 s, so a running generator's
// symbols never go stale.
const DefaultRefRefresh = 10 * time.Second

// RefPrice returns the reference price of a symbol: its price in Symbols, or
// DefaultRefPrice.
func RefPrice(symbol string) float64 {
	for _, s := range Symbols {
		if s.Name == symbol {
			return s.Price
		}
	}
	return DefaultRefPrice
}

// Strategies are the strategy names normal traffic uses.
var Strategies = []string{"MOMENTUM", "MEAN_REV", "VWAP", "TWAP"}

// Config describes a run. Zero values take the mode's defaults.
type Config struct {
	Mode Mode
	// Account, Symbol and Strategy pin the burst's key (defaults 12345,
	// AAPL, ALGO_X), or fix that field in every order of any mode.
	Account, Symbol, Strategy string
	// Rate is orders per second (normal 5, others 50).
	Rate float64
	// Duration ends the run; zero runs until ctx ends or Count is reached.
	Duration time.Duration
	// Count ends the run after this many orders; zero is unlimited.
	Count int
	// Seed makes the flow reproducible; zero seeds from the clock.
	Seed uint64
	// RefRefresh is how often the reference prices are republished
	// (default DefaultRefRefresh).
	RefRefresh time.Duration
}

// Validate checks the mode, rate and ids and fills defaults.
func (c *Config) Validate() error {
	switch c.Mode {
	case "":
		c.Mode = Normal
	case Normal, Panic, Symbol, Strategy:
	default:
		return fmt.Errorf("unknown mode %q (want normal, panic, symbol or strategy)", c.Mode)
	}
	if c.Rate < 0 {
		return fmt.Errorf("rate %v must be positive", c.Rate)
	}
	if c.Rate == 0 {
		c.Rate = 50
		if c.Mode == Normal {
			c.Rate = 5
		}
	}
	defaults := map[Mode]*string{Panic: &c.Account, Symbol: &c.Symbol, Strategy: &c.Strategy}
	if p := defaults[c.Mode]; p != nil && *p == "" {
		*p = map[Mode]string{Panic: "12345", Symbol: "AAPL", Strategy: "ALGO_X"}[c.Mode]
	}
	for name, v := range map[string]string{"account": c.Account, "symbol": c.Symbol, "strategy": c.Strategy} {
		if v != "" {
			if err := domain.ValidateID(v); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.RefRefresh < 0 {
		return fmt.Errorf("reference refresh %s must be positive", c.RefRefresh)
	}
	if c.RefRefresh == 0 {
		c.RefRefresh = DefaultRefRefresh
	}
	return nil
}

// Generator makes orders of one configuration.
type Generator struct {
	cfg    Config
	rng    *rand.Rand
	prefix string
	seq    int64
}

// New returns a generator; cfg must have passed Validate.
func New(cfg Config) *Generator {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>17|1))
	return &Generator{cfg: cfg, rng: rng, prefix: "o-" + strconv.FormatUint(rng.Uint64()&0xffffffffff, 36) + "-"}
}

// Next returns the next order, stamped with ts.
func (g *Generator) Next(ts time.Time) domain.Order {
	g.seq++
	sym := Symbols[g.rng.IntN(len(Symbols))]
	o := domain.Order{
		OrderID:   g.prefix + strconv.FormatInt(g.seq, 10),
		TS:        ts.UnixMilli(),
		AccountID: strconv.Itoa(10000 + g.rng.IntN(90000)),
		Symbol:    sym.Name,
		Side:      domain.Buy,
		Qty:       float64(1 + g.rng.IntN(100)),
		Strategy:  Strategies[g.rng.IntN(len(Strategies))],
		Type:      domain.OrderNew,
	}
	band := 1 - PriceBand + 2*PriceBand*g.rng.Float64()
	if g.rng.IntN(2) == 0 {
		o.Side = domain.Sell
	}
	if g.cfg.Account != "" {
		o.AccountID = g.cfg.Account
	}
	ref := sym.Price
	if g.cfg.Symbol != "" {
		o.Symbol = g.cfg.Symbol
		ref = RefPrice(o.Symbol)
	}
	o.Price = round2(ref * band)
	if g.cfg.Strategy != "" {
		o.Strategy = g.cfg.Strategy
	}
	return o
}

// RefPrices returns the reference price, stamped ts, of every symbol the
// generator trades: the pinned symbol, or all of Symbols.
func (g *Generator) RefPrices(ts time.Time) []domain.RefPrice {
	if g.cfg.Symbol != "" {
		return []domain.RefPrice{{Symbol: g.cfg.Symbol, Price: RefPrice(g.cfg.Symbol), TS: ts.UnixMilli()}}
	}
	refs := make([]domain.RefPrice, len(Symbols))
	for i, s := range Symbols {
		refs[i] = domain.RefPrice{Symbol: s.Name, Price: s.Price, TS: ts.UnixMilli()}
	}
	return refs
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// Run produces orders to orders.v1 at the configured rate until the
// duration or count is reached or ctx ends, and returns how many were
// acknowledged by Kafka. Each order is keyed by account_id. Before the first
// order it publishes the reference price of every symbol it trades to
// marketdata.ref.v1, and again every RefRefresh while it runs.
func Run(ctx context.Context, cl *kgo.Client, cfg Config) (int64, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	g := New(cfg)
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	refs, err := startRefs(ctx, g, cl, cfg.RefRefresh)
	if err != nil {
		return 0, err
	}
	defer refs.stop()
	var acked atomic.Int64
	var firstErr atomic.Value
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	for i := 0; cfg.Count == 0 || i < cfg.Count; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return finish(cl, &acked, &firstErr)
			case <-time.After(d):
			}
		} else if ctx.Err() != nil {
			return finish(cl, &acked, &firstErr)
		}
		o := g.Next(time.Now())
		b, err := json.Marshal(o)
		if err != nil {
			return acked.Load(), fmt.Errorf("encode order %s: %w", o.OrderID, err)
		}
		cl.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: domain.TopicOrders, Key: []byte(o.AccountID), Value: b},
			func(_ *kgo.Record, err error) {
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				acked.Add(1)
			})
		if e := firstErr.Load(); e != nil {
			return acked.Load(), fmt.Errorf("produce to %s: %w", domain.TopicOrders, e.(error))
		}
		if err := refs.failed(); err != nil {
			return acked.Load(), err
		}
	}
	return finish(cl, &acked, &firstErr)
}

func finish(cl *kgo.Client, acked *atomic.Int64, firstErr *atomic.Value) (int64, error) {
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		return acked.Load(), fmt.Errorf("flush orders: %w", err)
	}
	if e := firstErr.Load(); e != nil {
		return acked.Load(), fmt.Errorf("produce to %s: %w", domain.TopicOrders, e.(error))
	}
	return acked.Load(), nil
}
