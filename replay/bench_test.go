package replay

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkReplayRules measures a replay of rules only (default rules, kills
// simulated, no limits) from JSON lines in memory: decoding, the router's
// table and the detector's engine over all four dimensions, per order. The
// flow is the detector benchmark's: uniform accounts, 500 symbols, 20
// strategies at 300 orders/s of event time with a 150-order burst from
// one account every 100,000 orders. orders/cpu-s is orders per second of
// the benchmark thread's CPU time, so other load on the machine does not
// count against it.
func BenchmarkReplayRules(b *testing.B) {
	for _, accounts := range []int{1_000, 10_000} {
		b.Run("accounts="+strconv.Itoa(accounts), func(b *testing.B) { benchReplay(b, accounts) })
	}
}

func benchReplay(b *testing.B, accounts int) {
	const n = 1 << 17
	buf, tsAt, ends := benchFlow(n, accounts)
	r, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	span := int64(n)*1000/300 + 1000
	// Warm up: every key exists and every ring has grown.
	if err := ReadJSONL(ctx, bytes.NewReader(buf), r, nil); err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for done := 0; done < b.N; {
		b.StopTimer()
		shiftTS(buf, tsAt, span) // each pass continues where the last ended
		lines := min(n, b.N-done)
		b.StartTimer()
		c0 := threadCPU()
		if err := ReadJSONL(ctx, bytes.NewReader(buf[:ends[lines-1]]), r, nil); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - c0
		done += lines
	}
	b.StopTimer()
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "orders/cpu-s")
	}
	b.ReportMetric(float64(r.eng.Keys()), "keys")
}

// benchFlow encodes n orders as JSON lines; tsAt holds where each ts's 13
// digits start, ends where each line ends.
func benchFlow(n, accounts int) (buf []byte, tsAt, ends []int) {
	rng := rand.New(rand.NewPCG(1, 2))
	burst, burstAcct := 0, 0
	for i := range n {
		acct := rng.IntN(accounts)
		if i%100_000 == 0 {
			burst, burstAcct = 150, acct
		}
		if burst > 0 {
			burst--
			acct = burstAcct
		}
		ts := t0 + int64(i)*1000/300
		buf = fmt.Appendf(buf, `{"order_id":"o-%d","ts":`, i)
		tsAt = append(tsAt, len(buf))
		buf = fmt.Appendf(buf, `%d,"account_id":"%05d","symbol":"SYM%03d","side":"BUY","qty":%d,"price":%.2f,"strategy":"ALGO_%02d"}`+"\n",
			ts, 10000+acct, rng.IntN(500), 1+rng.IntN(200), 10+rng.Float64()*490, rng.IntN(20))
		ends = append(ends, len(buf))
	}
	return buf, tsAt, ends
}

// shiftTS adds d to every 13-digit ts in place.
func shiftTS(buf []byte, tsAt []int, d int64) {
	for _, p := range tsAt {
		v, _ := strconv.ParseInt(string(buf[p:p+13]), 10, 64)
		strconv.AppendInt(buf[p:p], v+d, 10)
	}
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
