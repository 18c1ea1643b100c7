package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/ingest/router"
	"github.com/riskgate/riskgate/roles"
)

func init() {
	var (
		metricsAddr string
		cfg         router.Config
		ob          orderBoundsFlags
		limitsFile  string
	)
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run the router: enforce the pre-trade limits and the kill state on every order of orders.v1 (one process per instance)",
		Long: `Run the router role against an external Kafka. It reads killswitch.state.v1,
risk.limits.v1 (per-scope limit overrides) and marketdata.ref.v1 (reference prices) to
their high watermarks before routing anything, then decides every order of orders.v1
in the consumer group: an order that would cross a pre-trade limit (--limits, or the
built-in defaults) is BLOCKed, an order a kill matches DROPped; it writes
orders.gated.v1, audit.v1, orders.dlq.v1, its limit-breach signals and the usage of
the limits exactly once. It stops routing (and /readyz answers 503) while it cannot
read killswitch.state.v1, risk.limits.v1 or marketdata.ref.v1 to its end for longer
than --max-state-age. GET /metrics serves Prometheus metrics, GET /readyz answers 200
once routing, and says which scopes are held KILLED because their state records could
not be decoded, and which scopes' orders are BLOCKed because their limits or reference
price records could not be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger("router")
			reg := newRoleRegistry()
			var err error
			if cfg.OrderBounds, err = ob.bounds(cmd); err != nil {
				return err
			}
			if cfg.Limits, err = loadLimits(limitsFile); err != nil {
				return err
			}
			cfg.Kafka = roleKafka("riskgate-router", reg, log)
			cfg.Log = log
			cfg.Registerer = reg
			u, err := roles.Router(cfg)
			if err != nil {
				return err
			}
			return runRole(cmd.Context(), log, metricsAddr, reg, u)
		},
	}
	addOrderBoundsFlags(cmd, &ob)
	f := cmd.Flags()
	f.StringVar(&metricsAddr, "metrics-addr", envOr("RISKGATE_ROUTER_METRICS_ADDR", ":9101"), "address serving /metrics, /healthz and /readyz; empty disables (env RISKGATE_ROUTER_METRICS_ADDR)")
	f.StringVar(&cfg.Group, "group", envOr("RISKGATE_ROUTER_GROUP", router.DefaultGroup), "consumer group on orders.v1 (env RISKGATE_ROUTER_GROUP)")
	f.StringVar(&cfg.InstanceID, "instance-id", envOr("RISKGATE_INSTANCE_ID", ""), "stable unique name of this instance (e.g. the pod name): static group membership and a fencing transactional id, so a restart resumes at once (env RISKGATE_INSTANCE_ID)")
	f.StringVar(&cfg.Service, "service", router.DefaultService, "service name written into audit records")
	f.DurationVar(&cfg.DedupWindow, "dedup-window", router.DefaultDedupWindow, "how long an order_id is remembered")
	f.StringVar(&cfg.DedupTopic, "dedup-topic", domain.TopicDedup, "changelog topic of the dedup window (one per group)")
	f.IntVar(&cfg.MaxBatch, "max-batch", router.DefaultMaxBatch, "most orders decided in one transaction")
	f.DurationVar(&cfg.TransactionTimeout, "txn-timeout", router.DefaultTransactionTimeout, "transaction timeout: how long a crashed instance's open transaction can block readers")
	f.DurationVar(&cfg.MaxStateAge, "max-state-age", router.DefaultMaxStateAge, "stop routing (fail closed, not ready) while killswitch.state.v1, or with limits risk.limits.v1 or marketdata.ref.v1, cannot be read to its end for longer than this")
	addLimitsFlag(cmd, &limitsFile)
	root.AddCommand(cmd)
}

// addLimitsFlag adds --limits, the router's pre-trade limits file.
func addLimitsFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "limits", envOr("RISKGATE_LIMITS", ""),
		"pre-trade limits file (defaults and ceilings per scope type, see deploy/limits.yaml); empty: the built-in defaults (env RISKGATE_LIMITS)")
}

// loadLimits reads a limits file; empty: nil, the built-in defaults. A bad
// file is refused naming its line and field.
func loadLimits(path string) (*limits.Config, error) {
	if path == "" {
		return nil, nil
	}
	c, err := limits.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--limits: %w", err)
	}
	return &c, nil
}
