package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/workers"
)

// ksInfra is Kafka (kfake over TCP) and a real Temporal dev server, without
// any riskgate component: the KillSwitch tests run the worker themselves.
type ksInfra struct {
	kafka  kafka.Config
	client client.Client
	// temporal is the dev server's frontend address, for processes.
	temporal string
}

func startKSInfra(t *testing.T) *ksInfra {
	t.Helper()
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	kc := kafkaCluster(t, "ks-test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalConfig{
		Headless: true, LogFile: filepath.Join(t.TempDir(), "temporal.log"), Log: testLogger(),
	})
	if err != nil {
		t.Fatalf("start temporal dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.Addr, Logger: tlog.NewStructuredLogger(testLogger())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &ksInfra{kafka: kc, client: c, temporal: srv.Addr}
}

// ksWorker is a running workers.Run that can be stopped and started again.
type ksWorker struct {
	t      *testing.T
	infra  *ksInfra
	cfg    workers.Config
	cancel context.CancelFunc
	done   chan error
}

func (in *ksInfra) startWorker(t *testing.T, cfg workers.Config) *ksWorker {
	t.Helper()
	cfg.Kafka = in.kafka
	cfg.Kafka.ClientID = "ks-worker"
	if cfg.Log == nil {
		cfg.Log = testLogger()
	}
	w := &ksWorker{t: t, infra: in, cfg: cfg}
	w.start()
	t.Cleanup(w.stop)
	return w
}

func (w *ksWorker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan error, 1)
	go func() { w.done <- workers.Run(ctx, w.infra.client, w.cfg) }()
}

func (w *ksWorker) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	if err := <-w.done; err != nil {
		w.t.Errorf("worker: %v", err)
	}
	w.cancel = nil
}

// transitions reads the commands and states a scope's workflow published.
type transitions struct {
	mu       sync.Mutex
	commands map[domain.Scope][]domain.Command
	states   map[domain.Scope][]domain.State
}

func (in *ksInfra) readTransitions(t *testing.T) *transitions {
	t.Helper()
	cfg := in.kafka
	cfg.ClientID = "ks-reader"
	cl, err := cfg.NewClient(
		kgo.ConsumeTopics(domain.TopicCommands, domain.TopicState),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	tr := &transitions{commands: map[domain.Scope][]domain.Command{}, states: map[domain.Scope][]domain.State{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cl.Close()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("fetch %s/%d: %v", topic, p, err)
				}
			})
			tr.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				switch r.Topic {
				case domain.TopicCommands:
					var c domain.Command
					if err := json.Unmarshal(r.Value, &c); err != nil {
						t.Errorf("command record: %v", err)
					}
					tr.commands[c.Scope] = append(tr.commands[c.Scope], c)
				case domain.TopicState:
					st, err := domain.DecodeState(r.Value)
					if err != nil {
						t.Errorf("state record: %v", err)
					}
					if string(r.Key) != string(st.Scope) {
						t.Errorf("state of %s keyed %q", st.Scope, r.Key)
					}
					tr.states[st.Scope] = append(tr.states[st.Scope], st)
				}
			})
			tr.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return tr
}

// waitState waits until the scope's latest published state has the status.
func (tr *transitions) waitState(t *testing.T, scope domain.Scope, want domain.Status, limit time.Duration) domain.State {
	t.Helper()
	var last domain.State
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		tr.mu.Lock()
		if s := tr.states[scope]; len(s) > 0 {
			last = s[len(s)-1]
		}
		tr.mu.Unlock()
		if last.Status == want {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not %s within %v (last published: %+v)", scope, want, limit, last)
	return last
}

// sequence returns the scope's published commands and states.
func (tr *transitions) sequence(scope domain.Scope) ([]domain.Command, []domain.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]domain.Command(nil), tr.commands[scope]...), append([]domain.State(nil), tr.states[scope]...)
}

// checkInOrder asserts that the scope published exactly the transitions
// want, in order, each state after its command, versions increasing.
func checkInOrder(t *testing.T, cmds []domain.Command, states []domain.State, want ...domain.Status) {
	t.Helper()
	var got []string
	for i, st := range states {
		got = append(got, string(st.Status))
		if i > 0 && st.Version <= states[i-1].Version {
			t.Errorf("state %d: version %d not above %d", i, st.Version, states[i-1].Version)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("published states %v, want exactly %v", got, want)
	}
	if len(cmds) != len(states) {
		t.Fatalf("%d commands for %d states", len(cmds), len(states))
	}
	for i := range cmds {
		if cmds[i].CmdID != states[i].LastCmdID || cmds[i].StateVersion != states[i].Version {
			t.Errorf("transition %d: command %s (v%d) vs state %s (v%d)", i,
				cmds[i].CmdID, cmds[i].StateVersion, states[i].LastCmdID, states[i].Version)
		}
	}
}

// ksEventually polls cond until it holds or the limit passes.
func ksEventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
