package gen

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// Every order is priced within PriceBand of its symbol's reference, in every
// mode, for a pinned symbol outside the table too, so the default 10 %
// collar never blocks generated traffic.
func TestOrdersArePricedNearTheirReference(t *testing.T) {
	for _, cfg := range []Config{{Mode: Normal}, {Mode: Panic}, {Mode: Symbol, Symbol: "TSLA"}, {Mode: Symbol, Symbol: "ZZZ"}, {Mode: Strategy}} {
		t.Run(string(cfg.Mode)+cfg.Symbol, func(t *testing.T) {
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := New(cfg)
			refs := map[string]float64{}
			for _, r := range g.RefPrices(time.Now()) {
				if err := r.Validate(); err != nil {
					t.Fatalf("invalid reference %+v: %v", r, err)
				}
				refs[r.Symbol] = r.Price
			}
			for range 1000 {
				o := g.Next(time.Now())
				ref, ok := refs[o.Symbol]
				if !ok {
					t.Fatalf("order in %s, which has no published reference (%v)", o.Symbol, refs)
				}
				if d := math.Abs(o.Price-ref) / ref; d > PriceBand+0.0001 {
					t.Fatalf("order %s at %v is %.1f%% from its reference %v", o.Symbol, o.Price, 100*d, ref)
				}
			}
		})
	}
	if RefPrice("TSLA") != 250 || RefPrice("ZZZ") != DefaultRefPrice {
		t.Fatalf("RefPrice: TSLA %v, ZZZ %v", RefPrice("TSLA"), RefPrice("ZZZ"))
	}
}

func kafkaCluster(t *testing.T, topics ...string) *kgo.Client {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// readAll polls until n records have been read or the deadline passes.
func readAll(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(recs) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// Run publishes every symbol's reference before its first order and keeps
// republishing it while it runs, so a router's max_ref_age is never reached.
func TestRunPublishesAndRefreshesReferences(t *testing.T) {
	cl := kafkaCluster(t, domain.TopicOrders, domain.TopicRefPrices)
	start := time.Now().UnixMilli()
	n, err := Run(context.Background(), cl, Config{Mode: Normal, Rate: 20, Duration: 2 * time.Second, RefRefresh: 100 * time.Millisecond})
	if err != nil || n == 0 {
		t.Fatalf("Run: %d orders, %v", n, err)
	}
	recs := readAll(t, cl, int(n)+2*len(Symbols))
	firstOrder := int64(math.MaxInt64)
	firstRef := map[string]int64{}
	published := map[string]int{}
	for _, r := range recs {
		switch r.Topic {
		case domain.TopicOrders:
			var o domain.Order
			if err := json.Unmarshal(r.Value, &o); err != nil {
				t.Fatal(err)
			}
			firstOrder = min(firstOrder, o.TS)
		case domain.TopicRefPrices:
			p, err := domain.DecodeRefPrice(r.Value)
			if err != nil {
				t.Fatalf("reference record %s: %v", r.Value, err)
			}
			if string(r.Key) != p.Symbol || p.Price != RefPrice(p.Symbol) || p.TS < start {
				t.Fatalf("reference record key %s: %+v", r.Key, p)
			}
			published[p.Symbol]++
			if _, ok := firstRef[p.Symbol]; !ok {
				firstRef[p.Symbol] = p.TS
			}
		}
	}
	for _, s := range Symbols {
		// At least one refresh after the first publish: a loaded machine may
		// run far fewer than the 20 refreshes 2 s allow.
		if published[s.Name] < 2 {
			t.Errorf("%s: reference published %d times in 2s at a 100ms refresh", s.Name, published[s.Name])
		}
		if firstRef[s.Name] > firstOrder {
			t.Errorf("%s: first reference at %d, after the first order at %d", s.Name, firstRef[s.Name], firstOrder)
		}
	}
}

// Without the reference topic (a cluster with no router enforcing limits)
// the orders still flow.
func TestRunWithoutReferenceTopicStillSends(t *testing.T) {
	cl := kafkaCluster(t, domain.TopicOrders)
	n, err := Run(context.Background(), cl, Config{Mode: Panic, Rate: 1000, Count: 50})
	if err != nil || n != 50 {
		t.Fatalf("Run without %s: %d orders, %v", domain.TopicRefPrices, n, err)
	}
}
