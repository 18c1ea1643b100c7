package detector

import (
	"context"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// Signaler delivers the detector's findings to the scope's KillSwitch
// workflow: the detector only needs this sink. Tests fake it; the Temporal
// one is workflows.Signaler, wired in by the role and the dev stack, so
// nothing under ingest/ depends on Temporal.
type Signaler interface {
	// Breach starts or signals the scope's workflow with a breach.
	Breach(ctx context.Context, sig domain.BreachSignal) error
	// Normal tells the scope's open run that the scope is back to normal.
	Normal(ctx context.Context, sig domain.NormalSignal) error
}

type consumedKey struct{}

// ConsumedAt returns when the detector consumed the record that led to the
// signal carried by ctx (a Signaler's context). Ticks carry the tick time.
func ConsumedAt(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(consumedKey{}).(time.Time)
	return t, ok
}
