package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/roles"
	"github.com/riskgate/riskgate/workers"
	"github.com/riskgate/riskgate/workflows"
)

func init() {
	var (
		wf          workerFlags
		metricsAddr string
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the KillSwitch Temporal worker (KillSwitch and Limits workflows + Kafka publisher)",
		Long: `Run the KillSwitch worker: it executes every scope's KillSwitch workflow
and publishes each transition to killswitch.commands.v1 then killswitch.state.v1,
and every scope's Limits workflow, publishing each limits change to
risk.limits.commands.v1 then risk.limits.v1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger("worker")
			cfg, err := wf.config(log)
			if err != nil {
				return err
			}
			reg := newRoleRegistry()
			cfg.Kafka = roleKafka("riskgate-worker", reg, log)
			c, closeTemporal, err := temporalClient(log, reg)
			if err != nil {
				return err
			}
			defer closeTemporal()
			cfg.Registerer = reg
			return runRole(cmd.Context(), log, metricsAddr, reg, roles.Worker(c, cfg))
		},
	}
	addWorkerFlags(cmd, &wf)
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", envOr("RISKGATE_WORKER_METRICS_ADDR", ":9104"), "address serving /metrics, /healthz and /readyz; empty disables (env RISKGATE_WORKER_METRICS_ADDR)")
	root.AddCommand(cmd)
}

// workerFlags are the KillSwitch worker's settings, shared by `riskgate
// worker` and the worker a detector runs with --killswitch-worker: every
// worker must run the workflow with the same settings, since a run records
// its worker's at its start.
type workerFlags struct {
	cfg          workers.Config
	globalEyes   int
	globalWindow time.Duration
	keyFile      string
	limitsFile   string
}

func addWorkerFlags(cmd *cobra.Command, wf *workerFlags) {
	f := cmd.Flags()
	f.DurationVar(&wf.cfg.Cooldown, "cooldown", 5*time.Minute, "how long a detector kill lasts before auto-unkill is considered")
	f.DurationVar(&wf.cfg.MaxCooldown, "max-cooldown", time.Hour, "cap of the doubled cooldown after a breach on probation")
	f.DurationVar(&wf.cfg.MaxOperatorCooldown, "max-operator-cooldown", workflows.DefaultMaxOperatorCooldown, "longest cooldown an operator may give (kill, throttle, extend); keep the API's no larger")
	f.DurationVar(&wf.cfg.Probation, "probation", 2*time.Minute, "how long an auto-unkilled scope stays THROTTLED (negative: none)")
	f.Float64Var(&wf.cfg.ProbationRate, "probation-rate", 10, "orders per second allowed during probation")
	f.BoolVar(&wf.cfg.IgnoreNormal, "ignore-normal", false, "auto-unkill after the cooldown without the detector's normal signal")
	f.IntVar(&wf.globalEyes, "global-approvals", 2, "different operators needed to unkill GLOBAL (four eyes)")
	f.DurationVar(&wf.globalWindow, "global-approval-window", 10*time.Minute, "time within which the GLOBAL approvals must arrive")
	f.BoolVar(&wf.cfg.FourEyesAcceptClaimed, "four-eyes-accept-claimed", envBool("RISKGATE_FOUR_EYES_ACCEPT_CLAIMED"),
		"count four-eyes approvals whose operator is only claimed (Temporal Web UI or CLI), not verified by the API's signature (env RISKGATE_FOUR_EYES_ACCEPT_CLAIMED)")
	addIdentityKeyFlag(cmd, &wf.keyFile)
	f.StringVar(&wf.limitsFile, "limits", envOr("RISKGATE_LIMITS", ""),
		"limits file whose defaults and ceilings the Limits workflows apply (the routers' file, see deploy/limits.yaml); empty: the built-in set (env RISKGATE_LIMITS)")
	f.DurationVar(&wf.cfg.LimitsApprovalWindow, "limits-approval-window", 10*time.Minute,
		"time within which a second operator must approve a limits change beyond a ceiling (or loosening GLOBAL)")
}

// config checks the flags and returns the worker's configuration, Kafka and
// log filled in.
func (wf *workerFlags) config(log *slog.Logger) (workers.Config, error) {
	cfg := wf.cfg
	if wf.globalEyes < 1 {
		return cfg, fmt.Errorf("--global-approvals %d: must be at least 1", wf.globalEyes)
	}
	cfg.FourEyes = map[domain.ScopeType]workflows.ApprovalPolicy{
		domain.ScopeGlobal: {Required: wf.globalEyes, Window: wf.globalWindow},
	}
	keys, err := loadIdentityKeys(wf.keyFile)
	if err != nil {
		return cfg, err
	}
	cfg.IdentityKeys = keys
	if cfg.Limits, err = loadLimits(wf.limitsFile); err != nil {
		return cfg, err
	}
	cfg.Kafka = kafkaConfig("riskgate-worker")
	cfg.Log = log
	return cfg, nil
}
