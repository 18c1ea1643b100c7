package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/index/dynamo"
)

func init() {
	tables := &cobra.Command{Use: "tables", Short: "Manage the DynamoDB tables of the audit index"}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create the DynamoDB audit index tables, their indexes and TTL (safe to run again)",
		Long: `Create the DynamoDB tables of the audit index (on-demand capacity), wait until they are
active and enable TTL on the audit and signal tables. Tables that exist are left as they are.
Table names take --dynamodb-table-prefix; --dynamodb-endpoint points at DynamoDB Local.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := dynamoClient(cmd.Context())
			if err != nil {
				return err
			}
			res, err := dynamo.CreateTables(cmd.Context(), c, dynamo.TableNames(ixf.dynamoPrefix))
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TABLE\tRESULT\tTTL")
			for _, r := range res {
				what := "exists"
				if r.Created {
					what = "created"
				}
				ttl := r.TTL
				if ttl == "" {
					ttl = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", r.Name, what, ttl)
			}
			w.Flush()
			return err
		},
	}
	tables.AddCommand(create)
	root.AddCommand(tables)
}
