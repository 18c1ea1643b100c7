package detector

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

func limitRecord(scope domain.Scope, ts, blocks int64, metric string) domain.RiskSignal {
	return domain.RiskSignal{TS: ts, Scope: scope, Blocks: blocks, BlocksWindowMS: 60_000,
		Breaches: []domain.Breach{{Rule: "limit:" + metric, Metric: metric, Value: 101, Threshold: 100}}}
}

// TestLimitEscalator: ten BLOCKs of a scope in the router's minute, or any
// credit_limit BLOCK, escalate once per minute per scope with trigger limit;
// fewer blocks, the detector's own signals and credit warnings do not.
func TestLimitEscalator(t *testing.T) {
	e := newLimitEscalator(10)
	const t0 = 1_700_000_000_000
	for _, tc := range []struct {
		name string
		rs   domain.RiskSignal
		want bool
	}{
		{"first block", limitRecord("ACCOUNT:1", t0, 1, "max_orders"), false},
		{"nine blocks", limitRecord("ACCOUNT:1", t0+100, 9, "max_orders"), false},
		{"ten blocks", limitRecord("ACCOUNT:1", t0+200, 10, "max_orders"), true},
		{"more within the minute", limitRecord("ACCOUNT:1", t0+30_000, 40, "max_orders"), false},
		{"a minute later", limitRecord("ACCOUNT:1", t0+60_200, 12, "max_orders"), true},
		{"another scope", limitRecord("SYMBOL:AAPL", t0+300, 11, "max_notional"), true},
		{"a credit limit block", limitRecord("ACCOUNT:2", t0+400, 1, "credit_limit"), true},
		{"the detector's own breach", domain.RiskSignal{TS: t0, Scope: "ACCOUNT:3", OrderCount: 500,
			Breaches: []domain.Breach{{Rule: "account_count_1m", Metric: "order_count", Value: 500, Threshold: 100}}}, false},
		{"a credit warning", domain.RiskSignal{TS: t0, Scope: "ACCOUNT:4", Blocks: 50,
			Breaches: []domain.Breach{{Rule: "credit_warning_90", Metric: "credit_used", Value: 9, Threshold: 9}}}, false},
		{"a bad scope", limitRecord("ACCOUNT:", t0, 50, "max_orders"), false},
	} {
		sig, ok := e.observe(&tc.rs)
		if ok != tc.want {
			t.Errorf("%s: escalated %v, want %v", tc.name, ok, tc.want)
			continue
		}
		if !ok {
			continue
		}
		if sig.Trigger != domain.TriggerLimit || sig.Action != domain.ActionKill || sig.Scope != tc.rs.Scope ||
			sig.CmdID == "" || sig.TS != tc.rs.TS {
			t.Errorf("%s: breach %+v, want a KILL of %s with trigger limit", tc.name, sig, tc.rs.Scope)
		}
	}
}

// chanSignaler hands every breach to a channel.
type chanSignaler struct{ ch chan domain.BreachSignal }

func (s *chanSignaler) Breach(_ context.Context, b domain.BreachSignal) error {
	s.ch <- b
	return nil
}
func (s *chanSignaler) Normal(context.Context, domain.NormalSignal) error { return nil }

// TestDetectorEscalatesLimitBlocks: limit-breach records on risk_signals.v1
// (kfake, over TCP) reach the scope's workflow as one breach with trigger
// limit once the router counts ten BLOCKs in its minute.
func TestDetectorEscalatesLimitBlocks(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc := kafka.Config{Brokers: c.ListenAddrs(), ClientID: "limitwatch-test"}
	cl, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.CreateTopics(ctx, kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	sig := &chanSignaler{ch: make(chan domain.BreachSignal, 16)}
	d, err := New(Config{Kafka: kc, Signaler: sig, Log: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("detector: %v", err)
		}
	}()

	now := time.Now().UnixMilli()
	for i, blocks := range []int64{1, 5, 10, 30} {
		b, _ := json.Marshal(limitRecord("ACCOUNT:77", now+int64(i), blocks, "max_orders"))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicRiskSignals, Key: []byte("ACCOUNT:77"), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case b := <-sig.ch:
		if b.Scope != "ACCOUNT:77" || b.Trigger != domain.TriggerLimit || b.Value != 10 || b.Rule != limitEscalationRule {
			t.Fatalf("breach %+v, want ACCOUNT:77 escalated at 10 blocks with trigger limit", b)
		}
	case <-ctx.Done():
		t.Fatal("no escalation within a minute")
	}
	select {
	case b := <-sig.ch:
		t.Fatalf("a second escalation within the minute: %+v", b)
	case <-time.After(2 * time.Second):
	}
}

// testLog sends log lines to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
