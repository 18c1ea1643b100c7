// Package retry is riskgate's one retry policy: waits that grow
// exponentially up to a cap, each spread by random jitter so that parts
// that failed together (Kafka or Temporal came back) do not retry in
// lockstep, and that start over after a success. It is cenkalti/backoff's
// exponential backoff with riskgate's defaults; every retrying loop of
// riskgate (router sessions, the indexer, the DynamoDB writer, the report
// scheduler, the supervisors) uses it, so they all behave alike.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy says how long to wait between attempts.
type Policy struct {
	// Initial is the wait after the first failure, before jitter.
	Initial time.Duration
	// Max caps the wait, before jitter.
	Max time.Duration
	// Multiplier grows the wait after each failure. Default 2.
	Multiplier float64
	// Jitter spreads each wait uniformly over ±Jitter of it: 0.5 waits
	// between 50 % and 150 %. Default 0.5.
	Jitter float64
	// StableAfter, when set, is how long an attempt must have run before
	// its failure counts as a first failure again (see Backoff.NextAfter):
	// for loops whose attempts are long-lived sessions, where running a
	// while is the success.
	StableAfter time.Duration
}

// Backoff is the state of one retrying loop under a Policy. It is not safe
// for concurrent use: each loop has its own.
type Backoff struct {
	b           *backoff.ExponentialBackOff
	stableAfter time.Duration
}

// New starts a Backoff under p.
func (p Policy) New() *Backoff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.Initial
	b.MaxInterval = max(p.Max, p.Initial)
	b.Multiplier = p.Multiplier
	if b.Multiplier <= 0 {
		b.Multiplier = 2
	}
	b.RandomizationFactor = p.Jitter
	if b.RandomizationFactor <= 0 {
		b.RandomizationFactor = 0.5
	}
	b.Reset()
	return &Backoff{b: b, stableAfter: p.StableAfter}
}

// Next is the wait before the next attempt, after a failure; each call
// grows the following one.
func (b *Backoff) Next() time.Duration { return b.b.NextBackOff() }

// Reset starts the waits over: call it after a success.
func (b *Backoff) Reset() { b.b.Reset() }

// NextAfter is Next for an attempt that began at started and has failed:
// when it ran at least the policy's StableAfter, it was a success that
// ended, and the waits start over first.
func (b *Backoff) NextAfter(started time.Time) time.Duration {
	if b.stableAfter > 0 && time.Since(started) >= b.stableAfter {
		b.Reset()
	}
	return b.Next()
}

// Wait sleeps the given wait, or less if ctx ends first (then it returns
// ctx's error).
func Wait(ctx context.Context, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do calls op until it succeeds, at most tries times (0: until ctx ends),
// waiting between attempts as p says; notify, when set, hears each failure
// that is retried and the wait before the next attempt. It returns nil, the
// last failure, or ctx's error if ctx ended while waiting. An error wrapped
// by Permanent is not retried.
func Do(ctx context.Context, p Policy, tries uint, op func() error, notify func(err error, wait time.Duration)) error {
	opts := []backoff.RetryOption{
		backoff.WithBackOff(p.New().b),
		backoff.WithMaxTries(tries),
		// Bounded by tries and ctx only, not by backoff's default 15 min.
		backoff.WithMaxElapsedTime(0),
	}
	if notify != nil {
		opts = append(opts, backoff.WithNotify(notify))
	}
	_, err := backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, op() }, opts...)
	return err
}

// Permanent marks an error that Do must not retry.
func Permanent(err error) error { return backoff.Permanent(err) }
