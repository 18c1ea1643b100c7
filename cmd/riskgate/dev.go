package main

import (
	"cmp"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/ingest/detector"
)

func init() {
	var (
		o          devstack.Options
		data       string
		noGen      bool
		rules      string
		ob         orderBoundsFlags
		limitsFile string
		tokensFile string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system on one machine: embedded Kafka, Temporal dev server, every component, demo traffic",
		Long: `Run the whole system on one machine from one command:

  Kafka (in-process)     127.0.0.1:9092, persisted under --data
  Temporal dev server    127.0.0.1:7233, Web UI on 8233, SQLite under --data
  worker, router, detector, API and dashboard (8080), and normal demo traffic.

The operator token is $RISKGATE_DEV_TOKEN if set, else generated once and kept
in <data>/dev-token. --tokens FILE adds the tokens of a tokens file (the format of
riskgate api --tokens, made with riskgate token new), so that a second operator can
approve a change of limits beyond the ceilings or a GLOBAL unkill.

Every part is supervised: if the Temporal dev server or a component stops on
its own it is restarted with backoff, and the rest runs on (the router enforces
the last kill state and the limits throughout). Ctrl-C shuts everything down
within 15 s; starting again on the same data directory keeps every kill, limit,
timer and topic.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-format") {
				g.logFormat = "text"
			}
			log := newLogger("dev")
			dir, err := filepath.Abs(data)
			if err != nil {
				return err
			}
			if o.Token, err = devstack.ReadToken(dir); err != nil {
				return err
			}
			o.Compression = kafkaComp
			if o.OrderBounds, err = ob.bounds(cmd); err != nil {
				return err
			}
			if o.Limits, err = loadLimits(limitsFile); err != nil {
				return err
			}
			if tokensFile != "" {
				if o.Tokens, err = api.LoadTokenEntries(tokensFile); err != nil {
					return fmt.Errorf("--tokens: %w", err)
				}
			}
			if rules != "" {
				r, err := detector.LoadRules(rules)
				if err != nil {
					return err
				}
				o.Detector.Rules = r
			}
			o.DataDir, o.Gen, o.Namespace, o.Log = dir, !noGen, cmp.Or(g.namespace, "default"), slogRoot()
			// The status line of the banner, again whenever Temporal goes
			// down or comes back: enforcement goes on either way.
			o.OnTemporalChange = func(up bool, detail string) {
				fmt.Printf("status: %s\n", statusLine(up, detail))
			}
			log.Info("starting", "data", dir)
			s, err := devstack.Start(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer s.Close()
			printBanner(s, filepath.Join(dir, "dev-token"), noGen)
			<-cmd.Context().Done()
			log.Info("shutting down")
			return nil
		},
	}
	addOrderBoundsFlags(cmd, &ob)
	addLimitsFlag(cmd, &limitsFile)
	f := cmd.Flags()
	f.StringVar(&data, "data", "./data", "data directory for Kafka, Temporal and the dev token")
	f.BoolVar(&noGen, "no-gen", false, "do not generate normal demo traffic")
	f.IntVar(&o.KafkaPort, "kafka-port", 9092, "embedded Kafka port")
	f.IntVar(&o.TemporalPort, "temporal-port", 7233, "Temporal frontend port")
	f.IntVar(&o.UIPort, "ui-port", 8233, "Temporal Web UI port")
	f.StringVar(&o.APIAddr, "api-addr", "127.0.0.1:8080", "API and dashboard listen address")
	f.DurationVar(&o.Cooldown, "cooldown", 5*time.Minute, "cooldown before a detector kill may end by itself")
	f.StringVar(&o.TemporalBin, "temporal-bin", "", "temporal CLI to run (default: $RISKGATE_TEMPORAL_BIN, .bin/temporal, or PATH)")
	f.Int32Var(&o.Partitions, "partitions", 3, "partitions of each keyed topic, on first start")
	f.StringVar(&rules, "rules", "", "detector rules file (YAML); default: the built-in rules")
	f.StringVar(&tokensFile, "tokens", "", "tokens file (JSON of hashed tokens, see riskgate token new) whose tokens the API accepts besides the dev token")
	root.AddCommand(cmd)
}

func printBanner(s *devstack.Stack, tokenFile string, noGen bool) {
	traffic := "normal traffic at 5 orders/s"
	if noGen {
		traffic = "off (--no-gen)"
	}
	fmt.Printf(`
riskgate dev is running. Ctrl-C stops it.

  Dashboard & API    %s
  Temporal Web UI    %s
  Temporal           %s
  Kafka              %s
  Demo traffic       %s
  Status             %s

  Operator token     %s
                     (dev only; also in %s)

Try, in another terminal:
  riskgate tail audit.v1
  riskgate gen panic --account 12345 --duration 10s

`, s.APIURL, s.Temporal.UIURL, s.Temporal.Addr, s.Brokers[0], traffic, statusLine(s.Temporal.Healthy(), s.Temporal.Status()), s.Token, tokenFile)
}

// statusLine says how the stack is: every part up, or Temporal degraded
// (routing goes on from the last kill state; kills and operator actions
// wait until it is back).
func statusLine(temporalUp bool, detail string) string {
	if temporalUp {
		if detail != "" && detail != "ok" {
			return detail + "; all components running"
		}
		return "all components running"
	}
	return "DEGRADED: " + detail + " — routing goes on from the last kill state; new kills wait for Temporal"
}
