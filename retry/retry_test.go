package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// band is the range a wait of base may take under jitter j.
func band(base time.Duration, j float64) (lo, hi time.Duration) {
	return time.Duration(float64(base) * (1 - j)), time.Duration(float64(base) * (1 + j))
}

func inBand(t *testing.T, what string, got, base time.Duration, j float64) {
	t.Helper()
	lo, hi := band(base, j)
	// One nanosecond either way: the bounds are computed in floating point.
	if got < lo-1 || got > hi+1 {
		t.Errorf("%s: wait %v outside [%v, %v]", what, got, lo, hi)
	}
}

// Waits double from Initial up to Max, each within the jitter band of its
// base, and never beyond the band of Max.
func TestWaitsGrowToTheCapWithinTheJitterBand(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Jitter: 0.5}
	b := p.New()
	base := p.Initial
	for i := range 12 {
		inBand(t, fmt.Sprintf("wait %d", i+1), b.Next(), base, p.Jitter)
		base = min(2*base, p.Max)
	}
}

// Two loops that fail at the same moment do not wait the same: the first
// wait of many fresh Backoffs takes many values, all in the band.
func TestJitterSpreadsLoopsThatFailedTogether(t *testing.T) {
	p := Policy{Initial: time.Second, Max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 200 {
		w := p.New().Next()
		inBand(t, "first wait", w, p.Initial, 0.5)
		seen[w] = true
	}
	if len(seen) < 100 {
		t.Errorf("200 loops waited only %d different first waits: no jitter", len(seen))
	}
}

// After a success the waits start over at Initial.
func TestResetStartsTheWaitsOver(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}
	b := p.New()
	for range 6 {
		b.Next()
	}
	lo, _ := band(3200*time.Millisecond, 0.5)
	if w := b.Next(); w < lo {
		t.Fatalf("seventh wait %v, want the grown wait of at least %v", w, lo)
	}
	b.Reset()
	inBand(t, "after Reset", b.Next(), p.Initial, 0.5)
}

// A long-lived attempt that ran past StableAfter counts as a success: its
// failure waits like a first one; a short one keeps growing the waits.
func TestNextAfterStartsOverAfterAStableRun(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, StableAfter: time.Minute}
	b := p.New()
	for range 6 {
		b.NextAfter(time.Now())
	}
	lo, _ := band(6400*time.Millisecond, 0.5)
	if w := b.NextAfter(time.Now()); w < lo {
		t.Fatalf("wait after a short attempt %v, want the grown wait of at least %v", w, lo)
	}
	inBand(t, "after a stable run", b.NextAfter(time.Now().Add(-2*time.Minute)), p.Initial, 0.5)
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond}
	calls, notified := 0, 0
	err := Do(context.Background(), p, 0, func() error {
		if calls++; calls < 4 {
			return errors.New("busy")
		}
		return nil
	}, func(err error, wait time.Duration) {
		notified++
		if wait <= 0 {
			t.Errorf("notified wait %v", wait)
		}
	})
	if err != nil || calls != 4 || notified != 3 {
		t.Fatalf("Do = %v after %d calls and %d notifications, want nil after 4 and 3", err, calls, notified)
	}
}

func TestDoStopsAtTriesAndOnPermanent(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: time.Millisecond}
	busy := errors.New("busy")
	calls := 0
	if err := Do(context.Background(), p, 3, func() error { calls++; return busy }, nil); !errors.Is(err, busy) || calls != 3 {
		t.Fatalf("Do with 3 tries = %v after %d calls, want busy after 3", err, calls)
	}
	bad := errors.New("bad input")
	calls = 0
	if err := Do(context.Background(), p, 0, func() error { calls++; return Permanent(bad) }, nil); !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("Do with a permanent error = %v after %d calls, want bad input after 1", err, calls)
	}
}

func TestDoEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := Policy{Initial: time.Hour, Max: time.Hour}
	err := Do(ctx, p, 0, func() error { cancel(); return errors.New("down") }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on an ended context = %v", err)
	}
}
