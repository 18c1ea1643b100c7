package detector

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// deliveringSink is a recSink that reports every breach it recorded as
// delivered (Temporal accepted it).
type deliveringSink struct{ recSink }

func (s *deliveringSink) Delivered(scope domain.Scope, cmdID string) bool {
	for _, b := range s.breaches {
		if b.Scope == scope && b.CmdID == cmdID {
			return true
		}
	}
	return false
}

// undeliveredSink is a recSink whose breaches Temporal never accepted.
type undeliveredSink struct{ recSink }

func (*undeliveredSink) Delivered(domain.Scope, string) bool { return false }

// A breach not yet accepted by Temporal is resent every 10 s as before: the
// dispatcher holds one per scope, so a resend costs nothing.
func TestUndeliveredBreachResentEveryTenSeconds(t *testing.T) {
	s := &undeliveredSink{}
	e, err := NewEngine(oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), s, states{}.get)
	if err != nil {
		t.Fatal(err)
	}
	for ts := t0; ts < t0+45_000; ts += 50 {
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if len(s.breaches) != 5 {
		t.Fatalf("%d breach signals in 45 s of an undelivered breach, want 5 (one, then every 10 s)", len(s.breaches))
	}
	for i := 1; i < len(s.breaches); i++ {
		if gap := s.breaches[i].TS - s.breaches[i-1].TS; gap < resignalAfter || gap > resignalAfter+100 {
			t.Errorf("resend %d after %d ms, want %d", i, gap, resignalAfter)
		}
	}
}

func newDeliveringEngine(t *testing.T, r Rules, st states) (*Engine, *deliveringSink) {
	t.Helper()
	s := &deliveringSink{}
	e, err := NewEngine(r, s, st.get)
	if err != nil {
		t.Fatal(err)
	}
	return e, s
}

// A breach Temporal accepted is in its run's history: while the state topic
// shows nothing of it yet (a slow workflow, a mass kill on a loaded server)
// it is not resent every 10 s, which would give that workflow one more task
// each time; it is resent after a minute, then at doubling gaps of at most
// five minutes, for as long as the scope breaches, and never once handled.
func TestDeliveredBreachResentOnlyWhenOverdue(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	st := states{}
	e, s := newDeliveringEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
	ts := t0
	const span = 30 * 60_000 // half an hour of a runaway no state ever shows handled
	for ; ts < t0+span; ts += 50 {
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if len(s.breaches) < 2 {
		t.Fatalf("%d breach signals in half an hour unhandled: a delivered breach was abandoned", len(s.breaches))
	}
	var gaps []int64
	for i := 1; i < len(s.breaches); i++ {
		if s.breaches[i].CmdID != s.breaches[0].CmdID {
			t.Fatalf("resend %d has cmd_id %s, want the incident's %s", i, s.breaches[i].CmdID, s.breaches[0].CmdID)
		}
		gaps = append(gaps, s.breaches[i].TS-s.breaches[i-1].TS)
	}
	if gaps[0] < resendDelivered {
		t.Errorf("first resend of a delivered breach after %d ms, want at least %d", gaps[0], resendDelivered)
	}
	for i, g := range gaps {
		if i > 0 && g < gaps[i-1] {
			t.Errorf("resend gaps %v shrink", gaps)
		}
		if g > resendMax+1000 {
			t.Errorf("resend gap %d ms over the %d ms bound: gaps %v", g, resendMax, gaps)
		}
	}
	if last := s.breaches[len(s.breaches)-1].TS; ts-last > resendMax+1000 {
		t.Errorf("no resend in the last %d ms of the breach", ts-last)
	}
	// Killed: no more.
	st[acct] = domain.State{Scope: acct, Status: domain.StatusKilled, Version: 2}
	n := len(s.breaches)
	for end := ts + span; ts < end; ts += 50 {
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if len(s.breaches) != n {
		t.Errorf("%d resends after the state showed the kill", len(s.breaches)-n)
	}
}

// A workflow that released the scope by itself while it still breaches
// needs the breach again at once, delivered before or not.
func TestDeliveredBreachResentAfterSystemRelease(t *testing.T) {
	acct := domain.Scope("ACCOUNT:A")
	st := states{}
	e, s := newDeliveringEngine(t, oneRule(countRule(domain.ScopeAccount, time.Minute, 10)), st)
	ts := t0
	for len(s.breaches) < 1 {
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	first := s.breaches[0].TS
	st[acct] = domain.State{Scope: acct, Status: domain.StatusActive, Trigger: domain.TriggerSystem, UpdatedTS: ts + 500, Version: 5}
	for len(s.breaches) < 2 && ts < first+resendDelivered {
		ts += 100
		e.ObserveAll(obs(ts, "A", "X"), 0, true)
	}
	if len(s.breaches) < 2 {
		t.Fatal("a scope the workflow released while in breach was not signalled again within a minute")
	}
	if gap := s.breaches[1].TS - first; gap < resignalAfter || gap > resignalAfter+1000 {
		t.Errorf("resent %d ms after the breach, want about %d", gap, resignalAfter)
	}
}

// gateSignaler holds every delivery until released, counting attempts.
type gateSignaler struct {
	mu       sync.Mutex
	attempts map[string]int
	gate     chan struct{}
}

func (g *gateSignaler) Breach(ctx context.Context, sig domain.BreachSignal) error {
	g.mu.Lock()
	g.attempts[sig.CmdID]++
	g.mu.Unlock()
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gateSignaler) Normal(context.Context, domain.NormalSignal) error { return nil }

func (g *gateSignaler) count(cmd string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.attempts[cmd]
}

// The same breach handed over while it is being delivered is not delivered
// again (the attempt in flight decides; a failure puts it back), and once
// delivered the dispatcher reports it so.
func TestResendOfBreachInFlightNotRepeated(t *testing.T) {
	sig := &gateSignaler{attempts: map[string]int{}, gate: make(chan struct{})}
	d := startedDetector(t, sig)
	b := domain.BreachSignal{CmdID: "c1", Scope: "ACCOUNT:A", Rule: "r"}
	sink{d}.Breach(b)
	eventually(t, "the first attempt under way", func() bool { return sig.count("c1") == 1 })
	for range 100 {
		sink{d}.Breach(b)
	}
	if (sink{d}).Delivered(b.Scope, b.CmdID) {
		t.Fatal("reported delivered while its delivery is in flight")
	}
	close(sig.gate)
	eventually(t, "delivered", func() bool { return d.disp.pending() == 0 })
	if n := sig.count("c1"); n != 1 {
		t.Errorf("%d attempts, want 1: resends of a breach in flight were delivered again", n)
	}
	if !(sink{d}).Delivered(b.Scope, b.CmdID) || (sink{d}).Delivered(b.Scope, "c2") {
		t.Error("Delivered does not report the delivered breach alone")
	}
	// A breach after delivery is a resend the engine asked for: delivered.
	sink{d}.Breach(b)
	eventually(t, "the resend delivered", func() bool { return sig.count("c1") == 2 && d.disp.pending() == 0 })
}
