package router

import (
	"strconv"
	"testing"
)

// BenchmarkDedupWindow records 1,000,000 fresh order identities in one
// partition's window (growing it as the router does), a chunk at a time:
// "touched" as the router checks them, with the chunk's slots touched first,
// and "one-by-one" without.
func BenchmarkDedupWindow(b *testing.B) {
	const n = 1_000_000
	h := newHasher()
	keys := make([]dedupKey, n)
	for i := range keys {
		keys[i] = h.key("b-"+strconv.Itoa(i), false)
	}
	for _, touched := range []bool{true, false} {
		name := "one-by-one"
		if touched {
			name = "touched"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := newDedupStore()
				for c := 0; c < n; c += chunkSize {
					chunk := keys[c:min(c+chunkSize, n)]
					if touched {
						s.touch(chunk)
					}
					for _, k := range chunk {
						pos, dup := s.check(k, 0)
						if dup {
							b.Fatal("fresh identity reported as a duplicate")
						}
						s.record(pos, 1, true)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/id")
		})
	}
}
