package router

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// BenchmarkCreditRebuild reads 200,000 gated orders of 100,000 accounts
// from an in-process Kafka and sums the day's credit, as a router does
// after a limits usage record of its changelog did not restore: what a
// trading day's worth of gated orders costs to read back (ns per order;
// orders of accounts with a credit limit stay BLOCKed meanwhile).
func BenchmarkCreditRebuild(b *testing.B) {
	const n = 200_000
	kc := newCluster(b)
	cl, err := kc.NewClient(kgo.ProducerLinger(5 * time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	recs := make([]*kgo.Record, 0, 10_000)
	for i := range n {
		o := domain.Order{OrderID: "g-" + strconv.Itoa(i), TS: now.UnixMilli(), AccountID: strconv.Itoa(100_000 + i%100_000),
			Symbol: "SYM" + strconv.Itoa(i%5000), Side: domain.Buy, Qty: 100, Price: 12.5, Strategy: "s" + strconv.Itoa(i%100), Type: domain.OrderNew}
		v, err := json.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: domain.TopicGated, Key: []byte(o.AccountID), Value: v, Timestamp: now})
		if len(recs) == cap(recs) || i == n-1 {
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	cl.Close()
	eng, err := limits.New(limits.Default())
	if err != nil {
		b.Fatal(err)
	}
	eng.FailUsageClosed(0, now.UnixMilli(), "bench")
	r := &Router{cfg: Config{Kafka: kc}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.ResetTimer()
	for b.Loop() {
		rb := eng.CreditRebuilds()[0]
		if err := r.readGated(context.Background(), rb); err != nil {
			b.Fatal(err)
		}
		if rb.Counted != n {
			b.Fatalf("counted %d of %d gated orders", rb.Counted, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/order")
}
