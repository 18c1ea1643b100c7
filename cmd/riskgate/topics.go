package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/riskgate/riskgate/ingest/kafka"
)

func init() {
	topics := &cobra.Command{Use: "topics", Short: "Manage riskgate's Kafka topics"}
	var (
		partitions int32
		fix        bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create every riskgate topic with its configs; report (and with --fix alter) existing topics whose configs differ",
		Long: `Create every missing riskgate topic with the partitions and configs of the topic table
(README, Topics). For a topic that exists, compare its configs with the table and report each
difference; a retention longer than the table's is no difference. With --fix, alter the
differing configs to the table's (the topic's other configs and its partitions stay as they
are). Safe to run again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := kafkaConfig("riskgate-topics").NewClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kafka.EnsureTopics(cmd.Context(), kadm.NewClient(cl), kafka.Topics(partitions), fix)
			out := cmd.OutOrStdout()
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITIONS\tRESULT")
			unfixed := false
			for _, r := range res {
				what := "exists"
				switch {
				case r.Created:
					what = "created"
				case len(r.Differs) > 0 && r.Fixed:
					what = "fixed: " + diffs(r.Differs)
				case len(r.Differs) > 0:
					what = "differs: " + diffs(r.Differs)
					unfixed = true
				}
				fmt.Fprintf(w, "%s\t%d\t%s\n", r.Name, r.Partitions, what)
			}
			w.Flush()
			if unfixed && !fix {
				fmt.Fprintln(out, "run again with --fix to alter the differing configs")
			}
			return err
		},
	}
	create.Flags().Int32Var(&partitions, "partitions", 3, "partitions of each keyed topic")
	create.Flags().BoolVar(&fix, "fix", false, "alter the configs of existing topics that differ from the table")
	topics.AddCommand(create)
	root.AddCommand(topics)
}

func diffs(ds []kafka.ConfigDiff) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}
