package killstate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
)

func cluster(t *testing.T) (kafka.Config, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := kafka.Config{Brokers: c.ListenAddrs()}
	cl, err := cfg.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kafka.CreateTopics(context.Background(), kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	return cfg, cl
}

func produce(t *testing.T, cl *kgo.Client, key string, value []byte) {
	t.Helper()
	r := &kgo.Record{Topic: domain.TopicState, Key: []byte(key), Value: value}
	if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func state(t *testing.T, scope string, status domain.Status, version int64) []byte {
	t.Helper()
	b, err := json.Marshal(domain.State{Scope: domain.Scope(scope), Status: status, Version: version, CorrID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFollowerBootstrapsBeforeReadyAndKeepsNewestVersion(t *testing.T) {
	cfg, cl := cluster(t)
	produce(t, cl, "ACCOUNT:1", state(t, "ACCOUNT:1", domain.StatusKilled, 5))
	// An older version arriving later must not win.
	produce(t, cl, "ACCOUNT:1", state(t, "ACCOUNT:1", domain.StatusActive, 4))
	produce(t, cl, "ACCOUNT:2", state(t, "ACCOUNT:2", domain.StatusKilled, 1))
	produce(t, cl, "ACCOUNT:2", nil) // tombstone
	produce(t, cl, "SYMBOL:X", []byte("{not json"))
	produce(t, cl, "GLOBAL", state(t, "GLOBAL", domain.StatusActive, 9))

	table := killstate.NewTable(nil)
	f := killstate.NewFollower(cfg, table, nil)
	if f.Ready() {
		t.Fatal("ready before running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	select {
	case <-f.ReadyC():
	case <-time.After(10 * time.Second):
		t.Fatal("not bootstrapped in 10 s")
	}
	// Everything before the watermark is in the table the moment Ready is true.
	if st, ok := table.Get("ACCOUNT:1"); !ok || st.Status != domain.StatusKilled || st.Version != 5 {
		t.Errorf("ACCOUNT:1 = %+v, %v; want KILLED v5", st, ok)
	}
	if _, ok := table.Get("ACCOUNT:2"); ok {
		t.Error("tombstoned ACCOUNT:2 still held")
	}
	if _, ok := table.Get("GLOBAL"); !ok {
		t.Error("GLOBAL missing")
	}
	if f.Undecodable() != 1 {
		t.Errorf("undecodable = %d, want 1", f.Undecodable())
	}

	// Following after bootstrap.
	produce(t, cl, "ACCOUNT:1", state(t, "ACCOUNT:1", domain.StatusActive, 6))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _ := table.Get("ACCOUNT:1"); st.Version == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("update after bootstrap not applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFollowerReadyOnEmptyTopic(t *testing.T) {
	cfg, _ := cluster(t)
	f := killstate.NewFollower(cfg, killstate.NewTable(nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-f.ReadyC():
	case <-time.After(10 * time.Second):
		t.Fatal("empty topic never bootstrapped")
	}
}

func TestTableOnChange(t *testing.T) {
	var changes []string
	table := killstate.NewTable(func(st domain.State, deleted bool) {
		if deleted {
			changes = append(changes, "delete "+string(st.Scope))
			return
		}
		changes = append(changes, string(st.Status))
	})
	table.ApplyState(domain.State{Scope: "GLOBAL", Status: domain.StatusKilled, Version: 2})
	table.ApplyState(domain.State{Scope: "GLOBAL", Status: domain.StatusActive, Version: 2}) // same version: ignored
	table.ApplyState(domain.State{Scope: "GLOBAL", Status: domain.StatusActive, Version: 3})
	table.DeleteState("GLOBAL")
	table.DeleteState("GLOBAL") // nothing held: no change
	want := []string{"KILLED", "ACTIVE", "delete GLOBAL"}
	if len(changes) != len(want) {
		t.Fatalf("changes = %q, want %q", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes = %q, want %q", changes, want)
		}
	}
	if table.Len() != 0 {
		t.Fatalf("len = %d", table.Len())
	}
}

func TestFollowerStartReturnsOnceBootstrapped(t *testing.T) {
	cfg, cl := cluster(t)
	produce(t, cl, "GLOBAL", state(t, "GLOBAL", domain.StatusKilled, 1))
	table := killstate.NewTable(nil)
	f := killstate.NewFollower(cfg, table, nil)
	stop, err := f.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := table.Get("GLOBAL"); !ok || !f.Ready() {
		t.Fatal("Start returned before the bootstrap")
	}
	stop()
	stop() // safe twice
}

func TestFollowerStartEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// No broker answers: Start must return with ctx's error, not hang.
	f := killstate.NewFollower(kafka.Config{Brokers: []string{"127.0.0.1:1"}}, killstate.NewTable(nil), nil)
	stop, err := f.Start(ctx)
	if err == nil {
		t.Fatal("Start with a cancelled context returned no error")
	}
	stop()
}

// TestFollowerRefusesAStateTopicThatIsNotCompacted: a state topic with the
// delete policy loses every kill older than its retention, so a follower
// that bootstrapped from it would treat those scopes as ACTIVE. It refuses
// to start, naming the config.
func TestFollowerRefusesAStateTopicThatIsNotCompacted(t *testing.T) {
	for _, policy := range []string{"", "delete", "compact,delete"} {
		name := policy
		if name == "" {
			name = "broker default"
		}
		t.Run(name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.Ports(0))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			cfg := kafka.Config{Brokers: c.ListenAddrs()}
			cl, err := cfg.NewClient()
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			configs := map[string]*string{}
			if policy != "" {
				configs["cleanup.policy"] = &policy
			}
			if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, -1, configs, domain.TopicState); err != nil {
				t.Fatal(err)
			}
			f := killstate.NewFollower(cfg, killstate.NewTable(nil), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			stop, err := f.Start(ctx)
			stop()
			if err == nil || !strings.Contains(err.Error(), "cleanup.policy") {
				t.Fatalf("Start = %v, want a refusal naming cleanup.policy", err)
			}
			if ctx.Err() != nil {
				t.Fatal("Start waited for its context instead of refusing")
			}
		})
	}
}

// failClosedSink records what a Follower offers it.
type failClosedSink struct {
	*killstate.Table
	mu     sync.Mutex
	failed map[domain.Scope]string
}

func (s *failClosedSink) FailClosed(scope domain.Scope, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[scope] = reason
}

// TestFollowerOffersUndecodableRecordsToFailClose: a record whose value
// does not decode is offered to a FailClosedSink for the scope its key
// names, with a reason naming the record; with a key that is no scope it
// is only counted.
func TestFollowerOffersUndecodableRecordsToFailClose(t *testing.T) {
	cfg, cl := cluster(t)
	produce(t, cl, "ACCOUNT:1", []byte(`{"scope":"ACCOUNT:1","status":"KILLED","version":6.0}`))
	produce(t, cl, "not a scope", []byte(`{oops`))
	produce(t, cl, "ACCOUNT:2", state(t, "ACCOUNT:2", domain.StatusKilled, 1))
	sink := &failClosedSink{Table: killstate.NewTable(nil), failed: map[domain.Scope]string{}}
	f := killstate.NewFollower(cfg, sink, nil)
	stop, err := f.Start(context.Background())
	defer stop()
	if err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.failed) != 1 || !strings.HasPrefix(sink.failed["ACCOUNT:1"], "undecodable state record at ") {
		t.Errorf("failed closed %v, want ACCOUNT:1 with a reason naming the record", sink.failed)
	}
	if f.Undecodable() != 2 {
		t.Errorf("undecodable = %d, want 2", f.Undecodable())
	}
}

// TestFollowerFreshAsOf: FreshAsOf moves on while the follower can list
// the state topic's end offsets and read up to them, stops while it
// cannot, and moves on again after.
func TestFollowerFreshAsOf(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := kafka.Config{Brokers: c.ListenAddrs()}
	cl, err := cfg.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kafka.CreateTopics(context.Background(), kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	var blocked atomic.Bool
	var refused atomic.Int64 // ListOffsets requests refused while blocked
	c.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !blocked.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		return nil, errors.New("blocked"), true // drops the connection
	})
	f := killstate.NewFollower(cfg, killstate.NewTable(nil), nil, killstate.ProbeEvery(20*time.Millisecond))
	if !f.FreshAsOf().IsZero() {
		t.Fatal("fresh before the bootstrap")
	}
	stop, err := f.Start(context.Background())
	defer stop()
	if err != nil {
		t.Fatal(err)
	}
	advances := func() bool {
		t.Helper()
		at := f.FreshAsOf()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if f.FreshAsOf().After(at) {
				return true
			}
		}
		return false
	}
	if f.FreshAsOf().IsZero() || !advances() {
		t.Fatal("FreshAsOf does not advance while the topic is readable")
	}
	// Records to read: fresh only once they are read.
	produce(t, cl, "GLOBAL", state(t, "GLOBAL", domain.StatusKilled, 1))
	if !advances() {
		t.Fatal("FreshAsOf does not advance after new records")
	}
	blocked.Store(true)
	// A probe answered before the block may still land, however late its
	// goroutine runs; probes go one at a time, so once two have been
	// refused every earlier one has landed.
	for deadline := time.Now().Add(10 * time.Second); refused.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the follower listed no end offsets for 10 s (%d refused)", refused.Load())
		}
	}
	if advances() {
		t.Fatal("FreshAsOf advances while the end offsets cannot be listed")
	}
	blocked.Store(false)
	if !advances() {
		t.Fatal("FreshAsOf does not advance again")
	}
}

// TestTableEach: Each visits every state held once, the newest version of
// each scope, and none that was deleted.
func TestTableEach(t *testing.T) {
	tb := killstate.NewTable(nil)
	tb.ApplyState(domain.State{Scope: "ACCOUNT:1", Status: domain.StatusKilled, Version: 1})
	tb.ApplyState(domain.State{Scope: "ACCOUNT:1", Status: domain.StatusActive, Version: 2})
	tb.ApplyState(domain.State{Scope: "SYMBOL:AAPL", Status: domain.StatusThrottled, MaxRatePerSecond: 1, Version: 1})
	tb.ApplyState(domain.State{Scope: "GLOBAL", Status: domain.StatusKilled, Version: 1})
	tb.DeleteState("GLOBAL")
	seen := map[domain.Scope]domain.Status{}
	tb.Each(func(st domain.State) {
		if _, dup := seen[st.Scope]; dup {
			t.Errorf("%s visited twice", st.Scope)
		}
		seen[st.Scope] = st.Status
	})
	want := map[domain.Scope]domain.Status{"ACCOUNT:1": domain.StatusActive, "SYMBOL:AAPL": domain.StatusThrottled}
	if len(seen) != len(want) || seen["ACCOUNT:1"] != want["ACCOUNT:1"] || seen["SYMBOL:AAPL"] != want["SYMBOL:AAPL"] {
		t.Errorf("Each visited %v, want %v", seen, want)
	}
}
