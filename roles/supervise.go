package roles

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riskgate/riskgate/retry"
)

// Restarts is the restart policy of supervised parts: from half a second
// to 30 s with jitter, so parts that failed together (Kafka or Temporal
// came back) do not restart in lockstep; a part that ran a minute before it
// failed starts the waits over.
var Restarts = retry.Policy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, StableAfter: time.Minute}

// Supervisor runs a role and, whenever it stops on its own before its
// context ends, logs why and builds and runs it again after a backoff.
type Supervisor struct {
	// Make builds a fresh Unit; a role is never run twice.
	Make func() (Unit, error)
	// OnStart, if set, is called with each Unit before it runs (the dev
	// stack follows the current one's readiness).
	OnStart func(Unit)
	// OnFailure, if set, is called with each failure before the restart.
	OnFailure func(error)
	Log       *slog.Logger
}

// Run runs first (already built, so that start-up errors reach the caller
// at once) and then restarts until ctx ends. It returns when ctx has ended
// and the running Unit has returned.
func (s Supervisor) Run(ctx context.Context, first Unit) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	b := Restarts.New()
	u := first
	for {
		if s.OnStart != nil {
			s.OnStart(u)
		}
		started := time.Now()
		err := u.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		if s.OnFailure != nil {
			s.OnFailure(err)
		}
		wait := b.NextAfter(started)
		for {
			log.Error("component stopped; restarting", "err", err, "restart_in", wait.Round(time.Millisecond))
			if retry.Wait(ctx, wait) != nil {
				return
			}
			if u, err = s.Make(); err == nil {
				break
			}
			wait = b.Next()
		}
	}
}
