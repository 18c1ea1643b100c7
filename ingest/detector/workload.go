package detector

import (
	"fmt"
	"math/rand/v2"

	"github.com/riskgate/riskgate/domain"
)

// Workload is a synthetic order stream for measuring the engine: accounts,
// symbols and strategies drawn uniformly, at a steady event rate, with an
// occasional burst from one account.
type Workload struct {
	Accounts, Symbols, Strategies int
	// Orders is the stream's length.
	Orders int
	// PerSecond is the event-time rate of the stream.
	PerSecond int
	// BurstEvery injects a burst of BurstSize orders from one account every
	// BurstEvery orders; zero disables bursts.
	BurstEvery, BurstSize int
	Seed                  uint64
}

// Generate builds the stream. Strings are shared between orders, as they
// would be after interning, so the stream's own memory stays small.
func (w Workload) Generate(start int64) []Observation {
	rng := rand.New(rand.NewPCG(w.Seed, w.Seed^0x9e3779b97f4a7c15))
	accts := make([]string, w.Accounts)
	for i := range accts {
		accts[i] = fmt.Sprintf("%05d", 10000+i)
	}
	syms := make([]string, w.Symbols)
	for i := range syms {
		syms[i] = fmt.Sprintf("SYM%03d", i)
	}
	strats := make([]string, w.Strategies)
	for i := range strats {
		strats[i] = fmt.Sprintf("ALGO_%02d", i)
	}
	out := make([]Observation, 0, w.Orders)
	step := 1000.0 / float64(max(w.PerSecond, 1))
	burst := 0
	burstAcct := ""
	for i := 0; i < w.Orders; i++ {
		ts := start + int64(float64(i)*step)
		acct := accts[rng.IntN(len(accts))]
		if w.BurstEvery > 0 && i%w.BurstEvery == 0 {
			burst, burstAcct = w.BurstSize, acct
		}
		if burst > 0 {
			burst--
			acct = burstAcct
		}
		out = append(out, Observation{
			TS:       ts,
			Notional: NotionalUnits(float64(1+rng.IntN(200)), 10+rng.Float64()*490),
			Symbol:   syms[rng.IntN(len(syms))],
			Account:  acct,
			Strategy: strats[rng.IntN(len(strats))],
			OrderID:  "",
		})
	}
	return out
}

// NopSink discards what an engine reports, for measuring evaluation alone.
type NopSink struct {
	Breaches, Normals, Risks int64
}

// Breach implements Sink.
func (s *NopSink) Breach(domain.BreachSignal) { s.Breaches++ }

// Normal implements Sink.
func (s *NopSink) Normal(domain.NormalSignal) { s.Normals++ }

// Risk implements Sink.
func (s *NopSink) Risk(*domain.RiskSignal) { s.Risks++ }
