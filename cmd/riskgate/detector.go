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
		withWorker  bool
		wf          workerFlags
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
GET /readyz answers 200 once the windows are rebuilt.

--killswitch-worker runs a KillSwitch worker in the same process, on the same Temporal
client, taking the worker's flags (--cooldown, --probation, --identity-key-file, ...;
give it the same as the other workers): a breach that starts a scope's run then gets
the run's first workflow task back with the start and executes it here, instead of
waiting in the task queue (eager start), which takes a hop off every new kill.
--instance-id makes the instance a static group member, so a restarted instance takes
its partitions back at once instead of after the group's session timeout; but a static
member that stops does not leave the group, so give it only a name the instance comes
back under (a StatefulSet's pod name).`,
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
			reg := newRoleRegistry()
			tc, closeTemporal, err := temporalClient(log, reg)
			if err != nil {
				return err
			}
			defer closeTemporal()
			cfg.Kafka = roleKafka("riskgate-detector", reg, log)
			cfg.Signaler = workflows.Signaler{Client: tc}
			cfg.Log = log
			cfg.Registerer = reg
			var u roles.Unit
			if withWorker {
				wcfg, err := wf.config(newLogger("worker"))
				if err != nil {
					return err
				}
				wcfg.Registerer = reg
				u, err = roles.DetectorWithWorker(cfg, tc, wcfg)
				if err != nil {
					return err
				}
			} else if u, err = roles.Detector(cfg); err != nil {
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
	f.StringVar(&cfg.InstanceID, "instance-id", envOr("RISKGATE_INSTANCE_ID", ""), "stable unique name of this instance (e.g. the pod name): static group membership, so a restart resumes detection at once instead of after the session timeout (env RISKGATE_INSTANCE_ID)")
	f.BoolVar(&withWorker, "killswitch-worker", envBool("RISKGATE_DETECTOR_KILLSWITCH_WORKER"), "also run a KillSwitch worker in this process, with the worker's flags, so new kills start eagerly here (env RISKGATE_DETECTOR_KILLSWITCH_WORKER)")
	addWorkerFlags(cmd, &wf)
	f.IntVar(&cfg.EscalateBlocks, "escalate-blocks", detector.DefaultEscalateBlocks,
		"pre-trade limit BLOCKs of one scope in a router's minute that kill it with trigger limit (no auto-unkill); any credit_limit BLOCK does; negative: never")
	root.AddCommand(cmd)
}
