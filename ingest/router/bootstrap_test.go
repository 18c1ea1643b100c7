package router

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/killstate"
)

// BenchmarkBootstrap1M reads 1,000,000 scope states from
// killswitch.state.v1 (kfake, in process) into a fresh table per iteration,
// as a router does before it routes its first order. It reports the table's
// heap size.
func BenchmarkBootstrap1M(b *testing.B) {
	const scopes = 1_000_000
	kc := newCluster(b)
	cl, err := kc.NewClient(kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	types := [...]domain.ScopeType{domain.ScopeAccount, domain.ScopeSymbol, domain.ScopeStrategy}
	statuses := [...]domain.Status{domain.StatusActive, domain.StatusKilled, domain.StatusThrottled, domain.StatusActive}
	batch := make([]*kgo.Record, 0, 10_000)
	for i := range scopes {
		st := domain.State{
			Scope:             domain.Scope(fmt.Sprintf("%s:id-%07d", types[i%3], i)),
			Status:            statuses[i%4],
			UpdatedTS:         1_700_000_000_000,
			UpdatedBy:         "detector",
			Reason:            "order count 150 > 100 in 1m",
			LastCmdID:         "5f0c4f7f5a1e4d5c9f3b2a1d0e9c8b7a",
			CorrID:            "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
			Version:           int64(i + 1),
			AutoUnkillEnabled: true,
			WorkflowID:        "killswitch/x",
			RunID:             "0190f1d2-3c4b-7a6e-9d8c-7b6a5f4e3d2c",
		}
		if st.Status == domain.StatusThrottled {
			st.MaxRatePerSecond = 10
		}
		v, _ := json.Marshal(st)
		batch = append(batch, &kgo.Record{Topic: domain.TopicState, Key: []byte(st.Scope), Value: v})
		if len(batch) == cap(batch) || i == scopes-1 {
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	cl.Close()

	b.ResetTimer()
	for b.Loop() {
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tab := NewTable(nil)
		f := killstate.NewFollower(kc, tab, quietLog())
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- f.Run(fctx) }()
		select {
		case <-f.ReadyC():
		case err := <-done:
			b.Fatalf("follower ended: %v", err)
		}
		took := time.Since(start)
		cancel()
		<-done
		b.StopTimer()
		if tab.Len() != scopes {
			b.Fatalf("table holds %d scopes, want %d", tab.Len(), scopes)
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(took.Seconds(), "s/bootstrap")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "table-MiB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/scopes, "B/scope")
		runtime.KeepAlive(tab)
		b.StartTimer()
	}
}
