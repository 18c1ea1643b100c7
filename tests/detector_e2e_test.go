package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/workflows"
)

// recordingSignaler records every breach and normal a detector sends.
type recordingSignaler struct {
	mu       sync.Mutex
	breaches []workflows.BreachSignal
	normals  []workflows.NormalSignal
}

func (s *recordingSignaler) Breach(_ context.Context, b workflows.BreachSignal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breaches = append(s.breaches, b)
	return nil
}

func (s *recordingSignaler) Normal(_ context.Context, n workflows.NormalSignal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.normals = append(s.normals, n)
	return nil
}

// incidents returns "scope/rule" per breach, in arrival order.
func (s *recordingSignaler) incidents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.breaches {
		out = append(out, string(b.Scope)+"/"+b.Rule)
	}
	return out
}

// startDetector runs a detector until the test ends or stop is called.
func startDetector(t *testing.T, kc kafka.Config, group string, sig detector.Signaler) (d *detector.Detector, stop func()) {
	t.Helper()
	lvl := slog.LevelWarn
	d, err := detector.New(detector.Config{Kafka: kc, Group: group, Signaler: sig,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: lvl}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("detector run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func detWait(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// groupStable waits until the group has n members and every partition of
// both detector topics is assigned.
func groupStable(t *testing.T, kc kafka.Config, group string, n int) {
	t.Helper()
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	detWait(t, 30*time.Second, fmt.Sprintf("group %s stable with %d members", group, n), func() bool {
		gs, err := adm.DescribeGroups(context.Background(), group)
		if err != nil {
			return false
		}
		g := gs[group]
		if g.State != "Stable" || len(g.Members) != n {
			return false
		}
		assigned := 0
		for _, m := range g.Members {
			if ca, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range ca.Topics {
					assigned += len(tp.Partitions)
				}
			}
		}
		return assigned == 6
	})
}

// detScenario is the order flow of the end-to-end test: normal traffic, a
// panicking account, a symbol burst spread over many accounts (no account
// near its limits) and a strategy burst spread over accounts and symbols.
func detScenario(now int64) []domain.Order {
	rng := rand.New(rand.NewPCG(7, 11))
	var out []domain.Order
	add := func(acct, sym, strat string) {
		out = append(out, domain.Order{OrderID: fmt.Sprint("e2e-", len(out)), TS: now + int64(len(out)%2000),
			AccountID: acct, Symbol: sym, Side: domain.Buy, Qty: 10, Price: 50, Strategy: strat})
	}
	normalSyms := []string{"MSFT", "GOOG", "TSLA", "AMZN", "NVDA", "META", "NFLX", "ORCL"}
	for range 300 {
		add(fmt.Sprint(10000+rng.IntN(90000)), normalSyms[rng.IntN(len(normalSyms))], "MANUAL")
	}
	for range 150 { // ACCOUNT:12345 panics on one symbol
		add("12345", "IBM", "MANUAL")
	}
	for i := range 1100 { // SYMBOL:AAPL: 110 accounts × 10 orders
		add(fmt.Sprint("AA", i%110), "AAPL", "MANUAL")
	}
	for i := range 2100 { // STRATEGY:ALGO_X: 150 accounts × 14, 60 symbols × 35
		add(fmt.Sprint("AX", i%150), fmt.Sprint("X", i%60), "ALGO_X")
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func detProduce(t *testing.T, kc kafka.Config, orders []domain.Order) {
	t.Helper()
	cl, err := kc.NewClient(kgo.ProducerLinger(0), kgo.DefaultProduceTopic(domain.TopicOrders))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for _, o := range orders {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, &kgo.Record{Key: []byte(o.AccountID), Value: b})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

var wantIncidents = []string{
	"ACCOUNT:12345/account_top_symbol_share_1m", // 20 orders on one symbol, before the 101st
	"STRATEGY:ALGO_X/strategy_count_1m",
	"SYMBOL:AAPL/symbol_count_1m",
}

// runScenario runs n detector instances in one group over a fresh cluster,
// produces the scenario and returns the incidents they signalled, sorted.
func runScenario(t *testing.T, n int) []string {
	kc := kafkaCluster(t, "detector-e2e")
	sig := &recordingSignaler{}
	var ds []*detector.Detector
	for range n {
		d, _ := startDetector(t, kc, "det-e2e", sig)
		ds = append(ds, d)
	}
	groupStable(t, kc, "det-e2e", n)
	detWait(t, 30*time.Second, "detectors ready", func() bool {
		return !slices.ContainsFunc(ds, func(d *detector.Detector) bool { return !d.Ready() })
	})
	detProduce(t, kc, detScenario(time.Now().UnixMilli()))
	detWait(t, 30*time.Second, "the three incidents", func() bool { return len(sig.incidents()) >= len(wantIncidents) })
	time.Sleep(500 * time.Millisecond) // anything extra would show by now
	got := sig.incidents()
	slices.Sort(got)
	return got
}

// TestDetectorE2E: a symbol burst spread over many accounts kills only the
// symbol, a strategy burst only the strategy, a panicking account only the
// account; and two instances sharing the group signal the same incidents as
// one, each exactly once.
func TestDetectorE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	one := runScenario(t, 1)
	if !slices.Equal(one, wantIncidents) {
		t.Fatalf("one instance signalled %v\nwant %v", one, wantIncidents)
	}
	two := runScenario(t, 2)
	if !slices.Equal(two, one) {
		t.Fatalf("two instances signalled %v\none instance %v", two, one)
	}
}

// TestDetectorRestart: a restarted detector rebuilds its windows from
// orders.v1, so a burst that straddles the restart is still caught, and an
// incident still in breach on a KILLED scope is sent again with its cmd_id
// unchanged (the workflow applies it once; the detector cannot know whether
// it reported the scope normal before the restart).
func TestDetectorRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := kafkaCluster(t, "detector-e2e")
	sig := &recordingSignaler{}
	d, stop := startDetector(t, kc, "det-restart", sig)
	detWait(t, 30*time.Second, "detector ready", d.Ready)
	now := time.Now().UnixMilli()
	var first, second []domain.Order
	for i := range 150 { // ACCOUNT:111 breaches before the restart
		first = append(first, domain.Order{OrderID: fmt.Sprint("a-", i), TS: now, AccountID: "111",
			Symbol: fmt.Sprint("S", i%7), Side: domain.Sell, Qty: 1, Price: 10})
	}
	for i := range 60 { // ACCOUNT:222: 60 now, 50 after the restart
		first = append(first, domain.Order{OrderID: fmt.Sprint("b-", i), TS: now, AccountID: "222",
			Symbol: fmt.Sprint("S", i%7), Side: domain.Sell, Qty: 1, Price: 10})
	}
	detProduce(t, kc, first)
	detWait(t, 20*time.Second, "the first incident", func() bool { return len(sig.incidents()) == 1 })
	if got := sig.incidents(); got[0] != "ACCOUNT:111/account_count_1m" {
		t.Fatalf("first incident %v", got)
	}
	// The workflow would now publish the kill; do it by hand.
	b := sig.breaches[0]
	st, _ := json.Marshal(domain.State{Scope: b.Scope, Status: domain.StatusKilled, UpdatedTS: time.Now().UnixMilli(),
		UpdatedBy: "detector", Reason: b.Reason, CorrID: b.CorrID, Version: 1, WorkflowID: b.Scope.WorkflowID()})
	cl, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: domain.TopicState, Key: []byte(b.Scope), Value: st}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Let the commit of the consumed offsets happen, then restart.
	time.Sleep(1500 * time.Millisecond)
	stop()

	sig2 := &recordingSignaler{}
	d2, _ := startDetector(t, kc, "det-restart", sig2)
	detWait(t, 30*time.Second, "restarted detector ready", d2.Ready)
	for i := range 50 {
		second = append(second, domain.Order{OrderID: fmt.Sprint("c-", i), TS: now + 1000, AccountID: "222",
			Symbol: fmt.Sprint("S", i%7), Side: domain.Sell, Qty: 1, Price: 10})
	}
	// ACCOUNT:111 keeps trading: its rebuilt incident is sent again, as the
	// same command.
	second = append(second, domain.Order{OrderID: "a-late", TS: now + 1000, AccountID: "111", Symbol: "S1",
		Side: domain.Sell, Qty: 1, Price: 10})
	detProduce(t, kc, second)
	detWait(t, 20*time.Second, "the straddling burst", func() bool { return len(sig2.incidents()) >= 2 })
	time.Sleep(500 * time.Millisecond)
	got := sig2.incidents()
	slices.Sort(got)
	if !slices.Equal(got, []string{"ACCOUNT:111/account_count_1m", "ACCOUNT:222/account_count_1m"}) {
		t.Fatalf("after the restart: %v, want ACCOUNT:111 once again and ACCOUNT:222", got)
	}
	sig2.mu.Lock()
	defer sig2.mu.Unlock()
	for _, b2 := range sig2.breaches {
		if b2.Scope == b.Scope && (b2.CmdID != b.CmdID || b2.CorrID != b.CorrID) {
			t.Fatalf("ACCOUNT:111 sent again as cmd_id %s corr_id %s, want the first %s %s", b2.CmdID, b2.CorrID, b.CmdID, b.CorrID)
		}
	}
}
