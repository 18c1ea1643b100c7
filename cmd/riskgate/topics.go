package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/riskgate/riskgate/ingest/kafka"
)

func init() {
	topics := &cobra.Command{Use: "topics", Short: "Manage riskgate's Kafka topics"}
	var partitions int32
	create := &cobra.Command{
		Use:   "create",
		Short: "Create every riskgate topic with its configs (safe to run again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := kafkaConfig("riskgate-topics").NewClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kafka.CreateTopics(cmd.Context(), kadm.NewClient(cl), kafka.Topics(partitions))
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITIONS\tRESULT")
			for _, r := range res {
				what := "exists"
				if r.Created {
					what = "created"
				}
				fmt.Fprintf(w, "%s\t%d\t%s\n", r.Name, r.Partitions, what)
			}
			w.Flush()
			return err
		},
	}
	create.Flags().Int32Var(&partitions, "partitions", 3, "partitions of each keyed topic")
	topics.AddCommand(create)
	root.AddCommand(topics)
}
