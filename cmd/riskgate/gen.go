package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/ingest/gen"
)

func init() {
	var cfg gen.Config
	var mode string
	cmd := &cobra.Command{
		Use:   "gen [normal|panic|symbol|strategy]",
		Short: "Produce synthetic orders to orders.v1",
		Long: `Produce synthetic orders to orders.v1.

  normal    background flow: random 5-digit accounts over 8 symbols, 5/s
  panic     one account (--account, default 12345) firing 50/s
  symbol    many accounts piling into one symbol (--symbol, default AAPL), 50/s
  strategy  one strategy (--strategy, default ALGO_X) firing 50/s

Before the first order, and every --ref-refresh while it runs, gen publishes a
reference price for each symbol it trades to marketdata.ref.v1 (the router's
price collar reads it; a reference older than max_ref_age, 60 s by default,
blocks the symbol). Orders are priced within 2 % of it.`,
		Example: "  riskgate gen panic --account 12345 --duration 10s",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				mode = args[0]
			}
			cfg.Mode = gen.Mode(mode)
			if err := cfg.Validate(); err != nil {
				return err
			}
			cl, err := kafkaConfig("riskgate-gen").NewClient(kgo.ProducerLinger(5 * time.Millisecond))
			if err != nil {
				return err
			}
			defer cl.Close()
			fmt.Printf("gen %s: %.0f orders/s to %s", cfg.Mode, cfg.Rate, g.brokers)
			if cfg.Duration > 0 {
				fmt.Printf(" for %s", cfg.Duration)
			}
			fmt.Println(" (Ctrl-C stops)")
			start := time.Now()
			n, err := gen.Run(cmd.Context(), cl, cfg)
			fmt.Printf("produced %d orders in %s\n", n, time.Since(start).Round(time.Millisecond))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&mode, "mode", "normal", "traffic mode: normal, panic, symbol or strategy (or give it as the argument)")
	f.StringVar(&cfg.Account, "account", "", "account id of a panic (default 12345), or of every order")
	f.StringVar(&cfg.Symbol, "symbol", "", "symbol of a symbol burst (default AAPL), or of every order")
	f.StringVar(&cfg.Strategy, "strategy", "", "strategy of a strategy burst (default ALGO_X), or of every order")
	f.Float64Var(&cfg.Rate, "rate", 0, "orders per second (default 5 for normal, 50 otherwise)")
	f.DurationVar(&cfg.Duration, "duration", 0, "how long to run (default: until Ctrl-C)")
	f.IntVar(&cfg.Count, "count", 0, "stop after this many orders (default: unlimited)")
	f.DurationVar(&cfg.RefRefresh, "ref-refresh", gen.DefaultRefRefresh, "how often to republish the reference prices to marketdata.ref.v1")
	root.AddCommand(cmd)
}
