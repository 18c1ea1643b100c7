package detector

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// A key's memory follows the symbols in its own windows, not every symbol
// the engine has ever seen: a market maker's key quoting 40 symbols costs
// the same whether the engine met 40 symbols or 100,040, and symbols that
// left every window are forgotten.
func TestKeyMemoryFollowsItsOwnSymbols(t *testing.T) {
	e, _ := newTestEngine(t, oneRule(shareRule(0.99, 1_000_000)), nil)
	ts := t0
	// quote sends an order a second in each of syms for secs seconds,
	// ticking as the detector does.
	quote := func(syms []string, secs int) {
		for range secs {
			ts += 1000
			e.Tick(ts, nil)
			for i, s := range syms {
				e.ObserveAll(obs(ts+int64(i), "MM", s), 0, true)
			}
		}
	}
	names := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint(prefix, i)
		}
		return out
	}
	quote(names("Q", 40), 90)
	_, before := e.KeyBytes()
	// Another account trades 100,000 symbols once each and is gone.
	for i := range 100_000 {
		e.ObserveAll(obs(ts+500, "X", fmt.Sprint("Z", i)), 1, true)
	}
	e.DropPartition(1, false)
	// The market maker moves to 40 symbols the engine met after those.
	quote(names("R", 40), 90)
	keys, after := e.KeyBytes()
	if keys != 1 {
		t.Fatalf("%d keys, want the market maker's only", keys)
	}
	if after > before+4096 {
		t.Fatalf("the market maker's key holds %d bytes after the engine met 100,000 more symbols, %d before", after, before)
	}
	// The table is checked once a minute: at most the 80 symbols (40 Q, 40
	// R) that windows held at the last check are left.
	if n := e.symIDs.n; n > 80 || len(e.symName) != n {
		t.Fatalf("the engine holds %d symbols (%d ids), want at most the 80 held by a window", n, len(e.symName))
	}
	// Renumbered symbols still name the right top symbol.
	k := e.lookup(dimAccount, "MM", 0, false)
	if sym, c, _ := k.share[0].top(); e.symName[sym][0] != 'R' || c != 60 {
		t.Fatalf("top symbol %s×%d, want an R symbol×60", e.symName[sym], c)
	}
}

// symIndex against a map under random inserts, updates, deletes and resets;
// its size follows what it holds.
func TestSymIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var x symIndex
	want := map[uint32]int32{}
	for i := range 200_000 {
		// Phases of growth and of shrinking, over a few thousand ids.
		grow := i/20_000%2 == 0
		sym := uint32(rng.IntN(5000))
		switch r := rng.IntN(100); {
		case i%50_000 == 49_999:
			x.reset()
			clear(want)
		case grow && r < 70 || !grow && r < 20:
			v := rng.Int32()
			x.set(sym, v)
			want[sym] = v
		default:
			_, present := want[sym]
			x.del(sym)
			delete(want, sym)
			if present && len(x.slots) > max(minIndexSlots, 8*x.n) {
				t.Fatalf("op %d: %d slots for %d entries after a delete", i, len(x.slots), x.n)
			}
		}
		if x.n != len(want) {
			t.Fatalf("op %d: %d entries, want %d", i, x.n, len(want))
		}
		if i%1000 == 500 {
			for s := range uint32(5000) {
				got, ok := x.get(s)
				if w, wok := want[s]; ok != wok || got != w {
					t.Fatalf("op %d: get(%d) = %d %v, want %d %v", i, s, got, ok, w, wok)
				}
			}
		}
	}
}

// BenchmarkManySymbols is the market-making case of issue 17 (item 11):
// 100 accounts quoting 50 orders a second each over 200,000 symbols, under
// the default rules. It reports the heap the engine holds in steady state
// (heap-MiB), the engine's own estimate (est-MiB) and the keys held.
func BenchmarkManySymbols(b *testing.B) {
	w := Workload{Accounts: 100, Symbols: 200_000, Strategies: 20, Orders: 1_000_000, PerSecond: 5000, Seed: 1}
	stream := w.Generate(t0)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	e, err := NewEngine(Rules{}, &NopSink{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	tick := stream[0].TS
	observe := func(ob *Observation) {
		if ob.TS >= tick+1000 { // the detector ticks once a second
			tick = ob.TS
			e.Tick(tick, nil)
		}
		e.ObserveAll(ob, 0, true)
	}
	for i := range stream {
		observe(&stream[i])
	}
	shift := stream[len(stream)-1].TS - stream[0].TS + 1000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(stream)
		if j == 0 {
			b.StopTimer()
			for k := range stream {
				stream[k].TS += shift
			}
			b.StartTimer()
		}
		observe(&stream[j])
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	keys, est := e.KeyBytes()
	b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(base))/(1<<20), "heap-MiB")
	b.ReportMetric(float64(est)/(1<<20), "est-MiB")
	b.ReportMetric(float64(keys), "keys")
	var acct, nacct int64
	for _, k := range e.all {
		if k.dim == dimAccount {
			acct += k.bytes()
			nacct++
		}
	}
	b.ReportMetric(float64(acct)/float64(max(nacct, 1))/(1<<10), "KiB/account")
	runtime.KeepAlive(stream)
	runtime.KeepAlive(e)
}
