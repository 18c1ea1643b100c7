package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riskgate/riskgate/retry"
)

// A failed scheduled run is retried under the retry policy until it
// succeeds, for the same day; a retry that would land after the next day's
// run is not made.
func TestScheduledReportRetriesAFailedRun(t *testing.T) {
	at := time.Date(2026, 3, 10, 0, 15, 0, 0, time.UTC)
	now := func() time.Time { return at.Add(-10 * time.Millisecond) }
	log := slog.New(slog.DiscardHandler)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var days []time.Time
	one := func(day time.Time) error {
		days = append(days, day)
		if len(days) < 3 {
			return errors.New("index unavailable")
		}
		cancel()
		return nil
	}
	fast := retry.Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond}
	if err := scheduleReportsWith(ctx, log, time.UTC, 0, 15, one, fast, now); err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 {
		t.Fatalf("%d runs, want 3 (two failures retried, then success)", len(days))
	}
	for _, d := range days {
		if d.Format(time.DateOnly) != "2026-03-09" {
			t.Errorf("run for %s, want the previous day 2026-03-09", d.Format(time.DateOnly))
		}
	}

	// A wait past the next day's run: no retry, the loop goes on to the
	// next run (here the same instant again, since the clock stands still).
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	runs := 0
	slow := retry.Policy{Initial: 48 * time.Hour, Max: 48 * time.Hour}
	err := scheduleReportsWith(ctx, log, time.UTC, 0, 15, func(time.Time) error {
		if runs++; runs == 2 {
			cancel()
		}
		return errors.New("index unavailable")
	}, slow, now)
	if err != nil || runs != 2 {
		t.Fatalf("runs = %d, err = %v; want the failed run given up for the next one", runs, err)
	}
}
