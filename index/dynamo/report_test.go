package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/report"
	"github.com/riskgate/riskgate/report/reporttest"
)

// The daily report over the DynamoDB index lists a kill that began three
// days before the day and still holds, with no command since and no drop
// that day, with its start (report/carryover_test.go runs the same
// scenario on SQLite).
func TestReportKillInForceWithoutCommandOrDrop(t *testing.T) {
	s, _ := newStore(t, newClient(t), nil)
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	var b index.Batch
	start := reporttest.KillFromDaysBefore(&b, day)
	ctx := context.Background()
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	r, err := report.Build(ctx, s, day, report.Options{Now: func() time.Time { return day.Add(25 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	reporttest.CheckKillFromDaysBefore(t, r, start)
}
