package detector

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/riskgate/riskgate/domain"
)

// signalJob is one Breach or Normal to deliver.
type signalJob struct {
	breach   *domain.BreachSignal
	normal   *domain.NormalSignal
	consumed time.Time
}

// dispatcher delivers signals off the evaluation goroutine. The engine
// calls the sink under the detector's lock, so handing a signal over must
// never wait on Temporal: each scope has one mailbox holding what it still
// has to say (its latest breach, and a normal after it), so a storm of
// breaches costs memory per scope, not per signal, and enqueueing never
// blocks. One scope's signals are delivered in order, one at a time; a
// failed delivery is retried with backoff for as long as the detector runs,
// because a breach is resent until handled (DESIGN §10) and a signal is
// only ever dropped for a newer one of the same scope that says more, or
// for the same breach already being delivered.
type dispatcher struct {
	sig Signaler
	log *slog.Logger
	m   *metrics
	// retryMin and retryMax bound the backoff between a scope's attempts.
	retryMin, retryMax time.Duration

	mu     sync.Mutex
	boxes  map[string]*mailbox
	ready  []string // scopes with a signal to deliver and no attempt running or waiting
	closed bool
	wake   chan struct{}
	wg     sync.WaitGroup
	// delivered holds each scope's last breach Temporal accepted, for
	// Delivered; swept of entries older than deliveredKeep.
	delivered map[string]deliveredBreach
	swept     time.Time
}

// deliveredBreach is a scope's last delivered breach.
type deliveredBreach struct {
	cmd string
	at  time.Time
}

// deliveredKeep is how long a delivered breach is remembered: past the
// engine's longest resend gap, after which a resend goes out anyway.
const deliveredKeep = 10 * time.Minute

// mailbox is what one scope still has to deliver.
type mailbox struct {
	// breach, then normal, in that order; a new breach clears the normal
	// (the scope is breaching again, the normal no longer holds).
	breach, normal *signalJob
	// inflight is the job a worker is delivering; queued, that the scope is
	// in ready; retry, that it is backing off after a failure.
	inflight *signalJob
	queued   bool
	retry    *time.Timer
	backoff  *backoff.ExponentialBackOff // made at the first failure, dropped on success
	attempts int
}

func (b *mailbox) empty() bool { return b.breach == nil && b.normal == nil }

const (
	dispatchWorkers = 64
	retryMin        = 100 * time.Millisecond
	retryMax        = 5 * time.Second
	// warnEvery limits the log to one warning per this many failed attempts
	// of one scope (at retryMax, about one a minute).
	warnEvery = 12
)

func newDispatcher(sig Signaler, log *slog.Logger, m *metrics) *dispatcher {
	return &dispatcher{sig: sig, log: log, m: m, retryMin: retryMin, retryMax: retryMax,
		boxes: make(map[string]*mailbox), wake: make(chan struct{}, 1), delivered: make(map[string]deliveredBreach)}
}

func (d *dispatcher) start(ctx context.Context) {
	for range dispatchWorkers {
		d.wg.Go(func() {
			for {
				scope, j, ok := d.next(ctx)
				if !ok {
					return
				}
				err := d.deliver(ctx, j)
				if ctx.Err() != nil {
					return // shutting down: a restarted detector signals again what is still in breach
				}
				d.done(scope, j, err)
			}
		})
	}
}

// wait waits for the workers (after their context ended) and stops the
// retry timers.
func (d *dispatcher) wait() {
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, b := range d.boxes {
		if b.retry != nil {
			b.retry.Stop()
		}
	}
}

// enqueue hands a signal over for delivery. It never blocks on delivery.
func (d *dispatcher) enqueue(scope string, j signalJob) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.boxes[scope]
	if b == nil {
		b = &mailbox{}
		d.boxes[scope] = b
		d.m.signalsPending.Set(float64(len(d.boxes)))
	}
	if j.breach != nil {
		if in := b.inflight; in != nil && in.breach != nil && in.breach.CmdID == j.breach.CmdID && b.normal == nil {
			// The same breach is being delivered: its outcome decides (a
			// failure puts it back), a second delivery would only repeat it.
			return
		}
		b.breach, b.normal = &j, nil
	} else {
		b.normal = &j
	}
	if b.inflight == nil && b.retry == nil {
		d.queue(scope, b)
	}
}

// queue puts a scope in ready and wakes a worker. d.mu is held.
func (d *dispatcher) queue(scope string, b *mailbox) {
	if b.queued {
		return
	}
	b.queued = true
	d.ready = append(d.ready, scope)
	d.notify()
}

func (d *dispatcher) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// next waits for a scope with a signal to deliver and takes its first one.
func (d *dispatcher) next(ctx context.Context) (string, *signalJob, bool) {
	for {
		d.mu.Lock()
		if len(d.ready) > 0 {
			scope := d.ready[0]
			d.ready[0] = ""
			d.ready = d.ready[1:]
			if len(d.ready) == 0 {
				d.ready = nil // let the backing array go after a storm
			} else {
				d.notify() // more work: wake another worker
			}
			b := d.boxes[scope]
			b.queued = false
			j := b.breach
			if j != nil {
				b.breach = nil
			} else {
				j, b.normal = b.normal, nil
			}
			b.inflight = j
			d.mu.Unlock()
			return scope, j, true
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", nil, false
		case <-d.wake:
		}
	}
}

// done records the outcome of delivering j: on success the scope goes on
// with what it has left; on failure j goes back unless the scope has since
// been given a signal that supersedes it, and the scope waits out its
// backoff.
func (d *dispatcher) done(scope string, j *signalJob, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.boxes[scope]
	b.inflight = nil
	if err == nil {
		b.backoff, b.attempts = nil, 0
		if j.breach != nil {
			now := time.Now()
			d.delivered[scope] = deliveredBreach{cmd: j.breach.CmdID, at: now}
			d.sweep(now)
		}
		if b.empty() {
			delete(d.boxes, scope)
			d.m.signalsPending.Set(float64(len(d.boxes)))
			return
		}
		d.queue(scope, b)
		return
	}
	b.attempts++
	switch {
	case j.breach != nil && b.breach == nil:
		b.breach = j // a normal that came meanwhile stays after it
	case j.normal != nil && b.empty():
		b.normal = j
	}
	if b.backoff == nil {
		// Jittered, so that scopes that failed together (Temporal down)
		// do not all come back at the same instant.
		b.backoff = &backoff.ExponentialBackOff{InitialInterval: d.retryMin, RandomizationFactor: 0.5,
			Multiplier: 2, MaxInterval: d.retryMax}
	}
	// The jitter may reach past MaxInterval: retryMax stays the bound.
	wait := min(b.backoff.NextBackOff(), d.retryMax)
	if b.attempts == 1 || b.attempts%warnEvery == 0 {
		kind, _, corr := j.describe()
		d.log.Warn("signal failed, retrying until delivered", "kind", kind, "scope", scope, "corr_id", corr,
			"attempts", b.attempts, "retry_in", wait, "err", err)
	}
	if d.closed {
		return
	}
	b.retry = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		b.retry = nil
		if !d.closed {
			d.queue(scope, b)
		}
	})
}

// Delivered reports whether the scope's last breach Temporal accepted has
// this cmd_id. It is called by the engine under the detector's lock.
func (d *dispatcher) Delivered(scope domain.Scope, cmdID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	db, ok := d.delivered[string(scope)]
	return ok && db.cmd == cmdID && time.Since(db.at) <= deliveredKeep
}

// sweep forgets delivered breaches older than deliveredKeep, at most once a
// minute. d.mu is held.
func (d *dispatcher) sweep(now time.Time) {
	if now.Sub(d.swept) < time.Minute {
		return
	}
	d.swept = now
	for s, db := range d.delivered {
		if now.Sub(db.at) > deliveredKeep {
			delete(d.delivered, s)
		}
	}
}

// pending is the number of scopes with a signal not yet delivered.
func (d *dispatcher) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.boxes)
}

func (j *signalJob) describe() (kind, scope, corr string) {
	if j.breach != nil {
		return "breach", string(j.breach.Scope), j.breach.CorrID
	}
	return "normal", string(j.normal.Scope), j.normal.CmdID
}

// deliver makes one attempt.
func (d *dispatcher) deliver(ctx context.Context, j *signalJob) error {
	sctx := context.WithValue(ctx, consumedKey{}, j.consumed)
	kind, scope, corr := j.describe()
	var err error
	if j.breach != nil {
		err = d.sig.Breach(sctx, *j.breach)
	} else {
		err = d.sig.Normal(sctx, *j.normal)
	}
	if err != nil {
		d.m.signalErrors.WithLabelValues(kind).Inc()
		return err
	}
	d.m.signalSeconds.WithLabelValues(kind).Observe(time.Since(j.consumed).Seconds())
	d.log.Info("signal delivered", "kind", kind, "scope", scope, "corr_id", corr)
	return nil
}
