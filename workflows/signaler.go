package workflows

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/domain"
)

// Signaler delivers the detector's breaches and normals to the scopes'
// KillSwitch workflows over a Temporal client: SignalWithStart for a
// breach, a plain signal for normal. It is the detector's sink
// (detector.Signaler) in production and in the dev stack.
type Signaler struct {
	Client client.Client
}

// Breach sends a breach with SendBreach.
func (t Signaler) Breach(ctx context.Context, sig domain.BreachSignal) error {
	return SendBreach(ctx, t.Client, sig)
}

// Normal sends a normal with SendNormal.
func (t Signaler) Normal(ctx context.Context, sig domain.NormalSignal) error {
	return SendNormal(ctx, t.Client, sig)
}
