package router

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// Clients that see new partitions within a second, as the production
// default of five minutes would make these tests wait.
var fastMetadata = []kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond), kgo.MetadataMaxAge(time.Second)}

func addOrderPartitions(t *testing.T, kc kafka.Config, n int) {
	t.Helper()
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreatePartitions(context.Background(), n, domain.TopicOrders)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("add %d partitions to %s: %v", n, domain.TopicOrders, err)
	}
}

// produceTo writes an order to one partition of orders.v1, keyed by its
// account as every order is.
func produceTo(t *testing.T, kc kafka.Config, p int32, o domain.Order) {
	t.Helper()
	rec := orderRecord(t, o)
	rec.Partition = p
	cl, err := kc.NewClient(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("produce to %s partition %d: %v", domain.TopicOrders, p, err)
	}
}

func partitionsOf(t *testing.T, kc kafka.Config, topic string) int {
	t.Helper()
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return len(md[topic].Partitions)
}

// TestChangelogGrowsWithOrdersWhileRouting adds a partition to orders.v1
// under a running router: the dedup changelog gains it too, and orders of
// the new partition are routed (and deduplicated).
func TestChangelogGrowsWithOrdersWhileRouting(t *testing.T) {
	_, kc := newKfake(t, fastMetadata...)
	startRouter(t, Config{Kafka: kc})
	produceTo(t, kc, 0, newOrder("p0", "A0", "X"))
	consumeN(t, kc, domain.TopicAudit, 1)

	addOrderPartitions(t, kc, 1)
	produceTo(t, kc, 3, newOrder("p3", "A3", "X"))
	produceTo(t, kc, 3, newOrder("p3", "A3", "X"))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 3))
	if a := got["p3"]; len(a) != 2 || a[0].Decision != domain.DecisionAllow || a[0].Partition != 3 ||
		a[1].Decision != domain.DecisionDuplicate {
		t.Fatalf("orders of the new partition: %+v, want ALLOW then DUPLICATE from partition 3", a)
	}
	if n := partitionsOf(t, kc, domain.TopicDedup); n != 4 {
		t.Errorf("changelog has %d partitions, want 4 like %s", n, domain.TopicOrders)
	}
}

// TestChangelogGrowsWithOrdersAtStart starts a router after orders.v1 grew:
// it grows the changelog instead of refusing to start.
func TestChangelogGrowsWithOrdersAtStart(t *testing.T) {
	_, kc := newKfake(t, fastMetadata...)
	addOrderPartitions(t, kc, 2)
	startRouter(t, Config{Kafka: kc})
	produceTo(t, kc, 4, newOrder("p4", "A4", "X"))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 1))
	if a := got["p4"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow || a[0].Partition != 4 {
		t.Fatalf("order of the new partition: %+v, want ALLOW from partition 4", a)
	}
	if n := partitionsOf(t, kc, domain.TopicDedup); n != 5 {
		t.Errorf("changelog has %d partitions, want 5 like %s", n, domain.TopicOrders)
	}
}

// TestDamagedDedupRecordRebuiltFromAudit: a dedup record of the changelog
// that does not read no longer makes the window forget its identities. A
// router decides an order (ALLOW) and an invalid one (REJECT, which claims
// no id); a second router replays a changelog whose only record of that
// partition is damaged. It rebuilds the window from audit.v1: the order
// sent again is a DUPLICATE (not decided again), its CANCEL passes the
// account's kill (the order was ALLOWed), and the invalid order, corrected,
// is decided on its own.
func TestDamagedDedupRecordRebuiltFromAudit(t *testing.T) {
	kc := newCluster(t)
	_, stop := startRouterStop(t, Config{Kafka: kc})
	invalid := newOrder("dd-bad", "D2", "AAPL")
	invalid.Qty = -5
	produce(t, kc, orderRecord(t, newOrder("dd-new", "D1", "AAPL")), orderRecord(t, invalid))
	first := audits(t, consumeN(t, kc, domain.TopicAudit, 2))
	if a := first["dd-new"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
		t.Fatalf("first order: %+v, want ALLOW", a)
	}
	if a := first["dd-bad"]; len(a) != 1 || a[0].Decision != domain.DecisionReject {
		t.Fatalf("invalid order: %+v, want REJECT", a)
	}
	stop()

	// The same group, with a changelog whose only record of each
	// partition is damaged (an unknown flags byte).
	const damaged = "router.dedup.damaged.v1"
	cl, err := kc.NewClient(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, -1, nil, damaged); err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		bad := &kgo.Record{Topic: damaged, Partition: p, Value: append(beginChangelog(nil, time.Now().UnixMilli()), 0xff, 1, 'x')}
		if err := cl.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, kc, stateRecord(t, domain.State{Scope: "ACCOUNT:D1", Status: domain.StatusKilled, Version: 1, CorrID: "corr-d1",
		Reason: "test", UpdatedTS: 1, WorkflowID: "killswitch/ACCOUNT:D1"}))
	reg := prometheus.NewRegistry()
	startRouter(t, Config{Kafka: kc, DedupTopic: damaged, Registerer: reg})

	cancel := newOrder("dd-new", "D1", "AAPL")
	cancel.Type = domain.OrderCancel
	produce(t, kc, orderRecord(t, newOrder("dd-new", "D1", "AAPL")), orderRecord(t, cancel), orderRecord(t, newOrder("dd-bad", "D2", "AAPL")))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 5))
	if a := got["dd-new"]; len(a) != 3 || a[1].Decision != domain.DecisionDuplicate || a[2].Decision != domain.DecisionAllow || a[2].OrderType != string(domain.OrderCancel) {
		t.Errorf("dd-new after the replay: %+v, want the NEW a DUPLICATE and its CANCEL ALLOWed under the kill", a)
	}
	if a := got["dd-bad"]; len(a) != 2 || a[1].Decision != domain.DecisionAllow {
		t.Errorf("the corrected order: %+v, want ALLOW", a)
	}
	if n := metricValue(t, reg, "riskgate_router_dedup_rebuilds_total"); n != 1 {
		t.Errorf("%v dedup rebuilds counted, want 1", n)
	}
}
