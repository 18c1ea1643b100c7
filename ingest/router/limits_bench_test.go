package router

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// BenchmarkDecideLimits is BenchmarkDecide (mixed table of 100,000 kill
// states) with the pre-trade limits on, as the router runs them per chunk:
// Prepare while decoding, Hold the chunk (limits and kill table), then
// CheckHeld, DecideHeld and CommitHeld per order, then Release. The limits hold 100,000 accounts with
// an override and 10,000 symbols with a reference; caps are high enough
// that every order is allowed and counted (the costlier path). Every order
// is in partition 0, so every scope's usage is fed by one partition.
func BenchmarkDecideLimits(b *testing.B) { benchDecideLimits(b, 1, 100_000, 1<<16) }

// BenchmarkDecideLimitsCached is BenchmarkDecideLimits with 100 kill states
// and 128 orders in turn, whose scopes' keys, limits and entries all stay
// in the CPU's caches: what the decision costs when no read waits for
// memory.
func BenchmarkDecideLimitsCached(b *testing.B) { benchDecideLimits(b, 1, 100, 128) }

// BenchmarkDecideLimitsPartitioned is BenchmarkDecideLimits for a router
// that owns three partitions of orders.v1: each chunk holds one partition's
// orders, as the router's do, and an account's orders are all in one
// partition (its number modulo three), so a symbol, a strategy and GLOBAL
// take orders from all three and keep each one's usage besides their own
// (what the changelog carries and a partition move takes away).
func BenchmarkDecideLimitsPartitioned(b *testing.B) { benchDecideLimits(b, 3, 100_000, 1<<16) }

// benchDecideLimits decides norders orders in turn, a chunk at a time,
// against a table of kills kill states.
func benchDecideLimits(b *testing.B, parts, kills, norders int) {
	tab := benchTable(kills, false)
	cfg := limits.Default()
	cfg.Ceilings = limits.ByType{}
	for _, t := range domain.ScopeTypes {
		l := cfg.Defaults.Of(t)
		l.MaxOrders, l.MaxNotional = domain.MaxLimitOrders, domain.MaxLimitNotional
		if t == domain.ScopeAccount {
			l.CreditLimit = domain.MaxLimitNotional
		}
	}
	eng, err := limits.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	nowMS := time.Now().UnixMilli()
	maxOrders := int64(100_000_000)
	for i := range 100_000 {
		_, err := eng.ApplyLimits(domain.LimitsRecord{Scope: domain.Scope(fmt.Sprintf("ACCOUNT:%08d", i)),
			Limits: domain.LimitValues{MaxOrders: &maxOrders}, Version: 1, UpdatedTS: nowMS, UpdatedBy: "bench", Reason: "bench"})
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10_000 {
		if _, err := eng.ApplyReference(domain.RefPrice{Symbol: fmt.Sprintf("SYM%d", i*10), Price: 1, TS: nowMS}); err != nil {
			b.Fatal(err)
		}
	}
	orders := make([]domain.Order, norders)
	for i := range orders {
		orders[i] = order(fmt.Sprintf("%08d", i*37%100000), fmt.Sprintf("SYM%d", i%10_000*10), fmt.Sprintf("strat-%d", i%1000*10+1))
		orders[i].TS = nowMS
	}
	if parts > 1 {
		// Whole chunks of each partition's orders in turn.
		by := make([][]domain.Order, parts)
		for _, o := range orders {
			a, err := strconv.Atoi(o.AccountID)
			if err != nil {
				b.Fatal(err)
			}
			by[a%parts] = append(by[a%parts], o)
		}
		chunks := len(by[0]) / chunkSize
		for _, o := range by {
			chunks = min(chunks, len(o)/chunkSize)
		}
		orders = orders[:0]
		for c := range chunks {
			for _, o := range by {
				orders = append(orders, o[c*chunkSize:(c+1)*chunkSize]...)
			}
		}
	}
	n := len(orders) // a multiple of chunkSize
	var prep [chunkSize]limits.Prepared
	now := time.Now().UnixNano()
	blocked := 0
	var v Verdict
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	for done := 0; done < b.N; {
		m := min(chunkSize, b.N-done)
		base := done % n
		if base+m > n {
			m = n - base
		}
		part := int32(base / chunkSize % parts)
		chunk := orders[base : base+m]
		for i := range chunk {
			eng.Prepare(&chunk[i], &prep[i])
		}
		eng.Hold(prep[:m])
		tab.Hold(prep[:m])
		for i := range chunk {
			o := &chunk[i]
			r := eng.CheckHeld(o, &prep[i], part, nowMS)
			tab.DecideHeld(&v, o, &prep[i].IDs, now, false, r.Blocked)
			if v.Decision == domain.DecisionAllow {
				eng.CommitHeld(&r)
			} else if v.Decision == domain.DecisionBlock {
				blocked++
			}
		}
		tab.Release()
		eng.Release()
		done += m
	}
	b.StopTimer()
	reportCPU(b, cpu)
	if blocked > 0 {
		b.Fatalf("%d orders BLOCKed: the caps must let the traffic through", blocked)
	}
}

// cpuTime is the process's CPU time in ns. On a machine shared with other
// work, wall time per op measures the share of the CPU the benchmark got;
// CPU time per op (reportCPU) measures the code, since the loops allocate
// nothing and no other goroutine of the process runs.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU reports the CPU time per op since start (cpuTime).
func reportCPU(b *testing.B, start int64) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
