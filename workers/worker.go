// Package workers runs the KillSwitch worker: the workflow and its publish
// activity on workflows.TaskQueue.
package workers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
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
	// FourEyes overrides the four-eyes policy per scope type. Default: GLOBAL
	// needs two different operators within 10 min.
	FourEyes map[domain.ScopeType]workflows.ApprovalPolicy
	// Settings, when non-nil, is used as is instead of the fields above.
	Settings *workflows.Settings
	// Log receives the worker's and the workflows' logs. Default slog.Default.
	Log *slog.Logger
}

// WorkflowSettings is the workflow policy the config describes.
func (c Config) WorkflowSettings() workflows.Settings {
	if c.Settings != nil {
		return c.Settings.WithDefaults()
	}
	return workflows.Settings{
		Cooldown:      c.Cooldown,
		MaxCooldown:   c.MaxCooldown,
		Probation:     c.Probation,
		ProbationRate: c.ProbationRate,
		IgnoreNormal:  c.IgnoreNormal,
		FourEyes:      c.FourEyes,
	}.WithDefaults()
}

// Run registers the KillSwitch workflow and the publish activity on
// workflows.TaskQueue and polls until ctx ends. It closes its Kafka producer
// before returning. c stays open: it belongs to the caller.
func Run(ctx context.Context, c client.Client, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	pub, err := activities.NewPublisher(cfg.Kafka, log)
	if err != nil {
		return fmt.Errorf("killswitch worker: %w", err)
	}
	defer pub.Close()

	settings := cfg.WorkflowSettings()
	w := worker.New(c, workflows.TaskQueue, worker.Options{
		// Enforcement must not wait on a busy worker: a kill is a handful of
		// workflow tasks and one local activity.
		MaxConcurrentWorkflowTaskPollers: 4,
	})
	w.RegisterWorkflowWithOptions(workflows.New(settings), workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivityWithOptions(pub.Publish, activity.RegisterOptions{Name: activities.PublishName})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start killswitch worker on %s: %w", workflows.TaskQueue, err)
	}
	log.Info("killswitch worker started", "task_queue", workflows.TaskQueue,
		"cooldown", settings.Cooldown, "probation", settings.Probation, "probation_rate", settings.ProbationRate,
		"ignore_normal", settings.IgnoreNormal)
	<-ctx.Done()
	w.Stop()
	log.Info("killswitch worker stopped")
	return nil
}
