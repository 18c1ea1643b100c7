package main

import (
	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/roles"
	"github.com/riskgate/riskgate/workflows"
)

func init() {
	var (
		metricsAddr string
		rulesFile   string
		cfg         detector.Config
		ob          orderBoundsFlags
	)
	cmd := &cobra.Command{
		Use:   "detector",
		Short: "Run the detector: sliding-window rules over orders.v1, breaches signalled to the KillSwitch workflows",
		Long: `Run the detector role against an external Kafka and Temporal. Instances share orders.v1
in a consumer group; symbol, strategy and GLOBAL keys are re-keyed through
detector.repartition.v1 so each is counted in one place. On start each instance rebuilds
its windows from the last 15 minutes before signalling anything.

--rules FILE loads the rules (deploy/rules.yaml documents the format and the defaults);
without it the built-in defaults apply. GET /metrics serves Prometheus metrics and
GET /readyz answers 200 once the windows are rebuilt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger("detector")
			var err error
			if cfg.OrderBounds, err = ob.bounds(cmd); err != nil {
				return err
			}
			if rulesFile != "" {
				r, err := detector.LoadRules(rulesFile)
				if err != nil {
					return err
				}
				cfg.Rules = r
			}
			tc, err := temporalClient(log)
			if err != nil {
				return err
			}
			defer tc.Close()
			reg := newRoleRegistry()
			cfg.Kafka = kafkaConfig("riskgate-detector")
			cfg.Signaler = workflows.Signaler{Client: tc}
			cfg.Log = log
			cfg.Registerer = reg
			u, err := roles.Detector(cfg)
			if err != nil {
				return err
			}
			return runRole(cmd.Context(), log, metricsAddr, reg, u)
		},
	}
	addOrderBoundsFlags(cmd, &ob)
	f := cmd.Flags()
	f.StringVar(&rulesFile, "rules", envOr("RISKGATE_DETECTOR_RULES", ""), "YAML rules file; empty uses the built-in defaults (env RISKGATE_DETECTOR_RULES)")
	f.StringVar(&metricsAddr, "metrics-addr", envOr("RISKGATE_DETECTOR_METRICS_ADDR", ":9102"), "address serving /metrics, /healthz and /readyz; empty disables (env RISKGATE_DETECTOR_METRICS_ADDR)")
	f.StringVar(&cfg.Group, "group", envOr("RISKGATE_DETECTOR_GROUP", detector.DefaultGroup), "consumer group on orders.v1 and the repartition topic (env RISKGATE_DETECTOR_GROUP)")
	f.Int32Var(&cfg.Partitions, "partitions", 3, "partitions of the repartition topic when the detector creates it")
	f.IntVar(&cfg.EscalateBlocks, "escalate-blocks", detector.DefaultEscalateBlocks,
		"pre-trade limit BLOCKs of one scope in a router's minute that kill it with trigger limit (no auto-unkill); any credit_limit BLOCK does; negative: never")
	root.AddCommand(cmd)
}
