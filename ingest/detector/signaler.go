package detector

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
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

// signalJob is one Breach or Normal to deliver.
type signalJob struct {
	breach   *workflows.BreachSignal
	normal   *workflows.NormalSignal
	consumed time.Time
}

// dispatcher delivers signals off the evaluation goroutine. Jobs are
// sharded by scope, so one scope's breach and normal arrive in order, and
// retried with backoff while the context lives.
type dispatcher struct {
	sig    Signaler
	log    *slog.Logger
	m      *metrics
	shards []chan signalJob
	seed   maphash.Seed
	wg     sync.WaitGroup
}

const (
	dispatchShards = 64
	dispatchQueue  = 1024
	retryMax       = 5 * time.Second
	// giveUpAfter bounds the retries of one signal: a breach older than this
	// is stale; the next crossing opens a new incident anyway.
	giveUpAfter = 2 * time.Minute
)

func newDispatcher(sig Signaler, log *slog.Logger, m *metrics) *dispatcher {
	d := &dispatcher{sig: sig, log: log, m: m, seed: maphash.MakeSeed()}
	for range dispatchShards {
		d.shards = append(d.shards, make(chan signalJob, dispatchQueue))
	}
	return d
}

func (d *dispatcher) start(ctx context.Context) {
	for _, ch := range d.shards {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-ch:
					d.deliver(ctx, j)
				}
			}
		}()
	}
}

func (d *dispatcher) wait() { d.wg.Wait() }

func (d *dispatcher) enqueue(ctx context.Context, scope string, j signalJob) {
	ch := d.shards[maphash.String(d.seed, scope)%uint64(len(d.shards))]
	select {
	case ch <- j:
	case <-ctx.Done():
	}
}

func (d *dispatcher) deliver(ctx context.Context, j signalJob) {
	sctx := context.WithValue(ctx, consumedKey{}, j.consumed)
	var (
		scope, corr, kind string
		send              func() error
	)
	if j.breach != nil {
		scope, corr, kind = string(j.breach.Scope), j.breach.CorrID, "breach"
		send = func() error { return d.sig.Breach(sctx, *j.breach) }
	} else {
		scope, corr, kind = string(j.normal.Scope), j.normal.CmdID, "normal"
		send = func() error { return d.sig.Normal(sctx, *j.normal) }
	}
	start := time.Now()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := send()
		if err == nil {
			d.m.signalSeconds.WithLabelValues(kind).Observe(time.Since(j.consumed).Seconds())
			d.log.Info("signal delivered", "kind", kind, "scope", scope, "corr_id", corr, "attempts", attempt)
			return
		}
		d.m.signalErrors.WithLabelValues(kind).Inc()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > giveUpAfter {
			d.log.Error("signal abandoned", "kind", kind, "scope", scope, "corr_id", corr, "attempts", attempt, "err", err)
			return
		}
		d.log.Warn("signal failed, retrying", "kind", kind, "scope", scope, "corr_id", corr, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, retryMax)
	}
}
