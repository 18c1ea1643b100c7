package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/limits"
)

// startStack starts an in-memory embedded stack for one test, or skips the
// test when the temporal CLI is not installed (run `make tools`).
func startStack(t *testing.T, o devstack.Options) *devstack.Stack {
	t.Helper()
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	o.Headless = true
	if o.Log == nil {
		o.Log = testLogger()
	}
	s, err := devstack.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// testLogger logs warnings and errors to stderr, so a failing run says why.
func testLogger() *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("RISKGATE_TEST_LOG") == "debug" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// kafkaCluster starts an in-process Kafka (kfake) on a TCP port with
// riskgate's topics, for tests that run components without the whole stack.
func kafkaCluster(t *testing.T, clientID string) kafka.Config {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc := kafka.Config{Brokers: c.ListenAddrs(), ClientID: clientID}
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
	return kc
}

// riskgateBinary builds the riskgate binary once per test run.
var riskgateBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "riskgate-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "riskgate")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/riskgate/riskgate/cmd/riskgate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// producer returns a client that produces with no linger.
func producer(t *testing.T, s *devstack.Stack) *kgo.Client {
	t.Helper()
	cl, err := s.KafkaConfig("test-producer").NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produceOrder(t *testing.T, cl *kgo.Client, o domain.Order) {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	produceRaw(t, cl, domain.TopicOrders, o.AccountID, b)
}

func produceRaw(t *testing.T, cl *kgo.Client, topic, key string, value []byte) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// topicReader collects every committed record of some topics, from the start.
type topicReader struct {
	mu      sync.Mutex
	records []*kgo.Record
	audits  map[string][]domain.AuditRecord
	cancel  context.CancelFunc
	done    chan struct{}
}

func readTopics(t *testing.T, s *devstack.Stack, topics ...string) *topicReader {
	t.Helper()
	return readKafka(t, s.KafkaConfig("test-reader"), topics...)
}

// readKafka is readTopics for any Kafka, such as one the test does not run.
func readKafka(t *testing.T, kc kafka.Config, topics ...string) *topicReader {
	t.Helper()
	cl, err := kc.NewClient(
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &topicReader{audits: map[string][]domain.AuditRecord{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer cl.Close()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			r.mu.Lock()
			fs.EachRecord(func(rec *kgo.Record) {
				r.records = append(r.records, rec)
				if rec.Topic == domain.TopicAudit {
					var a domain.AuditRecord
					if json.Unmarshal(rec.Value, &a) == nil {
						r.audits[a.OrderID] = append(r.audits[a.OrderID], a)
					}
				}
			})
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// stop stops reading, before the Kafka goes away.
func (r *topicReader) stop() { r.cancel(); <-r.done }

// audit waits for the audit record of an order.
func (r *topicReader) audit(t *testing.T, orderID string) domain.AuditRecord {
	t.Helper()
	var got []domain.AuditRecord
	eventually(t, 20*time.Second, "audit record of "+orderID, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = r.audits[orderID]
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("order %s has %d audit records, want exactly 1: %+v", orderID, len(got), got)
	}
	return got[0]
}

// decided sends orders made by mk, one at a time, until the router decides
// one as want, and returns that order's audit record. The router follows
// killswitch.state.v1 on its own, a moment after the API's table
// (devstack.Stack.States) shows a state: an order sent the instant the API
// shows a kill or an unkill can still meet the state before it.
func (r *topicReader) decided(t *testing.T, cl *kgo.Client, want domain.Decision, mk func() domain.Order) domain.AuditRecord {
	t.Helper()
	var a domain.AuditRecord
	var seen []domain.Decision
	eventually(t, 20*time.Second, "an order decided "+string(want), func() bool {
		o := mk()
		produceOrder(t, cl, o)
		a = r.audit(t, o.OrderID)
		seen = append(seen, a.Decision)
		return a.Decision == want
	})
	if len(seen) > 1 {
		t.Logf("%d orders sent until one was decided %s: %v", len(seen), want, seen)
	}
	return a
}

// find returns the records of a topic that match.
func (r *topicReader) find(topic string, match func(*kgo.Record) bool) []*kgo.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*kgo.Record
	for _, rec := range r.records {
		if rec.Topic == topic && match(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// eventually polls cond until it holds or the limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// httpDo sends a JSON request and returns the status and body.
func httpDo(t *testing.T, method, url, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// looseLimits are the default pre-trade limits with window caps and credit
// no test traffic reaches, for tests about something else than limits.
func looseLimits() *limits.Config {
	c := limits.Default()
	c.Ceilings = limits.ByType{} // no ceilings: the defaults below are above them
	for _, l := range []*limits.Limits{&c.Defaults.Global, &c.Defaults.Account, &c.Defaults.Symbol, &c.Defaults.Strategy} {
		if l.MaxOrders > 0 {
			l.MaxOrders = 1_000_000_000
		}
		if l.MaxNotional > 0 {
			l.MaxNotional = 1e14
		}
		if l.CreditLimit > 0 {
			l.CreditLimit = 1e14
		}
	}
	return &c
}
