package main

// riskgate bench killswitch: time-to-enforcement of kills on an embedded
// stack (kfake + Temporal dev server + worker, router, detector), measured
// from outside, the way an order sees it: produce orders, read audit.v1.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
)

func init() {
	var o benchKSOptions
	cmd := &cobra.Command{
		Use:   "killswitch",
		Short: "Time from a breaching order to the router dropping the scope's orders",
		Long: `Start an embedded stack and measure kill enforcement end to end:
(a) incidents one after another: time from producing the order that crosses the
    detector's threshold to the first DROP audit record of that account;
(b) many accounts breaching at once: time until every one of them is DROPped.
Prints a table, then one line: kill_p50_ms=X kill_p99_ms=Y mass_kill_1000_s=Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchKillSwitch(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.incidents, "incidents", 50, "incidents measured one after another")
	f.IntVar(&o.mass, "mass", 1000, "accounts breaching at once")
	f.IntVar(&o.threshold, "threshold", 100, "the detector's order-count threshold per account and minute (default rules)")
	f.DurationVar(&o.limit, "limit", 2*time.Minute, "give up on a measurement after this long")
	f.BoolVar(&o.verbose, "verbose", false, "log the stack's warnings")
	benchCmd.AddCommand(cmd)
}

type benchKSOptions struct {
	incidents, mass, threshold int
	limit                      time.Duration
	verbose                    bool
}

// dropWatch records when the first DROP of each account was read.
type dropWatch struct {
	mu      sync.Mutex
	first   map[string]time.Time
	decided int
}

func (d *dropWatch) seen(account string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.first[account]
	return t, ok
}

func (d *dropWatch) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.decided
}

func benchKillSwitch(ctx context.Context, out io.Writer, o benchKSOptions) error {
	lvl := slog.LevelError + 4
	if o.verbose {
		lvl = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	fmt.Fprintln(out, "starting the embedded stack (kfake, Temporal dev server, worker, router, detector)…")
	start := time.Now()
	// Only the account count rule: the measurement is about enforcement, and
	// the bench's traffic would trip the concentration and symbol rules first.
	def := detector.DefaultRules()
	rules := detector.Rules{Lateness: def.Lateness, FutureSkew: def.FutureSkew, NormalAfter: def.NormalAfter,
		Rules: []detector.Rule{{Name: "account_count_1m", Dimension: domain.ScopeAccount, Window: time.Minute,
			Metric: detector.MetricCount, Threshold: float64(o.threshold), Action: domain.ActionKill}}}
	s, err := devstack.Start(ctx, devstack.Options{Headless: true, Log: log, Cooldown: time.Hour,
		Detector: detector.Config{Rules: rules}})
	if err != nil {
		return fmt.Errorf("bench killswitch: %w", err)
	}
	defer s.Close()
	fmt.Fprintf(out, "stack up in %v\n", time.Since(start).Round(time.Millisecond))

	prod, err := s.KafkaConfig("bench-producer").NewClient(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return err
	}
	defer prod.Close()
	watch, err := watchDrops(ctx, s)
	if err != nil {
		return err
	}

	seq := 0
	order := func(account string) *kgo.Record {
		seq++
		o := domain.Order{OrderID: fmt.Sprintf("bench-%d-%d", start.UnixNano(), seq), TS: time.Now().UnixMilli(),
			AccountID: account, Symbol: fmt.Sprintf("S%d", seq%97), Side: domain.Buy, Qty: 1, Price: 10, Strategy: "bench"}
		b, _ := json.Marshal(o)
		return &kgo.Record{Topic: domain.TopicOrders, Key: []byte(account), Value: b}
	}
	produceAll := func(recs []*kgo.Record) error {
		return prod.ProduceSync(ctx, recs...).FirstErr()
	}

	// (a) incidents one after another.
	var lat []time.Duration
	for i := range o.incidents {
		account := fmt.Sprintf("BK%05d", i)
		warm := make([]*kgo.Record, o.threshold)
		for j := range warm {
			warm[j] = order(account)
		}
		if err := produceAll(warm); err != nil {
			return fmt.Errorf("incident %d: %w", i, err)
		}
		t0 := time.Now()
		if err := produceAll([]*kgo.Record{order(account)}); err != nil {
			return fmt.Errorf("incident %d: %w", i, err)
		}
		dropped, err := probeUntilDropped(ctx, prod, watch, []string{account}, order, time.Millisecond, o.limit)
		if err != nil {
			return fmt.Errorf("incident %d (%s): %w", i, account, err)
		}
		lat = append(lat, dropped.Sub(t0))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}

	// (b) many accounts at once: warm every account up to the threshold,
	// let the router decide all of it, then send each its crossing order.
	accounts := make([]string, o.mass)
	var warm []*kgo.Record
	for i := range accounts {
		accounts[i] = fmt.Sprintf("BM%05d", i)
		for range o.threshold {
			warm = append(warm, order(accounts[i]))
		}
	}
	before := watch.count()
	if err := produceAll(warm); err != nil {
		return fmt.Errorf("mass warm-up: %w", err)
	}
	deadline := time.Now().Add(o.limit)
	for watch.count() < before+len(warm) {
		if time.Now().After(deadline) {
			return fmt.Errorf("mass warm-up: the router decided %d of %d orders within %v", watch.count()-before, len(warm), o.limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	crossing := make([]*kgo.Record, len(accounts))
	for i, a := range accounts {
		crossing[i] = order(a)
	}
	t0 := time.Now()
	if err := produceAll(crossing); err != nil {
		return fmt.Errorf("mass kill: %w", err)
	}
	last, err := probeUntilDropped(ctx, prod, watch, accounts, order, 20*time.Millisecond, o.limit)
	if err != nil {
		return fmt.Errorf("mass kill: %w", err)
	}
	mass := last.Sub(t0)

	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tn\tp50\tp90\tp99\tmax\t")
	if len(lat) > 0 {
		fmt.Fprintf(tw, "breach order → first DROP (ms)\t%d\t%s\t%s\t%s\t%s\t\n", len(lat), ms(pct(0.5)), ms(pct(0.9)), ms(pct(0.99)), ms(lat[len(lat)-1]))
	}
	fmt.Fprintf(tw, "%d scopes killed at once → all DROPping (s)\t%d\t\t\t\t%.2f\t\n", o.mass, o.mass, mass.Seconds())
	tw.Flush()
	fmt.Fprintf(out, "kill_p50_ms=%s kill_p99_ms=%s mass_kill_%d_s=%.2f\n", ms(pct(0.5)), ms(pct(0.99)), o.mass, mass.Seconds())
	return nil
}

// watchDrops reads audit.v1 from its end and notes each account's first DROP.
func watchDrops(ctx context.Context, s *devstack.Stack) (*dropWatch, error) {
	cl, err := s.KafkaConfig("bench-audit").NewClient(
		kgo.ConsumeTopics(domain.TopicAudit),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(10*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	w := &dropWatch{first: map[string]time.Time{}}
	go func() {
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			w.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				w.decided++
				var a domain.AuditRecord
				if json.Unmarshal(r.Value, &a) != nil || a.Decision != domain.DecisionDrop {
					return
				}
				if _, ok := w.first[a.AccountID]; !ok {
					w.first[a.AccountID] = now
				}
			})
			w.mu.Unlock()
		}
	}()
	// Make sure the consumer has its starting offsets before anything is produced.
	time.Sleep(500 * time.Millisecond)
	return w, nil
}

// probeUntilDropped keeps sending one order per account still allowed, every
// interval, until each account has a DROP; it returns the last DROP's time.
func probeUntilDropped(ctx context.Context, prod *kgo.Client, w *dropWatch, accounts []string,
	order func(string) *kgo.Record, every, limit time.Duration) (time.Time, error) {
	pending := slices.Clone(accounts)
	var last time.Time
	deadline := time.Now().Add(limit)
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%d of %d accounts not DROPped within %v", len(pending), len(accounts), limit)
		}
		recs := make([]*kgo.Record, 0, len(pending))
		next := pending[:0]
		for _, a := range pending {
			if t, ok := w.seen(a); ok {
				if t.After(last) {
					last = t
				}
				continue
			}
			next = append(next, a)
			recs = append(recs, order(a))
		}
		pending = next
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			prod.Produce(ctx, r, nil)
		}
		time.Sleep(every)
	}
	return last, nil
}
