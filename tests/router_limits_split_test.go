package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/ingest/router"
)

// TestRouterSymbolCapSplit runs two routers in one group against a SYMBOL
// cap of 300 orders per 60 s and sends 3,000 orders of that symbol from 300
// accounts (every partition of orders.v1). Each router enforces its share
// of the cap by the partitions it owns (floor(300 × owned / 3)), so the
// group never ALLOWs more than the cap.
func TestRouterSymbolCapSplit(t *testing.T) {
	kc := kafkaCluster(t, "router-split-e2e")
	const (
		hot   = "HOT"
		capN  = 300
		parts = 3 // kafka.Topics(3) in kafkaCluster
		burst = 3000
	)
	lc, err := limits.Parse("split.yaml", []byte(fmt.Sprintf(
		"defaults:\n  SYMBOL:\n    max_orders: %d\n    window_seconds: 60\n", capN)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, name := range []string{"router-a", "router-b"} {
		r, err := router.New(router.Config{Kafka: kc, Service: name, InstanceID: name, Limits: &lc,
			Registerer: prometheus.NewRegistry(), Log: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	cl, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	send := func(prefix, sym string, n int) {
		recs := make([]*kgo.Record, 0, n)
		for i := range n {
			recs = append(recs, routerOrder(t, fmt.Sprintf("%s-%05d", prefix, i), fmt.Sprintf("acct-%d", i%300), sym))
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// Warm up in another symbol until both routers decide and the
	// partitions stay put over two rounds: the burst must not meet a
	// rebalance, or one router would briefly own every partition.
	reader := readKafka(t, kc, domain.TopicAudit)
	owners := func(prefix string) map[int32]string {
		m := map[int32]string{}
		for _, rec := range reader.find(domain.TopicAudit, func(*kgo.Record) bool { return true }) {
			var a domain.AuditRecord
			if json.Unmarshal(rec.Value, &a) == nil && len(a.OrderID) > len(prefix) && a.OrderID[:len(prefix)] == prefix {
				m[a.Partition] = a.Service
			}
		}
		return m
	}
	var prev map[int32]string
	for round := 0; ; round++ {
		if round == 60 {
			t.Fatalf("the group did not settle with both routers owning partitions: %v", prev)
		}
		prefix := fmt.Sprintf("w%02d-", round)
		send(prefix[:3], "COLD", 300)
		var cur map[int32]string
		eventually(t, 20*time.Second, "warm-up audits", func() bool {
			cur = owners(prefix)
			return len(cur) == parts
		})
		services := map[string]bool{}
		for _, s := range cur {
			services[s] = true
		}
		if len(services) == 2 && fmt.Sprint(cur) == fmt.Sprint(prev) {
			break
		}
		prev = cur
		time.Sleep(500 * time.Millisecond)
	}

	send("h", hot, burst)
	waitCaughtUp(t, kc, router.DefaultGroup, time.Minute)
	reader.stop()

	partsOf := map[string]map[int32]bool{}
	allowed := map[string]int{}
	blockedBy := map[string]map[string]int{}
	group := 0
	readCommittedTopic(t, kc.Brokers, domain.TopicAudit, func(r *kgo.Record) {
		var a domain.AuditRecord
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("audit %s: %v", r.Value, err)
		}
		if a.Symbol != hot {
			return
		}
		if partsOf[a.Service] == nil {
			partsOf[a.Service], blockedBy[a.Service] = map[int32]bool{}, map[string]int{}
		}
		partsOf[a.Service][a.Partition] = true
		switch a.Decision {
		case domain.DecisionAllow:
			allowed[a.Service]++
			group++
		case domain.DecisionBlock:
			blockedBy[a.Service][a.Limit]++
		default:
			t.Errorf("order %s: %s", a.OrderID, a.Decision)
		}
	})
	t.Logf("ALLOW per router %v (group %d, cap %d); partitions %v; BLOCKs %v", allowed, group, capN, partsOf, blockedBy)
	if group > capN {
		t.Errorf("the group ALLOWed %d orders of %s, cap %d", group, hot, capN)
	}
	owned := 0
	for svc, ps := range partsOf {
		owned += len(ps)
		share := capN * len(ps) / parts
		if allowed[svc] != share {
			t.Errorf("%s owns %d of %d partitions and ALLOWed %d, want its share %d", svc, len(ps), parts, allowed[svc], share)
		}
		want := fmt.Sprintf("SYMBOL:%s max_orders=%d/60s (%d across the group)", hot, share, capN)
		for limit := range blockedBy[svc] {
			if limit != want {
				t.Errorf("%s BLOCKed by %q, want %q", svc, limit, want)
			}
		}
	}
	if len(partsOf) != 2 || owned != parts {
		t.Errorf("partitions per router %v: want both routers, each partition decided by one", partsOf)
	}

	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	rep, err := router.Reconcile(rctx, kc, start, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("reconcile: %d problems", rep.Problems())
	}
}
