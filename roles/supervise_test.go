package roles

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestSupervisorRestartsAUnitThatStopsOnItsOwn: a unit that fails is built
// again and rerun, each failure is reported, and cancelling ends it all.
func TestSupervisorRestartsAUnitThatStopsOnItsOwn(t *testing.T) {
	var built, failures atomic.Int32
	healthy := make(chan struct{})
	mk := func() (Unit, error) {
		n := built.Add(1)
		if n == 2 {
			return Unit{}, errors.New("cannot build now") // a failed rebuild is retried too
		}
		return Unit{Name: "flaky", Run: func(ctx context.Context) error {
			if n < 4 {
				return errors.New("boom")
			}
			close(healthy)
			<-ctx.Done()
			return nil
		}}, nil
	}
	first, _ := mk()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Supervisor{Make: mk, OnFailure: func(error) { failures.Add(1) }, Log: slog.New(slog.DiscardHandler)}.Run(ctx, first)
	}()
	select {
	case <-healthy:
	case <-time.After(30 * time.Second):
		t.Fatalf("unit not running again after %d builds", built.Load())
	}
	if got := failures.Load(); got != 2 {
		t.Errorf("%d failures reported, want 2 (runs 1 and 3)", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestSupervisorEndsDuringBackoff: a cancel while waiting to restart ends
// Run at once.
func TestSupervisorEndsDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	u := Unit{Run: func(context.Context) error { return errors.New("down") }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Supervisor{Make: func() (Unit, error) { return u, nil }, OnFailure: func(error) { cancel() }, Log: slog.New(slog.DiscardHandler)}.Run(ctx, u)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel during backoff")
	}
}
