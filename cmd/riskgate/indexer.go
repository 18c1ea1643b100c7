package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/roles"
)

func init() {
	var (
		data        string
		metricsAddr string
	)
	cmd := &cobra.Command{
		Use:   "indexer",
		Short: "Index audit.v1, commands, states and risk signals into the audit index under the data dir",
		Long: `Consume audit.v1, killswitch.commands.v1, killswitch.state.v1 and risk_signals.v1 into the
embedded audit index (SQLite, <data>/` + index.FileName + `) that serves the API's audit, order and
signal queries. Positions are stored with the records, so a restart resumes where it stopped
and never counts a record twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runIndexer(cmd.Context(), data, metricsAddr)
		},
	}
	cmd.Flags().StringVar(&data, "data", envOr("RISKGATE_DATA", "./data"), "data directory for the audit index (env RISKGATE_DATA)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", envOr("RISKGATE_INDEXER_METRICS_ADDR", ":9103"), "address serving /metrics, /healthz and /readyz; empty disables (env RISKGATE_INDEXER_METRICS_ADDR)")
	root.AddCommand(cmd)
}

func runIndexer(ctx context.Context, data, metricsAddr string) error {
	log := newLogger("indexer")
	db, err := openIndex(ctx, data)
	if err != nil {
		return err
	}
	defer db.Close()
	reg := newRoleRegistry()
	u, err := roles.Indexer(index.IndexerConfig{
		Kafka:      roleKafka("riskgate-indexer", reg, log),
		Index:      db,
		Log:        log,
		Registerer: reg,
	})
	if err != nil {
		return err
	}
	return runRole(ctx, log, metricsAddr, reg, u)
}
