package detector

import (
	"testing"
)

// BenchmarkObserveAll measures one order evaluated for all four dimensions
// under the default rules (every window, every metric), in steady state.
func BenchmarkObserveAll(b *testing.B) {
	w := Workload{Accounts: benchAccounts, Symbols: 500, Strategies: 20, Orders: 1 << 20, PerSecond: 300,
		BurstEvery: 100_000, BurstSize: 150, Seed: 1}
	stream := w.Generate(t0)
	e, err := NewEngine(Rules{}, &NopSink{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Warm up: every key exists and every ring has grown.
	for i := range stream {
		e.ObserveAll(&stream[i], 0, true)
	}
	// Each pass over the stream continues where the last one ended.
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
		e.ObserveAll(&stream[j], 0, true)
	}
}

var benchAccounts = 10_000
