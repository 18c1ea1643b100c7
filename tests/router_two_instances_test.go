package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/router"
)

// TestRouterTwoInstances runs two routers in one consumer group, publishes a
// KILL of a symbol traded on every partition mid-stream, and checks that no
// order of that symbol is ALLOWed by either instance once both hold the kill,
// while the other symbols flow, every order is audited exactly once, and
// both instances enforced the kill.
func TestRouterTwoInstances(t *testing.T) {
	kc := kafkaCluster(t, "router-e2e")
	const hot = "HOT"
	kill := domain.State{Scope: "SYMBOL:" + hot, Status: domain.StatusKilled, Version: 42,
		CorrID: "two-instances", Reason: "fat finger"}
	start := time.Now().Add(-time.Second)

	var routers []*router.Router
	var regs []*prometheus.Registry
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, name := range []string{"router-a", "router-b"} {
		reg := prometheus.NewRegistry()
		// The stream is 3,000 orders/s, far beyond the default symbol caps:
		// this test is about kills, so it routes without pre-trade limits.
		r, err := router.New(router.Config{Kafka: kc, Service: name, InstanceID: name, Registerer: reg, Log: testLogger(), NoLimits: true})
		if err != nil {
			t.Fatal(err)
		}
		routers = append(routers, r)
		regs = append(regs, reg)
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

	// Stream 3,000 orders/s over 300 accounts (every partition), one in
	// five of them for the hot symbol.
	var seq atomic.Int64
	stop := make(chan struct{})
	streamed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				streamed <- nil
				return
			case <-tick.C:
			}
			recs := make([]*kgo.Record, 0, 30)
			for range 30 {
				i := seq.Add(1)
				sym := "COLD"
				if i%5 == 0 {
					sym = hot
				}
				recs = append(recs, routerOrder(t, fmt.Sprintf("t-%07d", i), fmt.Sprintf("acct-%d", i%300), sym))
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				streamed <- err
				return
			}
		}
	}()

	// Each router must enforce the kill, so both own partitions of the
	// stream first: decisions growing at both over half a second show the
	// group has settled.
	const decisions = "riskgate_router_decisions_total"
	eventually(t, time.Minute, "both routers deciding orders", func() bool {
		a, b := sumMetric(t, regs[0], decisions), sumMetric(t, regs[1], decisions)
		time.Sleep(500 * time.Millisecond)
		return sumMetric(t, regs[0], decisions) > a && sumMetric(t, regs[1], decisions) > b
	})
	publishState(t, cl, kill)
	deadline := time.Now().Add(10 * time.Second)
	for !holds(routers[0], kill) || !holds(routers[1], kill) {
		if time.Now().After(deadline) {
			t.Fatal("the routers did not both see the kill within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	seenAt := time.Now()
	seenSeq := seq.Load() // orders with a higher number were produced after
	time.Sleep(2 * time.Second)
	close(stop)
	if err := <-streamed; err != nil {
		t.Fatal(err)
	}
	total := seq.Load()
	waitCaughtUp(t, kc, router.DefaultGroup, time.Minute)

	byService := map[string]map[domain.Decision]int{}
	var hotAfter, hotDropped int
	readCommittedTopic(t, kc.Brokers, domain.TopicAudit, func(r *kgo.Record) {
		var a domain.AuditRecord
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("audit %s: %v", r.Value, err)
		}
		if byService[a.Service] == nil {
			byService[a.Service] = map[domain.Decision]int{}
		}
		byService[a.Service][a.Decision]++
		if a.Symbol != hot {
			if a.Decision != domain.DecisionAllow {
				t.Errorf("order %s of another symbol: %s", a.OrderID, a.Decision)
			}
			return
		}
		var n int64
		fmt.Sscanf(a.OrderID, "t-%d", &n)
		decidedAfter := a.TS > seenAt.UnixMilli()
		if n > seenSeq || decidedAfter {
			hotAfter++
			if a.Decision != domain.DecisionDrop || a.CorrID != kill.CorrID || a.StateVersion != kill.Version {
				t.Errorf("order %s of %s after both routers held the kill: %s corr_id=%q version=%d",
					a.OrderID, hot, a.Decision, a.CorrID, a.StateVersion)
			}
		}
		if a.Decision == domain.DecisionDrop {
			hotDropped++
		}
	})
	t.Logf("%d orders; per instance %v; %d %s orders after the kill was held, %d dropped in all",
		total, byService, hotAfter, hot, hotDropped)
	for _, name := range []string{"router-a", "router-b"} {
		if byService[name][domain.DecisionDrop] == 0 {
			t.Errorf("%s never enforced the kill: %v", name, byService[name])
		}
	}
	if hotAfter < 100 {
		t.Errorf("only %d %s orders came after the kill was held", hotAfter, hot)
	}

	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	rep, err := router.Reconcile(rctx, kc, start, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || int64(rep.Orders) != total || int64(rep.Audited) != total {
		t.Errorf("reconcile: %d orders of %d, %d audited once, %d problems", rep.Orders, total, rep.Audited, rep.Problems())
	}

	// Each instance's metrics live in its own registry.
	var decided float64
	for i, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		series := 0
		for _, mf := range mfs {
			if mf.GetName() == "riskgate_router_decisions_total" {
				series = len(mf.GetMetric())
			}
		}
		// One series per decision, BLOCK included, from the start.
		if series != 6 {
			t.Errorf("registry %d: %d decision series, want 6", i, series)
		}
		decided += sumMetric(t, reg, "riskgate_router_decisions_total")
	}
	if int64(decided) < total {
		t.Errorf("metrics count %v decisions, want at least %d", decided, total)
	}
}

func holds(r *router.Router, st domain.State) bool {
	status, v, ok := r.Table().Lookup(st.Scope)
	return ok && status == st.Status && v >= st.Version
}

// sumMetric adds up the counter series of one metric family.
func sumMetric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// readCommittedTopic reads every committed record of a topic.
func readCommittedTopic(t *testing.T, brokers []string, topic string, fn func(*kgo.Record)) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { n++; fn(r) })
		if n == 0 {
			return
		}
	}
}
