package detector

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// allMetricRules watches every metric of every window of every dimension,
// with thresholds no stream reaches, so the property test sees every
// structure the engine can keep.
func allMetricRules() Rules {
	var rs []Rule
	for _, d := range dimTypes {
		for _, w := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute} {
			name := fmt.Sprintf("%s_%s", d, windowName(int64(w/time.Second)))
			rs = append(rs,
				Rule{Name: name + "_count", Dimension: d, Window: w, Metric: MetricCount, Threshold: 1e12},
				Rule{Name: name + "_notional", Dimension: d, Window: w, Metric: MetricNotional, Threshold: 1e15})
			if d != domain.ScopeSymbol {
				rs = append(rs, Rule{Name: name + "_share", Dimension: d, Window: w, Metric: MetricTopSymbolShare,
					Threshold: 0.999, MinOrders: 1_000_000})
			}
		}
		rs = append(rs, Rule{Name: string(d) + "_z", Dimension: d, Window: time.Minute, Metric: MetricZScore,
			Threshold: 1e9, MinOrders: 1, MinHistory: time.Minute})
	}
	return Rules{Rules: rs}
}

// bruteKey is the brute-force model of one key: every order it got.
type bruteKey struct {
	obs []Observation
}

type bruteMetrics struct {
	count, notional int64
	symCounts       map[string]int64
	maxSym          int64
}

func (b *bruteKey) clock() int64 {
	var c int64
	for _, o := range b.obs {
		c = max(c, o.TS)
	}
	return c
}

func (b *bruteKey) window(w int64) bruteMetrics {
	cs := b.clock() / 1000
	m := bruteMetrics{symCounts: map[string]int64{}}
	for _, o := range b.obs {
		if s := o.TS / 1000; s > cs-w && s <= cs {
			m.count++
			m.notional += o.Notional
			m.symCounts[o.Symbol]++
			m.maxSym = max(m.maxSym, m.symCounts[o.Symbol])
		}
	}
	return m
}

func (b *bruteKey) zscoreInputs() (cur, n, sum, sumsq int64) {
	curMin := b.clock() / 60000
	first := curMin
	per := map[int64]int64{}
	for _, o := range b.obs {
		m := o.TS / 60000
		first = min(first, m)
		per[m]++
	}
	for h := max(curMin-HistoryMinutes, first); h < curMin; h++ {
		sum += per[h]
		sumsq += per[h] * per[h]
	}
	return per[curMin], max(min(HistoryMinutes, curMin-first), 0), sum, sumsq
}

// prune drops orders that can no longer matter (older than the hour of
// history), keeping the model fast on long streams.
func (b *bruteKey) prune() {
	cut := (b.clock()/60000 - HistoryMinutes - 2) * 60000
	if len(b.obs) == 0 || b.obs[0].TS >= cut {
		return
	}
	keep := b.obs[:0]
	first := b.obs[0]
	for _, o := range b.obs {
		if o.TS >= cut {
			keep = append(keep, o)
		}
	}
	// Keep the key's earliest order: it fixes how much history there is.
	if len(keep) == 0 || keep[0].TS > first.TS {
		keep = append([]Observation{first}, keep...)
	}
	b.obs = keep
}

// TestPropertyMatchesBruteForce feeds random streams (many keys, bursts,
// gaps, out-of-order orders within the lateness) and checks, after every
// order, every metric of every window of every dimension it touched against
// a recomputation over the raw orders.
func TestPropertyMatchesBruteForce(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5}
	n := 4000
	if testing.Short() {
		seeds, n = []uint64{1, 5}, 1000
	}
	for _, seed := range seeds {
		// Even seeds use many symbols, so keys build their symbol index;
		// seed 5 moves on to new symbols all the time, so the engine
		// forgets and renumbers them.
		nsym := 6
		if seed%2 == 0 {
			nsym = 60
		}
		churn := seed == 5
		t.Run(fmt.Sprint("seed", seed, "/symbols", nsym, "/churn=", churn), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7919))
			e, _ := newTestEngine(t, allMetricRules(), nil)
			brute := map[string]*bruteKey{}
			accounts := []string{"A0", "A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "A10", "A11"}
			symbols := []string{"AAPL", "MSFT", "GOOG", "TSLA", "AMZN", "NVDA"}
			for len(symbols) < nsym {
				symbols = append(symbols, fmt.Sprint("S", len(symbols)))
			}
			strategies := []string{"", "ALGO_X", "ALGO_Y", "MANUAL"}
			maxTS := t0 + 999
			for i := range n {
				ts := maxTS
				switch r := rng.IntN(1000); {
				case r < 600: // steady flow
					ts = maxTS + rng.Int64N(400)
				case r < 800: // burst: same millisecond or second
					ts = maxTS + rng.Int64N(3)
				case r < 950: // out of order, within the 5 s lateness
					ts = maxTS - rng.Int64N(5000)
				case r < 990: // a pause of up to 90 s (crosses 1 m windows)
					ts = maxTS + rng.Int64N(90_000)
				default: // a long gap: up to 20 min (crosses every window)
					ts = maxTS + rng.Int64N(20*60_000)
				}
				maxTS = max(maxTS, ts)
				// Skew the symbol distribution so the top symbol changes hands.
				sym := symbols[min(rng.IntN(len(symbols)), rng.IntN(len(symbols)))]
				if churn {
					sym = fmt.Sprint("C", i+min(rng.IntN(40), rng.IntN(40)))
					if i%100 == 0 {
						e.compactSymbols()
					}
				}
				ob := Observation{
					TS:       ts,
					Notional: NotionalUnits(float64(1+rng.IntN(500)), 1+rng.Float64()*300),
					Symbol:   sym,
					Account:  accounts[rng.IntN(len(accounts))],
					Strategy: strategies[rng.IntN(len(strategies))],
					OrderID:  fmt.Sprint("o", i),
				}
				e.ObserveAll(&ob, 0, true)
				for d := range numDims {
					id := [...]string{ob.Account, ob.Symbol, ob.Strategy, ""}[d]
					if dim(d) == dimStrategy && id == "" {
						continue
					}
					bk := brute[fmt.Sprint(d, id)]
					if bk == nil {
						bk = &bruteKey{}
						brute[fmt.Sprint(d, id)] = bk
					}
					bk.obs = append(bk.obs, ob)
					bk.prune()
					checkKey(t, e, dim(d), id, bk, i)
				}
				if t.Failed() {
					return
				}
			}
			if churn && len(e.symName) >= n {
				t.Fatalf("%d symbols held after %d orders: the table was never compacted", len(e.symName), n)
			}
		})
	}
}

func checkKey(t *testing.T, e *Engine, d dim, id string, bk *bruteKey, i int) {
	t.Helper()
	k := e.lookup(d, id, 0, false)
	if k == nil {
		t.Fatalf("order %d: no key %v %q", i, d, id)
	}
	dc := &e.dims[d]
	if k.clock != bk.clock() {
		t.Fatalf("order %d %s: clock %d, brute %d", i, k.scope, k.clock, bk.clock())
	}
	for w, W := range dc.windows {
		want := bk.window(W)
		got := k.win[w]
		if got.count != want.count || got.notional != want.notional {
			t.Fatalf("order %d %s window %ds: count %d notional %d, brute %d %d",
				i, k.scope, W, got.count, got.notional, want.count, want.notional)
		}
		if !dc.share[w] {
			continue
		}
		sym, c, ok := k.share[w].top()
		if !ok {
			if want.count != 0 {
				t.Fatalf("order %d %s window %ds: no top symbol, brute has %d orders", i, k.scope, W, want.count)
			}
			continue
		}
		if int64(c) != want.maxSym || want.symCounts[e.symName[sym]] != want.maxSym {
			t.Fatalf("order %d %s window %ds: top %s×%d, brute max %d (%s has %d) %v",
				i, k.scope, W, e.symName[sym], c, want.maxSym, e.symName[sym], want.symCounts[e.symName[sym]], want.symCounts)
		}
	}
	if k.mins.slot != nil {
		cur, n, sum, sumsq := bk.zscoreInputs()
		gn, gs, gss := k.mins.history()
		gc := k.mins.curCnt
		if gc != cur || gn != n || gs != sum || gss != sumsq {
			t.Fatalf("order %d %s zscore inputs cur/n/sum/sumsq %d/%d/%d/%d, brute %d/%d/%d/%d",
				i, k.scope, gc, gn, gs, gss, cur, n, sum, sumsq)
		}
		if ZScore(gc, gn, gs, gss) != ZScore(cur, n, sum, sumsq) {
			t.Fatalf("order %d %s: zscore differs", i, k.scope)
		}
	}
}
