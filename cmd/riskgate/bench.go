package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// benchCmd groups the end-to-end performance measurements. Each subcommand
// prints a table and ends with one machine-readable key=value line.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure a component's speed on an embedded stack and print a table",
}

func init() { root.AddCommand(benchCmd) }

// startCPUProfile writes a CPU profile of this process to path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
