package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/roles"
	"github.com/riskgate/riskgate/workers"
	"github.com/riskgate/riskgate/workflows"
)

func init() {
	var (
		cfg          workers.Config
		metricsAddr  string
		globalEyes   int
		globalWindow time.Duration
		keyFile      string
		limitsFile   string
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
			if globalEyes < 1 {
				return fmt.Errorf("--global-approvals %d: must be at least 1", globalEyes)
			}
			cfg.FourEyes = map[domain.ScopeType]workflows.ApprovalPolicy{
				domain.ScopeGlobal: {Required: globalEyes, Window: globalWindow},
			}
			keys, err := loadIdentityKeys(keyFile)
			if err != nil {
				return err
			}
			cfg.IdentityKeys = keys
			if cfg.Limits, err = loadLimits(limitsFile); err != nil {
				return err
			}
			cfg.Kafka = kafkaConfig("riskgate-worker")
			cfg.Log = log
			c, err := temporalClient(log)
			if err != nil {
				return err
			}
			defer c.Close()
			reg := newRoleRegistry()
			cfg.Registerer = reg
			return runRole(cmd.Context(), log, metricsAddr, reg, roles.Worker(c, cfg))
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Cooldown, "cooldown", 5*time.Minute, "how long a detector kill lasts before auto-unkill is considered")
	f.DurationVar(&cfg.MaxCooldown, "max-cooldown", time.Hour, "cap of the doubled cooldown after a breach on probation")
	f.DurationVar(&cfg.MaxOperatorCooldown, "max-operator-cooldown", workflows.DefaultMaxOperatorCooldown, "longest cooldown an operator may give (kill, throttle, extend); keep the API's no larger")
	f.DurationVar(&cfg.Probation, "probation", 2*time.Minute, "how long an auto-unkilled scope stays THROTTLED (negative: none)")
	f.Float64Var(&cfg.ProbationRate, "probation-rate", 10, "orders per second allowed during probation")
	f.BoolVar(&cfg.IgnoreNormal, "ignore-normal", false, "auto-unkill after the cooldown without the detector's normal signal")
	f.IntVar(&globalEyes, "global-approvals", 2, "different operators needed to unkill GLOBAL (four eyes)")
	f.DurationVar(&globalWindow, "global-approval-window", 10*time.Minute, "time within which the GLOBAL approvals must arrive")
	f.BoolVar(&cfg.FourEyesAcceptClaimed, "four-eyes-accept-claimed", envBool("RISKGATE_FOUR_EYES_ACCEPT_CLAIMED"),
		"count four-eyes approvals whose operator is only claimed (Temporal Web UI or CLI), not verified by the API's signature (env RISKGATE_FOUR_EYES_ACCEPT_CLAIMED)")
	addIdentityKeyFlag(cmd, &keyFile)
	cmd.Flags().StringVar(&limitsFile, "limits", envOr("RISKGATE_LIMITS", ""),
		"limits file whose defaults and ceilings the Limits workflows apply (the routers' file, see deploy/limits.yaml); empty: the built-in set (env RISKGATE_LIMITS)")
	f.DurationVar(&cfg.LimitsApprovalWindow, "limits-approval-window", 10*time.Minute, "time within which a second operator must approve a limits change beyond a ceiling (or loosening GLOBAL)")
	f.StringVar(&metricsAddr, "metrics-addr", envOr("RISKGATE_WORKER_METRICS_ADDR", ":9104"), "address serving /metrics, /healthz and /readyz; empty disables (env RISKGATE_WORKER_METRICS_ADDR)")
	root.AddCommand(cmd)
}
