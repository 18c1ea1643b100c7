package router

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// newCluster starts an in-process kfake cluster with riskgate's topics.
func newCluster(t testing.TB) kafka.Config {
	t.Helper()
	_, kc := newKfake(t)
	return kc
}

// newKfake is newCluster that also returns the cluster, for tests that
// intercept its requests.
func newKfake(t testing.TB, extra ...kgo.Opt) (*kfake.Cluster, kafka.Config) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc := kafka.Config{Brokers: c.ListenAddrs(), ClientID: "router-test", Extra: extra}
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kafka.CreateTopics(ctx, kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	return c, kc
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startRouter runs a router until the test ends and waits for it to be ready.
func startRouter(t testing.TB, cfg Config) *Router {
	t.Helper()
	r, _ := startRouterStop(t, cfg)
	return r
}

// startRouterStop is startRouter that also returns a function stopping the
// router before the test ends (safe to call again).
func startRouterStop(t testing.TB, cfg Config) (*Router, func()) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.Run(ctx); err != nil {
			t.Errorf("router run: %v", err)
		}
	})
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	deadline := time.Now().Add(15 * time.Second)
	for !r.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("router not ready after 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r, stop
}

// produce writes records synchronously.
func produce(t testing.TB, kc kafka.Config, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func orderRecord(t testing.TB, o domain.Order) *kgo.Record {
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: domain.TopicOrders, Key: []byte(o.AccountID), Value: b}
}

func stateRecord(t testing.TB, st domain.State) *kgo.Record {
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: domain.TopicState, Key: []byte(st.Scope), Value: b}
}

// consumeN reads n committed records of topic from the start.
func consumeN(t testing.TB, kc kafka.Config, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kc.NewClient(
		kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: got %d records of %d", topic, len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	// Anything beyond n shows up within a short wait.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	return out
}

func audits(t testing.TB, recs []*kgo.Record) map[string][]domain.AuditRecord {
	t.Helper()
	out := make(map[string][]domain.AuditRecord)
	for _, r := range recs {
		var a domain.AuditRecord
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("audit record %s: %v", r.Value, err)
		}
		if string(r.Key) != a.OrderID {
			t.Errorf("audit key %q, order_id %q", r.Key, a.OrderID)
		}
		out[a.OrderID] = append(out[a.OrderID], a)
	}
	return out
}

func newOrder(id, acct, sym string) domain.Order {
	return domain.Order{OrderID: id, TS: time.Now().UnixMilli(), AccountID: acct, Symbol: sym,
		Side: domain.Buy, Qty: 10, Price: 100, Strategy: "strat"}
}

func TestRouterEndToEnd(t *testing.T) {
	kc := newCluster(t)
	kill := domain.State{Scope: "ACCOUNT:K1", Status: domain.StatusKilled, Version: 7, CorrID: "corr-kill",
		Reason: "panic", UpdatedTS: 1, WorkflowID: "killswitch/ACCOUNT:K1"}
	// One token per 1000 s, starting empty: every order of SLOW is throttled.
	slow := domain.State{Scope: "SYMBOL:SLOW", Status: domain.StatusThrottled, MaxRatePerSecond: 0.001,
		Version: 3, CorrID: "corr-throttle"}
	produce(t, kc, stateRecord(t, kill), stateRecord(t, slow))
	r := startRouter(t, Config{Kafka: kc, Service: "router-test"})
	if st, v, ok := r.Table().Lookup("ACCOUNT:K1"); !ok || st != domain.StatusKilled || v != 7 {
		t.Fatalf("bootstrap did not load the kill: %v %v %v", st, v, ok)
	}
	cancel := newOrder("c1", "K1", "AAPL")
	cancel.Type = domain.OrderCancel
	invalid := newOrder("bad-qty", "A1", "AAPL")
	invalid.Qty = 0
	recs := []*kgo.Record{
		orderRecord(t, newOrder("o1", "A1", "AAPL")),
		orderRecord(t, newOrder("o2", "K1", "AAPL")),
		orderRecord(t, cancel),
		orderRecord(t, newOrder("o1", "A1", "AAPL")), // same partition: a duplicate
		orderRecord(t, invalid),
		{Topic: domain.TopicOrders, Key: []byte("A1"), Value: []byte("{not json")},
		orderRecord(t, newOrder("t1", "A2", "SLOW")),
	}
	produce(t, kc, recs...)

	got := audits(t, consumeN(t, kc, domain.TopicAudit, 6))
	want := map[string][]domain.Decision{
		"o1":      {domain.DecisionAllow, domain.DecisionDuplicate},
		"o2":      {domain.DecisionDrop},
		"c1":      {domain.DecisionReject}, // cancels no order this router ALLOWed
		"bad-qty": {domain.DecisionReject},
		"t1":      {domain.DecisionThrottle},
	}
	if len(got) != len(want) {
		t.Errorf("audited order ids %v, want %v", keys(got), want)
	}
	for id, ds := range want {
		as := got[id]
		if len(as) != len(ds) {
			t.Errorf("%s: %d audit records, want %d", id, len(as), len(ds))
			continue
		}
		for i, d := range ds {
			if as[i].Decision != d {
				t.Errorf("%s audit %d: %s, want %s", id, i, as[i].Decision, d)
			}
			if as[i].Service != "router-test" || as[i].DecisionNS <= 0 {
				t.Errorf("%s audit %d: service %q decision_ns %d", id, i, as[i].Service, as[i].DecisionNS)
			}
		}
	}
	if a := got["o2"][0]; a.CorrID != "corr-kill" || a.StateVersion != 7 || a.KillswitchStatus != domain.StatusKilled ||
		len(a.ScopeMatches) != 1 || a.ScopeMatches[0] != "ACCOUNT:K1" || a.AccountID != "K1" {
		t.Errorf("DROP audit = %+v", a)
	}
	if a := got["t1"][0]; a.CorrID != "corr-throttle" || a.StateVersion != 3 || a.KillswitchStatus != domain.StatusThrottled {
		t.Errorf("THROTTLE audit = %+v", a)
	}
	if a := got["c1"][0]; a.OrderType != "CANCEL" || len(a.ScopeMatches) != 1 || a.CorrID != "corr-kill" {
		t.Errorf("CANCEL audit = %+v", a)
	}

	gated := consumeN(t, kc, domain.TopicGated, 1)
	ids := map[string]int{}
	for _, g := range gated {
		o, err := domain.DecodeOrder(g.Value)
		if err != nil {
			t.Fatalf("gated record %s: %v", g.Value, err)
		}
		ids[o.OrderID]++
	}
	if len(gated) != 1 || ids["o1"] != 1 {
		t.Errorf("gated orders %v, want o1 once", ids)
	}

	dlq := consumeN(t, kc, domain.TopicDLQ, 2)
	if len(dlq) != 2 {
		t.Fatalf("%d DLQ records, want 2", len(dlq))
	}
	for _, d := range dlq {
		var errHeader string
		for _, h := range d.Headers {
			if h.Key == "error" {
				errHeader = string(h.Value)
			}
		}
		if errHeader == "" {
			t.Errorf("DLQ record %s has no error header", d.Value)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestKillFollowedAfterStart publishes a kill while the router runs.
func TestKillFollowedAfterStart(t *testing.T) {
	kc := newCluster(t)
	r := startRouter(t, Config{Kafka: kc})
	produce(t, kc, orderRecord(t, newOrder("before", "A1", "MSFT")))
	consumeN(t, kc, domain.TopicAudit, 1)
	produce(t, kc, stateRecord(t, domain.State{Scope: "SYMBOL:MSFT", Status: domain.StatusKilled, Version: 1, CorrID: "k"}))
	waitState(t, r, "SYMBOL:MSFT", 1)
	produce(t, kc, orderRecord(t, newOrder("after", "A2", "MSFT")))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 2))
	if d := got["before"][0].Decision; d != domain.DecisionAllow {
		t.Errorf("before the kill: %s", d)
	}
	if a := got["after"][0]; a.Decision != domain.DecisionDrop || a.CorrID != "k" {
		t.Errorf("after the kill: %+v", a)
	}
	// A tombstone lifts it.
	produce(t, kc, &kgo.Record{Topic: domain.TopicState, Key: []byte("SYMBOL:MSFT")})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, ok := r.Table().Lookup("SYMBOL:MSFT"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tombstone not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	produce(t, kc, orderRecord(t, newOrder("lifted", "A2", "MSFT")))
	got = audits(t, consumeN(t, kc, domain.TopicAudit, 3))
	if d := got["lifted"][0].Decision; d != domain.DecisionAllow {
		t.Errorf("after the tombstone: %s", d)
	}
}

func waitState(t testing.TB, r *Router, s domain.Scope, version int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, v, ok := r.Table().Lookup(s); ok && v >= version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %s v%d not seen", s, version)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDedupAcrossRestart decides an order, stops the router, and offers the
// same order_id to a fresh router: the changelog replay makes it DUPLICATE.
func TestDedupAcrossRestart(t *testing.T) {
	kc := newCluster(t)
	for i, id := range []string{"first", "second"} {
		ctx, cancel := context.WithCancel(context.Background())
		r, err := New(Config{Kafka: kc, Log: quietLog(), InstanceID: fmt.Sprintf("r%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		produce(t, kc, orderRecord(t, newOrder("same-id", "A1", "X")))
		consumeN(t, kc, domain.TopicAudit, i+1)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("router %s: %v", id, err)
		}
	}
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 2))["same-id"]
	if len(got) != 2 || got[0].Decision != domain.DecisionAllow || got[1].Decision != domain.DecisionDuplicate {
		t.Fatalf("audits of same-id across a restart: %+v", got)
	}
	if n := len(consumeN(t, kc, domain.TopicGated, 1)); n != 1 {
		t.Errorf("%d gated records, want 1", n)
	}
}

func TestReconcile(t *testing.T) {
	kc := newCluster(t)
	start := time.Now().Add(-time.Second)
	startRouter(t, Config{Kafka: kc})
	produce(t, kc,
		orderRecord(t, newOrder("r1", "A1", "X")),
		orderRecord(t, newOrder("r1", "A1", "X")),
		&kgo.Record{Topic: domain.TopicOrders, Key: []byte("A1"), Value: []byte("garbage")},
	)
	consumeN(t, kc, domain.TopicAudit, 2)
	consumeN(t, kc, domain.TopicDLQ, 1)
	ctx := context.Background()
	rep, err := Reconcile(ctx, kc, start, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Orders != 3 || rep.Audited != 2 || rep.Unreadable != 1 || rep.UnreadableInDLQ != 1 || rep.Gated != 1 ||
		rep.Decisions[domain.DecisionAllow] != 1 || rep.Decisions[domain.DecisionDuplicate] != 1 {
		t.Fatalf("clean run: %+v", rep)
	}

	// Forge the failures reconcile exists to find: an order nobody
	// audited, a second audit of an order, and a second gated copy.
	var forged domain.AuditRecord
	for _, r := range consumeN(t, kc, domain.TopicAudit, 2) {
		_ = json.Unmarshal(r.Value, &forged)
		if forged.Decision == domain.DecisionAllow {
			break
		}
	}
	gatedCopy := orderRecord(t, newOrder("r1", "A1", "X"))
	gatedCopy.Topic = domain.TopicGated
	produce(t, kc, gatedCopy)
	rep, err = Reconcile(ctx, kc, start, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.GatedNotAllowed) != 1 || rep.Problems() != 1 {
		t.Fatalf("gated twice: %+v", rep)
	}
	again, _ := json.Marshal(forged)
	produce(t, kc, &kgo.Record{Topic: domain.TopicAudit, Key: []byte(forged.OrderID), Value: again})
	rep, err = Reconcile(ctx, kc, start, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.MultipleAudits) != 1 || rep.MultipleAudits[0].OrderID != "r1" || rep.Problems() != 1 {
		t.Fatalf("audited twice: %+v", rep)
	}
}

func TestReconcileMissingAudit(t *testing.T) {
	kc := newCluster(t) // no router
	start := time.Now().Add(-time.Second)
	produce(t, kc, orderRecord(t, newOrder("lost", "A1", "X")),
		&kgo.Record{Topic: domain.TopicOrders, Value: []byte("garbage")})
	rep, err := Reconcile(context.Background(), kc, start, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.MissingAudit) != 1 || rep.MissingAudit[0].OrderID != "lost" || len(rep.UnreadableNotDLQ) != 1 || rep.Problems() != 2 {
		t.Fatalf("report: %+v", rep)
	}
	// Orders outside the range are not looked at.
	rep, err = Reconcile(context.Background(), kc, start.Add(-time.Hour), start)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != 0 || !rep.OK() {
		t.Fatalf("empty range: %+v", rep)
	}
}
