package detector

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/workflows"
)

// Signaler delivers the detector's findings to the scope's KillSwitch
// workflow. Tests fake it; TemporalSignaler is the real one.
type Signaler interface {
	// Breach starts or signals the scope's workflow with a breach.
	Breach(ctx context.Context, sig workflows.BreachSignal) error
	// Normal tells the scope's open run that the scope is back to normal.
	Normal(ctx context.Context, sig workflows.NormalSignal) error
}

// TemporalSignaler is the Signaler over a Temporal client
// (SignalWithStart for a breach, a plain signal for normal).
type TemporalSignaler struct {
	Client client.Client
}

// Breach implements Signaler with workflows.SendBreach.
func (t TemporalSignaler) Breach(ctx context.Context, sig workflows.BreachSignal) error {
	return workflows.SendBreach(ctx, t.Client, sig)
}

// Normal implements Signaler with workflows.SendNormal.
func (t TemporalSignaler) Normal(ctx context.Context, sig workflows.NormalSignal) error {
	return workflows.SendNormal(ctx, t.Client, sig)
}

type consumedKey struct{}

// ConsumedAt returns when the detector consumed the record that led to the
// signal carried by ctx (a Signaler's context). Ticks carry the tick time.
func ConsumedAt(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(consumedKey{}).(time.Time)
	return t, ok
}
