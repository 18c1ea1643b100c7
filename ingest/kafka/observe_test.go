package kafka

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func fakeCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// produced is riskgate_kafka_produce_records_total per client_id.
func produced(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "riskgate_kafka_produce_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "client_id")] += m.GetCounter().GetValue()
		}
	}
	return out
}

// waitProduced waits for the counts to be want: franz-go counts a batch in
// a hook that may run just after the produce returns.
func waitProduced(t *testing.T, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	var got map[string]float64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = produced(t, reg); maps.Equal(got, want) {
			return
		}
	}
	t.Fatalf("records produced by client_id = %v, want %v", got, want)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func produce(t *testing.T, cl *kgo.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// Clients open at once under one id are counted apart in one registry; a
// closed client's series go and its label serves the next client.
func TestClientMetricsLabelEveryOpenClient(t *testing.T) {
	brokers := fakeCluster(t)
	reg := prometheus.NewRegistry()
	cfg := Config{Brokers: brokers, ClientID: "riskgate-router", Metrics: NewClientMetrics(reg, nil)}

	a, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	produce(t, a, 3)
	produce(t, b, 2)
	waitProduced(t, reg, map[string]float64{"riskgate-router": 3, "riskgate-router-2": 2})

	a.Close()
	waitProduced(t, reg, map[string]float64{"riskgate-router-2": 2})
	// The freed label is reused: no panic from registering it again, and
	// the new client's counts start afresh.
	c, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	produce(t, c, 1)
	waitProduced(t, reg, map[string]float64{"riskgate-router": 1, "riskgate-router-2": 2})
	b.Close()
}

// A client that cannot be built gives its label back.
func TestClientMetricsReleaseOnFailedClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewClientMetrics(reg, nil)
	cfg := Config{Brokers: []string{"127.0.0.1:1"}, ClientID: "x", Metrics: m}
	if _, err := cfg.NewClient(kgo.SeedBrokers("127.0.0.1:notaport")); err == nil {
		t.Fatal("a client with a bad seed broker built")
	}
	if l := m.claim("x"); l != "x" {
		t.Fatalf("label after a failed client = %q, want x (released)", l)
	}
}

// syncBuffer is a log destination the client's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The client's own lines reach slog at info — a group join and its
// assignment — named by client; the lines of every committed transaction
// do not, and an abort does.
func TestClientLogAtInfoWithoutPerTransactionLines(t *testing.T) {
	brokers := fakeCluster(t)
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := Config{Brokers: brokers, ClientID: "riskgate-test", Log: log}

	seed, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	produce(t, seed, 10)
	seed.Close()

	sess, err := cfg.NewGroupTransactSession(kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.TransactionalID("txn"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := 0
	commits := 0
	for seen < 10 {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 10 records: %v", seen, ctx.Err())
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			sess.Produce(ctx, &kgo.Record{Topic: "t", Value: r.Value}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			commits++
		}
	}
	if commits == 0 {
		t.Fatal("no transaction committed")
	}
	// One transaction that aborts.
	if err := sess.Begin(); err != nil {
		t.Fatal(err)
	}
	sess.Produce(ctx, &kgo.Record{Topic: "t", Value: []byte("aborted")}, nil)
	if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}

	logs := out.String()
	if !strings.Contains(logs, `"client_id":"riskgate-test"`) || !strings.Contains(logs, `"subsystem":"kafka"`) {
		t.Errorf("client lines not named by client and subsystem:\n%s", logs)
	}
	for _, want := range []string{`"msg":"synced"`, `"msg":"assigning partitions"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s line at info:\n%s", want, logs)
		}
	}
	var abortLines, commitLines int
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, `"msg":"ending transaction"`) && !strings.Contains(l, `"msg":"transaction session ending"`) {
			continue
		}
		if strings.Contains(l, `"commit":false`) || strings.Contains(l, `"will_try_commit":false`) {
			abortLines++
		} else {
			commitLines++
		}
	}
	if commitLines != 0 {
		t.Errorf("%d lines of committed transactions logged at info; want them at debug", commitLines)
	}
	if abortLines == 0 {
		t.Errorf("the aborted transaction is not logged at info:\n%s", logs)
	}
	if strings.Contains(logs, `"msg":"beginning transaction"`) {
		t.Error("every transaction's beginning is logged at info")
	}
}
