package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/replay"
	"github.com/riskgate/riskgate/workflows"
)

// replayOptions are the flags of `riskgate replay`.
type replayOptions struct {
	input, from, to string
	rules, limits   string
	out             string
	json, noKills   bool
	progress        string
	settings        workflows.Settings
	ob              orderBoundsFlags
}

func init() {
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "What-if: run candidate rules over recorded orders and compare with what happened",
		Long: `Replay recorded orders through the detector's engine with candidate rules, each scope's
KillSwitch (modelled: a kill takes effect from the order after its breach; cooldown,
probation, doubling on a breach during probation and pinning as configured; no operator
actions) and the router's decision table, with no Kafka transaction and no Temporal.

Orders come from a file (--input, one orders.v1 JSON order per line, in time order) or from
orders.v1 over --from … --to (record timestamps; RFC 3339, Unix milliseconds, "now", or a
duration before now such as 2h), its partitions merged by event time. From the topics the
report also shows what actually happened over the range (kills from killswitch.commands.v1
and killswitch.state.v1, DROP/THROTTLE/BLOCK counts from audit.v1) and the difference per
scope: new, gone (would not happen), earlier, later or same.

Per scope: the first breach (rule, order id and time, value and threshold), the kills, the
orders that would have been dropped or blocked and their notional. A table on stdout, or
--json; --out DIR also writes replay.csv and a self-contained replay.html (timeline of actual
vs candidate per scope, and the table). Bad input lines are counted and the first listed with
their line numbers; they never stop the replay. A progress line is drawn on stderr when it is
a terminal.`,
		Example: `  riskgate replay --input orders.jsonl --rules tighter.yaml --out replay-out
  riskgate replay --from 2h --rules tighter.yaml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplay(cmd, o) },
	}
	addOrderBoundsFlags(cmd, &o.ob)
	f := cmd.Flags()
	f.StringVar(&o.input, "input", "", "orders file, one orders.v1 JSON order per line (instead of --from/--to)")
	f.StringVar(&o.from, "from", "", "start of the range of orders.v1 to replay (record timestamps, inclusive)")
	f.StringVar(&o.to, "to", "now", "end of the range (exclusive)")
	f.StringVar(&o.rules, "rules", "", "candidate rules, a YAML rules file (deploy/rules.yaml); empty: the built-in defaults")
	f.StringVar(&o.limits, "limits", "", "candidate pre-trade limits file (deploy/limits.yaml)")
	f.BoolVar(&o.noKills, "no-kills", false, "report breaches only: simulate no kill, drop nothing")
	f.StringVar(&o.out, "out", "", "directory to write replay.csv and replay.html to")
	f.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	f.StringVar(&o.progress, "progress", "auto", "progress line on stderr: auto (when it is a terminal), always or never")
	f.DurationVar(&o.settings.Cooldown, "cooldown", 5*time.Minute, "cooldown of a kill before auto-unkill is considered (the worker's --cooldown)")
	f.DurationVar(&o.settings.MaxCooldown, "max-cooldown", time.Hour, "cap of the doubled cooldown after a breach on probation")
	f.DurationVar(&o.settings.Probation, "probation", 2*time.Minute, "how long an auto-unkilled scope stays THROTTLED (negative: none)")
	f.Float64Var(&o.settings.ProbationRate, "probation-rate", 10, "orders per second allowed during probation")
	f.BoolVar(&o.settings.IgnoreNormal, "ignore-normal", false, "auto-unkill after the cooldown without the detector's normal")
	root.AddCommand(cmd)
}

func runReplay(cmd *cobra.Command, o replayOptions) error {
	ctx := cmd.Context()
	if (o.input == "") == (o.from == "") {
		return errors.New("give either --input FILE or --from (with --to) to read orders.v1")
	}
	cfg := replay.Config{Settings: o.settings, NoKills: o.noKills}
	var err error
	if o.limits != "" {
		lc, err := limits.Load(o.limits)
		if err != nil {
			return fmt.Errorf("--limits: %w", err)
		}
		if cfg.PreTrade, err = replay.NewLimits(lc); err != nil {
			return fmt.Errorf("--limits %s: %w", o.limits, err)
		}
	}
	if cfg.OrderBounds, err = o.ob.bounds(cmd); err != nil {
		return err
	}
	if o.rules != "" {
		if cfg.Rules, err = detector.LoadRules(o.rules); err != nil {
			return err
		}
	}
	r, err := replay.New(cfg)
	if err != nil {
		return err
	}
	var show bool
	switch o.progress {
	case "auto":
		show = term.IsTerminal(int(os.Stderr.Fd()))
	case "always":
		show = true
	case "never":
	default:
		return fmt.Errorf("--progress %q: want auto, always or never", o.progress)
	}
	p := replay.NewProgress(os.Stderr, show)

	var res *replay.Result
	if o.input != "" {
		p.Start()
		err = replay.ReadFile(ctx, o.input, r, p)
		p.Stop()
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		res = r.Finish(0)
		res.Source = o.input
	} else {
		if res, err = replayTopics(ctx, o, r, p); err != nil {
			return err
		}
	}
	if o.out != "" {
		if err := res.WriteDir(o.out); err != nil {
			return err
		}
	}
	if o.json {
		return res.WriteJSON(os.Stdout)
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	if o.out != "" {
		fmt.Printf("\nwrote %s/replay.csv and %s/replay.html\n", o.out, o.out)
	}
	return nil
}

// replayTopics replays orders.v1 over the range, beside what happened.
func replayTopics(ctx context.Context, o replayOptions, r *replay.Replay, p *replay.Progress) (*replay.Result, error) {
	now := time.Now()
	from, err := parseWhen(o.from, now)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	to, err := parseWhen(o.to, now)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	if !to.After(from) {
		return nil, fmt.Errorf("--to %s is not after --from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	kc := kafkaConfig("riskgate-replay")
	actual, err := replay.ReadActual(ctx, kc, from, to)
	if err != nil {
		return nil, fmt.Errorf("read what happened: %w", err)
	}
	r.CompareWith(actual)
	p.Start()
	err = replay.ReadTopics(ctx, kc, from, to, r, p)
	p.Stop()
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", domain.TopicOrders, err)
	}
	res := r.Finish(min(to.UnixMilli(), now.UnixMilli()))
	res.Source = domain.TopicOrders
	return res, nil
}
