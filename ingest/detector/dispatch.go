package detector

import (
	"context"
	"log/slog"
	"sync"
	"time"

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
// only ever dropped for a newer one of the same scope that says more.
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
}

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
	backoff  time.Duration
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
		boxes: make(map[string]*mailbox), wake: make(chan struct{}, 1)}
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
		b.backoff, b.attempts = 0, 0
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
	b.backoff = min(max(2*b.backoff, d.retryMin), d.retryMax)
	if b.attempts == 1 || b.attempts%warnEvery == 0 {
		kind, _, corr := j.describe()
		d.log.Warn("signal failed, retrying until delivered", "kind", kind, "scope", scope, "corr_id", corr,
			"attempts", b.attempts, "retry_in", b.backoff, "err", err)
	}
	if d.closed {
		return
	}
	b.retry = time.AfterFunc(b.backoff, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		b.retry = nil
		if !d.closed {
			d.queue(scope, b)
		}
	})
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
