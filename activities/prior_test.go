package activities_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/killstate"
)

func TestPriorStateWaitsForTheBootstrap(t *testing.T) {
	table := killstate.NewTable(nil)
	ready := make(chan struct{})
	r := activities.NewStateReader(table, ready)
	const scope = domain.Scope("ACCOUNT:12345")
	table.ApplyState(domain.State{Scope: scope, Status: domain.StatusActive, Version: 42, Offences: []int64{1, 2}})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.PriorState(ctx, scope); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("before the bootstrap: %v, want the deadline", err)
	}
	close(ready)
	st, err := r.PriorState(context.Background(), scope)
	if err != nil || st.Version != 42 || len(st.Offences) != 2 {
		t.Fatalf("after the bootstrap: %+v, %v", st, err)
	}
	if st, err := r.PriorState(context.Background(), "ACCOUNT:none"); err != nil || st.Version != 0 {
		t.Fatalf("unknown scope: %+v, %v; want the zero state", st, err)
	}
}

func TestPublishFeedsTheSink(t *testing.T) {
	cfg := cluster(t)
	table := killstate.NewTable(nil)
	p, err := activities.NewPublisher(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), activities.WithSink(table))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const scope = domain.Scope("ACCOUNT:12345")
	if err := p.Publish(context.Background(), []activities.Publication{
		pub(scope, 7, domain.StatusKilled, domain.ActionKill),
		pub(scope, 8, domain.StatusActive, domain.ActionUnkill),
	}); err != nil {
		t.Fatal(err)
	}
	if st, ok := table.Get(scope); !ok || st.Version != 8 || st.Status != domain.StatusActive {
		t.Fatalf("table after the publish: %+v (found %v), want v8 ACTIVE", st, ok)
	}
}
