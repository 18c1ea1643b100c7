// Package roles assembles each long-running riskgate role — router,
// detector, worker, indexer and API — as a Unit: what it runs and how it
// tells that it is ready. The role commands run one Unit each (Kubernetes
// restarts the process); the embedded dev stack runs them all, each under a
// Supervisor that restarts a Unit that stops on its own. Building a role in
// one place keeps the two ways of running riskgate from drifting apart.
package roles

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/router"
	"github.com/riskgate/riskgate/workers"
)

// Role names.
const (
	NameRouter   = "router"
	NameDetector = "detector"
	NameWorker   = "worker"
	NameIndexer  = "indexer"
	NameAPI      = "api"
)

// Unit is one built role: Run does its work until ctx ends (nil) or it
// fails; Ready reports whether it can do its job now, and NotReady says
// what it is waiting for while it cannot. Detail, when set, says more (the
// /readyz body), whatever the readiness.
type Unit struct {
	Name     string
	Run      func(ctx context.Context) error
	Ready    func() bool
	NotReady string
	Detail   func() string
}

// Router builds the router role.
func Router(cfg router.Config) (Unit, error) {
	r, err := router.New(cfg)
	if err != nil {
		return Unit{}, fmt.Errorf("router: %w", err)
	}
	return Unit{Name: NameRouter, Run: r.Run, Ready: r.Ready, NotReady: "kill state not bootstrapped", Detail: r.ReadyDetail}, nil
}

// Detector builds the detector role; cfg.Signaler delivers its breaches.
func Detector(cfg detector.Config) (Unit, error) {
	d, err := detector.New(cfg)
	if err != nil {
		return Unit{}, fmt.Errorf("detector: %w", err)
	}
	return Unit{Name: NameDetector, Run: d.Run, Ready: d.Ready, NotReady: "detector rebuilding its windows"}, nil
}

// DetectorWithWorker builds the detector role with a KillSwitch worker in
// the same process, on the client c its Signaler uses (cfg.Signaler must be
// a workflows.Signaler over c): a breach that starts a scope's run then has
// its first workflow task handed back with the start (eager start) and
// executed here, instead of waiting in the task queue for a poller. The
// worker is a full one, polling the task queue like the others, so its
// settings must be theirs. The unit runs both and stops both when either
// stops; it is ready when both are.
func DetectorWithWorker(cfg detector.Config, c client.Client, wcfg workers.Config) (Unit, error) {
	d, err := Detector(cfg)
	if err != nil {
		return Unit{}, err
	}
	w := Worker(c, wcfg)
	return Unit{
		Name: NameDetector,
		Run: func(parent context.Context) error {
			ctx, cancel := context.WithCancel(parent)
			defer cancel()
			errs := make(chan error, 2)
			go func() { errs <- d.Run(ctx) }()
			go func() { errs <- w.Run(ctx) }()
			// Whichever stops first stops the other: the process is meant
			// to be both, and its supervisor restarts the pair.
			first := <-errs
			if first == nil && parent.Err() == nil {
				first = errors.New("detector with worker: one of them stopped on its own")
			}
			cancel()
			return errors.Join(first, <-errs)
		},
		Ready:    func() bool { return d.Ready() && w.Ready() },
		NotReady: d.NotReady + ", or " + w.NotReady,
	}, nil
}

// Worker builds the KillSwitch worker role on c, which stays the caller's.
func Worker(c client.Client, cfg workers.Config) Unit {
	var ready atomic.Bool
	next := cfg.Ready
	cfg.Ready = func() {
		ready.Store(true)
		if next != nil {
			next()
		}
	}
	return Unit{
		Name:     NameWorker,
		Run:      func(ctx context.Context) error { return workers.Run(ctx, c, cfg) },
		Ready:    ready.Load,
		NotReady: "worker loading the kill state",
	}
}

// Indexer builds the audit indexer role.
func Indexer(cfg index.IndexerConfig) (Unit, error) {
	x, err := index.NewIndexer(cfg)
	if err != nil {
		return Unit{}, fmt.Errorf("indexer: %w", err)
	}
	return Unit{Name: NameIndexer, Run: x.Run, Ready: x.Ready, NotReady: "indexer catching up"}, nil
}

// API builds the HTTP API role listening on addr: a follower of
// killswitch.state.v1 (over kc) feeds cfg.States — a new table when nil —
// and the server answers on the listener. The address is bound here, so a
// port in use is a start-up error, not a failure of Run. Addr reports the
// bound address (useful when addr asks for port 0).
func API(cfg api.Config, kc kafka.Config, addr string) (Unit, net.Addr, error) {
	if cfg.States == nil {
		cfg.States = killstate.NewTable(nil)
	}
	follower := killstate.NewFollower(kc, cfg.States, cfg.Log)
	cfg.StateReady = follower.Ready
	srv, err := api.New(cfg)
	if err != nil {
		return Unit{}, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return Unit{}, nil, fmt.Errorf("api: listen on %s: %w", addr, err)
	}
	var once sync.Once
	run := func(ctx context.Context) error {
		used := false
		once.Do(func() { used = true })
		if !used {
			return errors.New("api: a Unit runs once; build another to run again")
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		var ferr error
		wg.Go(func() {
			// After shutdown begins, the follower's cancellation is not a failure.
			if err := follower.Run(ctx); err != nil && ctx.Err() == nil {
				ferr = fmt.Errorf("follow kill state: %w", err)
				cancel()
			}
		})
		err := srv.Serve(ctx, ln)
		cancel()
		wg.Wait()
		return errors.Join(err, ferr)
	}
	return Unit{Name: NameAPI, Run: run, Ready: follower.Ready, NotReady: "kill state not bootstrapped"}, ln.Addr(), nil
}
