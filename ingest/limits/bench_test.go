package limits

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// benchEngine holds 100,000 scopes with their own limits (80,000 accounts,
// 10,000 symbols, 10,000 strategies) and 10,000 symbols with reference
// prices, with the defaults of deploy/limits.yaml: every check runs every
// limit kind.
func benchEngine(b *testing.B) *Engine {
	e := newEngine(b, Default())
	for i := range 80_000 {
		override(b, e, domain.Scope(fmt.Sprintf("ACCOUNT:%06d", i)), 1, domain.LimitValues{MaxOrders: i64(1000), MaxNotional: f64(10_000_000)})
	}
	for i := range 10_000 {
		override(b, e, domain.Scope(fmt.Sprintf("SYMBOL:SYM%05d", i)), 1, domain.LimitValues{MaxOrders: i64(10_000), CollarPct: f64(5)})
		override(b, e, domain.Scope(fmt.Sprintf("STRATEGY:ALGO%05d", i)), 1, domain.LimitValues{MaxOrders: i64(20_000)})
		ref(b, e, fmt.Sprintf("SYM%05d", i), 100, t0+10*86_400_000) // fresh for the whole run
	}
	override(b, e, "GLOBAL", 1, domain.LimitValues{MaxOrders: i64(2_000_000), MaxNotional: f64(10_000_000_000)})
	if s := e.Stats(); s.Overrides != 100_001 || s.References != 10_000 {
		b.Fatalf("stats %+v", s)
	}
	return e
}

// benchOrders are n orders spread over the scopes, as BenchmarkDecide in
// ingest/router spreads its orders.
func benchOrders(n int) []domain.Order {
	out := make([]domain.Order, n)
	for i := range out {
		out[i] = ord(fmt.Sprintf("%06d", i*37%80_000), fmt.Sprintf("SYM%05d", i*7%10_000), fmt.Sprintf("ALGO%05d", i%10_000),
			10, 100+float64(i%300)/100, t0)
	}
	return out
}

// BenchmarkLimitsCheck measures the limits check of one order (every kind,
// four scopes, usage in every window) against 100,000 scopes with limits
// and 10,000 reference prices:
//
//   - check: Check alone over 4,096 orders, as BenchmarkDecide in
//     ingest/router spreads its orders (12,288 distinct scopes);
//   - check-chunked: the same as the router would run it, in chunks of 256
//     prepared and touched before they are checked;
//   - check-64: 64 orders, every scope in cache (the cost of the code);
//   - check-spread: 131,072 orders over every scope, mostly out of cache;
//   - check+commit: Check, Commit and the changes record, a millisecond
//     per order, each account in one of three partitions (so accounts keep
//     one usage, and the other scopes one per partition and a sum).
func BenchmarkLimitsCheck(b *testing.B) {
	e := benchEngine(b)
	for _, bc := range []struct {
		name    string
		orders  int
		chunked bool
		commit  bool
	}{
		{"check", 4096, false, false},
		{"check-chunked", 4096, true, false},
		{"check-64", 64, false, false},
		{"check-spread", 1 << 17, false, false},
		{"check-spread-chunked", 1 << 17, true, false},
		{"check+commit", 4096, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			orders := benchOrders(bc.orders)
			ts := t0 + 1000
			parts := make([]int32, len(orders))
			for i := range orders { // every scope has usage in its window
				if bc.commit {
					parts[i] = int32(i * 37 % 80_000 % 3) // by account
				}
				orders[i].TS = ts
				e.Decide(&orders[i], parts[i], ts)
			}
			e.BeginTxn()
			mask := len(orders) - 1
			var buf []byte
			var prep [256]Prepared
			b.ReportAllocs()
			runtime.GC()
			cpu := cpuTime()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				o := &orders[i&mask]
				var r Result
				switch {
				case bc.chunked:
					j := i & 255
					if j == 0 {
						for k := range prep {
							e.Prepare(&orders[(i+k)&mask], &prep[k])
						}
						e.Touch(prep[:])
					}
					r = e.CheckPrepared(o, &prep[j], 0, ts)
				case bc.commit:
					ts++ // a millisecond per order: buckets come and go
					o.TS = ts
					r = e.Check(o, parts[i&mask], ts)
				default:
					r = e.Check(o, 0, ts)
				}
				if r.Blocked {
					b.Fatalf("blocked by %s", r.LimitName())
				}
				if bc.commit {
					e.Commit(&r)
					if i&mask == mask {
						for p := range int32(3) {
							buf = e.AppendChanges(buf[:0], p)
						}
						e.EndTxn()
						e.BeginTxn()
					}
				}
				i++
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's CPU time in ns. On a machine shared with other
// work, wall time per op measures the share of the CPU the benchmark got;
// CPU time per op measures the code (the loop allocates nothing, so no
// other goroutine of the process runs).
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
