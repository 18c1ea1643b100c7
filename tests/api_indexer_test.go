package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// kfakeCluster starts an in-process Kafka with riskgate's topics.
func kfakeCluster(t *testing.T) (kafka.Config, *kgo.Client) {
	t.Helper()
	cfg := kafkaCluster(t, "indexer-e2e")
	cl, err := cfg.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cfg, cl
}

func produceJSON(t *testing.T, cl *kgo.Client, topic, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// produceAudit writes audit records for orders [from, to) in batches.
func produceAudit(t *testing.T, cl *kgo.Client, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		a := domain.AuditRecord{TS: time.Now().UnixMilli(), Decision: domain.DecisionAllow, OrderID: fmt.Sprintf("ord-%05d", i),
			AccountID: fmt.Sprintf("%05d", i%50), Symbol: "ACME", Strategy: "mm", KillswitchStatus: domain.StatusActive, Service: "router"}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: domain.TopicAudit, Key: []byte(a.OrderID), Value: b})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// runIndexer starts an indexer over the index file at path; stop ends it
// and closes the file, like a process exiting.
func runIndexer(t *testing.T, cfg kafka.Config, path string) (db *index.SQLite, stop func()) {
	t.Helper()
	db, err := index.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	x, err := index.NewIndexer(index.IndexerConfig{Kafka: cfg, Index: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := x.Run(ctx); err != nil {
			t.Errorf("indexer: %v", err)
		}
	})
	return db, func() {
		cancel()
		wg.Wait()
		db.Close()
	}
}

func waitCount(t *testing.T, db *index.SQLite, atLeast int64) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, _, _, _, err := db.Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n >= atLeast {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("index holds %d audit records, want at least %d", n, atLeast)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIndexerRestartExactlyOnce stops the indexer while records are still
// arriving, restarts it on the same file, and checks that every audit record
// is then queryable exactly once.
func TestIndexerRestartExactlyOnce(t *testing.T) {
	const total = 3000
	cfg, cl := kfakeCluster(t)
	path := filepath.Join(t.TempDir(), index.FileName)

	produceJSON(t, cl, domain.TopicCommands, "ACCOUNT:00001", domain.Command{CmdID: "c1", TS: 1, Scope: "ACCOUNT:00001",
		Action: domain.ActionKill, TriggeredBy: domain.TriggerDetector, CorrID: "k1", Reason: "breach"})
	produceJSON(t, cl, domain.TopicState, "ACCOUNT:00001", domain.State{Scope: "ACCOUNT:00001", Status: domain.StatusKilled, Version: 1, CorrID: "k1"})
	produceJSON(t, cl, domain.TopicRiskSignals, "ACCOUNT:00001", domain.RiskSignal{TS: 1, Scope: "ACCOUNT:00001", OrderCount: 120})
	// Undecodable input is skipped, counted, and never stops the indexer.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: domain.TopicAudit, Value: []byte("{not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	produceAudit(t, cl, 0, 1000)
	db, stop := runIndexer(t, cfg, path)
	// Keep producing while the first indexer runs, and stop it mid-stream.
	var prod sync.WaitGroup
	prod.Go(func() {
		for from := 1000; from < 2000; from += 100 {
			produceAudit(t, cl, from, from+100)
		}
	})
	waitCount(t, db, 500)
	stop()
	prod.Wait()
	produceAudit(t, cl, 2000, total)

	db, stop = runIndexer(t, cfg, path)
	defer stop()
	if n := waitCount(t, db, total); n != total {
		t.Fatalf("index holds %d audit records, want exactly %d", n, total)
	}
	// Let the second indexer idle on the end of the topics: nothing more may appear.
	time.Sleep(500 * time.Millisecond)
	ctx := context.Background()
	audit, commands, states, signals, err := db.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if audit != total || commands != 1 || states != 1 || signals != 1 {
		t.Fatalf("counts audit %d commands %d states %d signals %d; want %d 1 1 1", audit, commands, states, signals, total)
	}
	for i := 0; i < total; i += 97 {
		recs, err := db.Order(ctx, fmt.Sprintf("ord-%05d", i))
		if err != nil || len(recs) != 1 {
			t.Fatalf("order %d: %d records, err %v", i, len(recs), err)
		}
	}
	seen := make(map[string]bool, total)
	q := index.AuditQuery{Limit: 1000}
	for {
		p, err := db.Audit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			if seen[r.OrderID] {
				t.Fatalf("%s returned twice", r.OrderID)
			}
			seen[r.OrderID] = true
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(seen) != total {
		t.Fatalf("paging returned %d records, want %d", len(seen), total)
	}
	pos, err := db.Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var next int64
	for _, n := range pos[domain.TopicAudit] {
		next += n
	}
	if next != total+1 { // + the undecodable record
		t.Fatalf("audit positions sum to %d, want %d", next, total+1)
	}
}

// heldWriter is an index whose first Apply waits for release, noting
// whether its context had ended by the time it stored the batch.
type heldWriter struct {
	*index.SQLite
	once     sync.Once
	started  chan struct{} // closed when the first Apply begins
	release  chan struct{}
	mu       sync.Mutex
	applyErr []error // ctx.Err() of each Apply, once released
}

func (w *heldWriter) Apply(ctx context.Context, b *index.Batch) error {
	w.once.Do(func() { close(w.started) })
	<-w.release
	w.mu.Lock()
	w.applyErr = append(w.applyErr, ctx.Err())
	w.mu.Unlock()
	return w.SQLite.Apply(ctx, b)
}

// TestIndexerStopFinishesItsBatch: an indexer stopped while it stores a
// batch stores all of it and advances its positions before it returns (a
// DynamoDB index writes a batch in several requests; one cut off halfway
// would be written again at the next start), and returns no error.
func TestIndexerStopFinishesItsBatch(t *testing.T) {
	cfg, cl := kfakeCluster(t)
	produceAudit(t, cl, 0, 500)
	db, err := index.Open(filepath.Join(t.TempDir(), index.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := &heldWriter{SQLite: db, started: make(chan struct{}), release: make(chan struct{})}
	x, err := index.NewIndexer(index.IndexerConfig{Kafka: cfg, Index: w, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	select {
	case <-w.started:
	case err := <-done:
		t.Fatalf("indexer returned before storing a batch: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no batch to store within 30 s")
	}
	cancel() // the stop, while the batch is being stored
	close(w.release)
	if err := <-done; err != nil {
		t.Fatalf("stopped indexer: %v", err)
	}
	if len(w.applyErr) != 1 || w.applyErr[0] != nil {
		t.Fatalf("the batch held at the stop was stored with its context ended: %v", w.applyErr)
	}
	pos, err := db.Positions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var next int64
	for _, n := range pos[domain.TopicAudit] {
		next += n
	}
	stored, _, _, _, err := db.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stored == 0 || next != stored {
		t.Fatalf("after the stop the index holds %d audit records and its positions cover %d: want the whole batch, positions included", stored, next)
	}
}
