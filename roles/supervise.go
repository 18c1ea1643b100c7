package roles

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff is the restart policy of supervised parts: exponential from half
// a second to 30 s with jitter, so parts that failed together (Kafka or
// Temporal came back) do not retry in lockstep.
func Backoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 30 * time.Second
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	return b
}

// stableAfter is how long a part must run before its next failure counts as
// a first one again (the backoff starts over).
const stableAfter = time.Minute

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
	b := Backoff()
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
		if time.Since(started) > stableAfter {
			b.Reset()
		}
		if s.OnFailure != nil {
			s.OnFailure(err)
		}
		for {
			wait := b.NextBackOff()
			log.Error("component stopped; restarting", "err", err, "restart_in", wait.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			if u, err = s.Make(); err == nil {
				break
			}
		}
	}
}
