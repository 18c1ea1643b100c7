package detector

import (
	"testing"
	"runtime"
	"github.com/riskgate/riskgate/domain"
)

func BenchmarkDims(b *testing.B) {
	for _, only := range []domain.ScopeType{domain.ScopeAccount, domain.ScopeSymbol, domain.ScopeStrategy, domain.ScopeGlobal} {
		b.Run(string(only), func(b *testing.B) {
			w := Workload{Accounts: 10_000, Symbols: 500, Strategies: 20, Orders: 1 << 20, PerSecond: 300, Seed: 1}
			stream := w.Generate(t0)
			r := DefaultRules()
			var keep []Rule
			for _, ru := range r.Rules { if ru.Dimension == only { keep = append(keep, ru) } }
			r.Rules = keep
			e, _ := NewEngine(r, &NopSink{}, nil)
			var m0, m1 runtime.MemStats
			runtime.GC(); runtime.ReadMemStats(&m0)
			for i := range stream { e.ObserveAll(&stream[i], 0, true) }
			runtime.GC(); runtime.ReadMemStats(&m1)
			n, kb := e.KeyBytes()
			b.Logf("keys %d est %d B/key heap %d B/key", n, kb/int64(n), (int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/int64(n))
			shift := stream[len(stream)-1].TS - stream[0].TS + 1000
			for k := range stream { stream[k].TS += shift }
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.ObserveAll(&stream[i%len(stream)], 0, true)
			}
		})
	}
}
