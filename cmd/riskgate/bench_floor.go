package main

// The Temporal floor of bench killswitch: what the Temporal server under
// measurement takes, in the same run, for the least a kill needs of it — a
// no-op workflow started by SignalWithStart that runs one local activity,
// which tells the bench it ran. Kill latency and the mass kill are then
// also given as ratios to it, which do not swing with the machine the way
// absolute figures do.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const (
	floorTaskQueue = "riskgate-bench-floor"
	floorWorkflow  = "BenchFloor"
	floorActivity  = "BenchFloorReached"
	floorSignal    = "go"
	// floorStarters is how many starts are in flight at once in the mass
	// floor: the detector's dispatch workers.
	floorStarters = 64
)

// floorResult is the floor measured: one start after another, and many at
// once.
type floorResult struct {
	p50, p99 time.Duration
	n        int
	mass     time.Duration
	massN    int
}

// floorBench runs the floor's worker and tracks the runs waiting to be
// reached.
type floorBench struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

// reached is the floor's local activity: the run got this far.
func (f *floorBench) reached(_ context.Context, id string) error {
	f.mu.Lock()
	ch := f.waiting[id]
	delete(f.waiting, id)
	f.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return nil
}

func floorRun(ctx workflow.Context) error {
	workflow.GetSignalChannel(ctx, floorSignal).Receive(ctx, nil)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteLocalActivity(lctx, floorActivity, workflow.GetInfo(ctx).WorkflowExecution.ID).Get(ctx, nil)
}

// start signal-with-starts one floor run and returns a channel closed when
// its local activity has run.
func (f *floorBench) start(ctx context.Context, c client.Client, id string) (<-chan struct{}, error) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.waiting[id] = ch
	f.mu.Unlock()
	_, err := c.SignalWithStartWorkflow(ctx, id, floorSignal, nil,
		client.StartWorkflowOptions{ID: id, TaskQueue: floorTaskQueue}, floorWorkflow)
	if err != nil {
		return nil, fmt.Errorf("floor run %s: %w", id, err)
	}
	return ch, nil
}

// measureFloor measures n floor runs one after another, then mass at once
// (floorStarters starts in flight), each bounded by limit.
func measureFloor(ctx context.Context, c client.Client, tag string, n, mass int, limit time.Duration) (floorResult, error) {
	var r floorResult
	f := &floorBench{waiting: map[string]chan struct{}{}}
	// Sized like the KillSwitch worker's workflow-task pollers.
	w := worker.New(c, floorTaskQueue, worker.Options{MaxConcurrentWorkflowTaskPollers: 16})
	w.RegisterWorkflowWithOptions(floorRun, workflow.RegisterOptions{Name: floorWorkflow})
	w.RegisterActivityWithOptions(f.reached, activity.RegisterOptions{Name: floorActivity})
	if err := w.Start(); err != nil {
		return r, fmt.Errorf("floor worker: %w", err)
	}
	defer w.Stop()
	wait := func(ch <-chan struct{}, what string) error {
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(limit):
			return fmt.Errorf("%s not reached within %v", what, limit)
		}
	}
	prefix := fmt.Sprintf("bench-floor/%s%d/", tag, time.Now().UnixNano())
	// A few runs first, so that the worker's pollers and the server's
	// caches are warm as they are for the kill measurement.
	var lat []time.Duration
	for i := range n + 3 {
		id := fmt.Sprintf("%ss%d", prefix, i)
		t0 := time.Now()
		ch, err := f.start(ctx, c, id)
		if err != nil {
			return r, err
		}
		if err := wait(ch, id); err != nil {
			return r, err
		}
		if i >= 3 {
			lat = append(lat, time.Since(t0))
		}
	}
	slices.Sort(lat)
	r.n, r.p50, r.p99 = len(lat), pctOf(lat, 0.5), pctOf(lat, 0.99)

	if mass <= 0 {
		return r, nil
	}
	next := make(chan int)
	chans := make([]<-chan struct{}, mass)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	t0 := time.Now()
	for range floorStarters {
		wg.Go(func() {
			for i := range next {
				ch, err := f.start(ctx, c, fmt.Sprintf("%sm%d", prefix, i))
				if err != nil {
					errMu.Lock()
					firstErr = cmp.Or(firstErr, err)
					errMu.Unlock()
					continue
				}
				chans[i] = ch
			}
		})
	}
	for i := range mass {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}
	for i, ch := range chans {
		if err := wait(ch, fmt.Sprintf("floor run m%d", i)); err != nil {
			return r, err
		}
	}
	r.mass, r.massN = time.Since(t0), mass
	return r, nil
}
