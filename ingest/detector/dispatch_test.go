package detector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// outageSignaler fails every signal while down is set (Temporal
// unreachable) and records what it delivered, in order, per scope.
type outageSignaler struct {
	mu        sync.Mutex
	down      bool
	block     bool // attempts hang until the outage ends (then fail) or ctx does
	failFirst int  // fail this many attempts even when up
	attempts  int
	delivered map[domain.Scope][]string
	up        chan struct{}
}

func newOutageSignaler() *outageSignaler {
	return &outageSignaler{delivered: map[domain.Scope][]string{}, up: make(chan struct{})}
}

func (s *outageSignaler) attempt(ctx context.Context, scope domain.Scope, what string) error {
	s.mu.Lock()
	s.attempts++
	block, down := s.block, s.down || s.failFirst > 0
	if s.failFirst > 0 {
		s.failFirst--
	}
	s.mu.Unlock()
	if block {
		// An attempt made during the outage hangs until it ends, and fails.
		select {
		case <-s.up:
			return errors.New("temporal unreachable")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down {
		return errors.New("temporal unreachable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered[scope] = append(s.delivered[scope], what)
	return nil
}

func (s *outageSignaler) Breach(ctx context.Context, sig domain.BreachSignal) error {
	return s.attempt(ctx, sig.Scope, "breach:"+sig.CmdID)
}

func (s *outageSignaler) Normal(ctx context.Context, sig domain.NormalSignal) error {
	return s.attempt(ctx, sig.Scope, "normal:"+sig.CmdID)
}

func (s *outageSignaler) end() {
	s.mu.Lock()
	s.down, s.block = false, false
	s.mu.Unlock()
	close(s.up)
}

func (s *outageSignaler) scopes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

func (s *outageSignaler) of(scope domain.Scope) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.delivered[scope]...)
}

// eventually polls cond until it holds or a minute has passed: a bound on
// a hang, not a performance assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

func startedDetector(t *testing.T, sig Signaler) *Detector {
	t.Helper()
	d, err := New(Config{Kafka: kafka.Config{}, Signaler: sig, Log: discardLog})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.disp.start(ctx)
	t.Cleanup(func() { cancel(); d.disp.wait() })
	return d
}

// With Temporal down during a storm of breaches, evaluation goes on (the
// engine calls the sink under the detector's lock), and once Temporal is
// back every scope's breach is delivered.
func TestEvaluationNeverBlocksOnDelivery(t *testing.T) {
	sig := newOutageSignaler()
	sig.down, sig.block = true, true
	d := startedDetector(t, sig)
	const scopes = 70_000 // more than the 64 queues of 1,024 that used to fill
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range scopes {
			sink{d}.Breach(domain.BreachSignal{CmdID: fmt.Sprint("c", i), Scope: domain.Scope(fmt.Sprint("ACCOUNT:A", i)), Rule: "r"})
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("evaluation blocked on signal delivery")
	}
	sig.end()
	eventually(t, "every scope's breach delivered", func() bool { return sig.scopes() == scopes })
}

// A breach is retried until it is delivered, however long Temporal is
// unreachable: DESIGN §10, breaches are resent until handled.
func TestBreachNeverAbandoned(t *testing.T) {
	sig := newOutageSignaler()
	sig.failFirst = 40
	d := startedDetector(t, sig)
	d.disp.retryMin, d.disp.retryMax = time.Millisecond, 2*time.Millisecond
	sink{d}.Breach(domain.BreachSignal{CmdID: "c1", Scope: "ACCOUNT:A", Rule: "r"})
	eventually(t, "the breach delivered after 40 failed attempts", func() bool { return len(sig.of("ACCOUNT:A")) == 1 })
	if got := sig.of("ACCOUNT:A"); got[0] != "breach:c1" {
		t.Fatalf("delivered %v", got)
	}
}

// During an outage a scope holds at most its latest breach and a normal
// after it; one scope's signals arrive in order, and a breach after a
// normal makes the normal moot (the scope is breaching again).
func TestPendingSignalsPerScope(t *testing.T) {
	sig := newOutageSignaler()
	sig.down, sig.block = true, true
	d := startedDetector(t, sig)
	d.disp.retryMin, d.disp.retryMax = time.Millisecond, 2*time.Millisecond
	breach := func(scope domain.Scope, cmd string) {
		sink{d}.Breach(domain.BreachSignal{CmdID: cmd, Scope: scope, Rule: "r"})
	}
	normal := func(scope domain.Scope, cmd string) {
		sink{d}.Normal(domain.NormalSignal{CmdID: cmd, Scope: scope})
	}
	// A: resends of one incident's breach, then its normal.
	for range 10_000 {
		breach("ACCOUNT:A", "a1")
	}
	normal("ACCOUNT:A", "a-normal")
	// B: normal, then the runaway resumes.
	normal("ACCOUNT:B", "b-normal")
	breach("ACCOUNT:B", "b2")
	// C: a throttle escalated to a kill.
	breach("ACCOUNT:C", "c1")
	breach("ACCOUNT:C", "c1:KILL")
	if n := d.disp.pending(); n != 3 {
		t.Fatalf("%d scopes pending, want 3", n)
	}
	sig.end()
	eventually(t, "every scope delivered", func() bool { return d.disp.pending() == 0 })
	for scope, want := range map[domain.Scope][]string{
		"ACCOUNT:A": {"breach:a1", "normal:a-normal"},
		"ACCOUNT:B": {"breach:b2"},
		"ACCOUNT:C": {"breach:c1:KILL"},
	} {
		got := sig.of(scope)
		// The first attempt of each scope hung in the outage and failed;
		// what a scope delivers afterwards is its latest signals, in order.
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s delivered %v, want %v", scope, got, want)
		}
	}
}

// Risk signals are produced under the detector's lock: a producer buffer
// that Kafka does not drain must not stop evaluation either.
func TestEvaluationNeverBlocksOnRiskSignals(t *testing.T) {
	d := startedDetector(t, newOutageSignaler())
	cl, err := kafka.Config{Brokers: []string{"127.0.0.1:1"}}.NewClient(kgo.MaxBufferedRecords(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	d.cl = cl
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 { // a risk signal for each new account key
			d.processOrder(orderRecord(t, int64(i), domain.Order{OrderID: fmt.Sprint("o", i), TS: time.Now().UnixMilli(),
				AccountID: fmt.Sprint("A", i), Symbol: "X", Side: domain.Buy, Qty: 1, Price: 1}))
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("evaluation blocked on producing risk signals")
	}
	// The promises of records that found the buffer full run on the
	// client's goroutine.
	eventually(t, "risk signals that found the buffer full counted", func() bool {
		return counterValue(t, d.m.produceErrors) >= 90
	})
}
