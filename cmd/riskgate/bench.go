package main

import "github.com/spf13/cobra"

// benchCmd groups the end-to-end performance measurements. Each subcommand
// prints a table and ends with one machine-readable key=value line.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure a component's speed on an embedded stack and print a table",
}

func init() { root.AddCommand(benchCmd) }
