// Package workers runs the KillSwitch worker: the KillSwitch and Limits
// workflows and their local activities on workflows.TaskQueue, and a follower of killswitch.state.v1
// that tells each new incident where the scope's previous one left off.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/workflows"
)

// Config is what a KillSwitch worker needs. Zero fields take the defaults of
// workflows.DefaultSettings.
type Config struct {
	// Kafka is where transitions are published.
	Kafka kafka.Config
	// Cooldown is how long a detector kill lasts before auto-unkill is
	// considered. Default 5 min.
	Cooldown time.Duration
	// MaxCooldown caps the doubled cooldown of a re-breach. Default 1 h.
	MaxCooldown time.Duration
	// Probation is how long an auto-unkilled scope stays THROTTLED before it
	// is ACTIVE again. Default 2 min; negative skips probation.
	Probation time.Duration
	// ProbationRate is the orders per second allowed during probation.
	// Default 10.
	ProbationRate float64
	// IgnoreNormal auto-unkills after the cooldown without waiting for the
	// detector to report the scope normal.
	IgnoreNormal bool
	// MaxOperatorCooldown bounds every cooldown an operator gives (kill,
	// throttle, extend). Default workflows.DefaultMaxOperatorCooldown (7 days).
	MaxOperatorCooldown time.Duration
	// FourEyes overrides the four-eyes policy per scope type. Default: GLOBAL
	// needs two different operators within 10 min.
	FourEyes map[domain.ScopeType]workflows.ApprovalPolicy
	// FourEyesAcceptClaimed counts four-eyes approvals whose operator is
	// only claimed (Temporal Web UI, CLI). Default: verified ones only.
	FourEyesAcceptClaimed bool
	// IdentityKeys are the keys shared with riskgate's API, which signs
	// every operator update with the first; an update whose signature one
	// of them checks is verified. None: every operator is claimed, and a
	// four-eyes release needs FourEyesAcceptClaimed.
	IdentityKeys workflows.IdentityKeys
	// Settings, when non-nil, is used as is instead of the fields above.
	Settings *workflows.Settings
	// Limits is the limits file the routers load: the Limits workflow
	// takes each scope type's defaults and ceilings from it. Nil: the
	// built-in set (limits.Default()).
	Limits *limits.Config
	// LimitsApprovalWindow is how long a limits change beyond a ceiling
	// waits for a second operator. Default 10 min.
	LimitsApprovalWindow time.Duration
	// Registerer receives the publisher's metrics (publications, commands,
	// failures, publish lag, unpublished transitions) and the kill state's
	// (scopes by status, the oldest kill's age). Nil: no metrics.
	Registerer prometheus.Registerer
	// Log receives the worker's and the workflows' logs. Default slog.Default.
	Log *slog.Logger
	// Ready, when set, is called once the worker polls its task queue and
	// has loaded the kill state (for a readiness probe).
	Ready func()
}

// WorkflowSettings is the workflow policy the config describes.
func (c Config) WorkflowSettings() workflows.Settings {
	if c.Settings != nil {
		return c.Settings.WithDefaults()
	}
	return workflows.Settings{
		Cooldown:              c.Cooldown,
		MaxCooldown:           c.MaxCooldown,
		MaxOperatorCooldown:   c.MaxOperatorCooldown,
		Probation:             c.Probation,
		ProbationRate:         c.ProbationRate,
		IgnoreNormal:          c.IgnoreNormal,
		FourEyes:              c.FourEyes,
		FourEyesAcceptClaimed: c.FourEyesAcceptClaimed,
	}.WithDefaults()
}

// Run registers the KillSwitch workflow and its local activities (publish,
// prior state) on workflows.TaskQueue and polls until ctx ends. Beside the
// worker it follows killswitch.state.v1 into a table, from which a new run
// reads the scope's last published state (version, recent offences); the
// publisher adds each acknowledged state to the same table. Run closes its
// Kafka clients before returning. c stays open: it belongs to the caller.
func Run(ctx context.Context, c client.Client, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	table := killstate.NewTable(nil)
	opts := []activities.PublisherOpt{activities.WithSink(table)}
	if cfg.Registerer != nil {
		m, err := activities.NewPublishMetrics(cfg.Registerer)
		if err != nil {
			return fmt.Errorf("killswitch worker: %w", err)
		}
		opts = append(opts, activities.WithMetrics(m))
	}
	pub, err := activities.NewPublisher(cfg.Kafka, log, opts...)
	if err != nil {
		return fmt.Errorf("killswitch worker: %w", err)
	}
	defer pub.Close()

	follower := killstate.NewFollower(cfg.Kafka, table, log)
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(newStateMetrics(table, follower.Ready)); err != nil {
			return fmt.Errorf("killswitch worker: register kill-state metrics: %w", err)
		}
	}
	fctx, stopFollower := context.WithCancel(ctx)
	followed := make(chan error, 1)
	go func() { followed <- follower.Run(fctx) }()
	defer func() {
		stopFollower()
		<-followed
	}()
	reader := activities.NewStateReader(table, follower.ReadyC())

	settings := cfg.WorkflowSettings()
	if len(cfg.IdentityKeys) == 0 {
		log.Warn("no identity key: every operator update is recorded as claimed, and four-eyes releases are refused " +
			"unless claimed approvals are accepted; give the worker the key the API signs with")
	}
	wopts := workerOptions()
	wopts.Interceptors = []interceptor.WorkerInterceptor{workflows.NewIdentityVerifier(cfg.IdentityKeys)}
	w := worker.New(c, workflows.TaskQueue, wopts)
	w.RegisterWorkflowWithOptions(workflows.New(settings), workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivityWithOptions(pub.Publish, activity.RegisterOptions{Name: activities.PublishName})
	w.RegisterActivityWithOptions(reader.PriorState, activity.RegisterOptions{Name: activities.PriorStateName})
	w.RegisterWorkflowWithOptions(workflows.NewLimits(LimitsSettings(cfg.Limits, cfg.LimitsApprovalWindow)),
		workflow.RegisterOptions{Name: workflows.LimitsWorkflowName})
	w.RegisterActivityWithOptions(pub.PublishLimits, activity.RegisterOptions{Name: activities.PublishLimitsName})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start killswitch worker on %s: %w", workflows.TaskQueue, err)
	}
	// The readiness notifier is owned here: Run waits for it, whichever way
	// it ends.
	notifyCtx, stopNotify := context.WithCancel(ctx)
	var notifier sync.WaitGroup
	defer func() {
		stopNotify()
		notifier.Wait()
	}()
	if cfg.Ready != nil {
		notifier.Go(func() {
			select {
			case <-follower.ReadyC():
				cfg.Ready()
			case <-notifyCtx.Done():
			}
		})
	}
	log.Info("killswitch worker started", "task_queue", workflows.TaskQueue,
		"cooldown", settings.Cooldown, "probation", settings.Probation, "probation_rate", settings.ProbationRate,
		"ignore_normal", settings.IgnoreNormal, "max_operator_cooldown", settings.MaxOperatorCooldown,
		"identity_keys", len(cfg.IdentityKeys), "four_eyes_accept_claimed", settings.FourEyesAcceptClaimed)
	var ferr error
	select {
	case <-ctx.Done():
	case ferr = <-followed:
		followed <- ferr
		if ferr == nil {
			ferr = errors.New("stopped")
		}
		ferr = fmt.Errorf("killswitch worker: follow %s: %w", domain.TopicState, ferr)
	}
	w.Stop()
	log.Info("killswitch worker stopped")
	return ferr
}

// workerOptions size the worker for a mass kill: every breach starts a run
// whose first workflow task must be polled from the task queue, so sixteen
// pollers keep a thousand scopes killed at once within seconds (four left
// the dev server's task queue the bottleneck: 11 s against 4.8 s for 1,000
// scopes, measured with riskgate bench killswitch). Execution slots are the
// SDK's defaults (1,000 workflow tasks and 1,000 local activities at once),
// enough for every scope of a mass kill to hold one.
func workerOptions() worker.Options {
	return worker.Options{
		MaxConcurrentWorkflowTaskPollers: 16,
	}
}
