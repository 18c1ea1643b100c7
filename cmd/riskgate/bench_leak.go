package main

// riskgate bench leak: how many orders of a runaway account get through
// before something stops it. One account sends a burst at full speed into
// an embedded stack with the default limits and rules; the router's
// pre-trade limits should BLOCK every order past the account's max_orders
// at once, before the detector's kill lands (issue 11 measured 2,034 of
// 5,000 orders ALLOWed against a limit of 100 when only the kill stopped
// them).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

func init() {
	var o benchLeakOptions
	cmd := &cobra.Command{
		Use:   "leak",
		Short: "ALLOWed orders beyond the cap in a one-account burst",
		Long: `Start an embedded stack with the default limits and rules, send one account's
burst of --orders orders at full speed, read audit.v1 until every order is
audited, and count the decisions.
Prints a table, then one line: burst=N cap=C allowed=A leaked=max(0,A−C),
where C is the account's max_orders (deploy/limits.yaml).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := benchLeak(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.orders, "orders", 5000, "orders in the burst")
	f.DurationVar(&o.limit, "limit", 2*time.Minute, "give up when the orders are not all audited after this long")
	f.BoolVar(&o.verbose, "verbose", false, "log the stack's warnings")
	benchCmd.AddCommand(cmd)
}

type benchLeakOptions struct {
	orders  int
	limit   time.Duration
	verbose bool
}

// leakResult is what bench leak measured.
type leakResult struct {
	Burst, Cap, Allowed, Leaked int
	Decisions                   map[domain.Decision]int
	// StoppedAt is the burst's first order not ALLOWed (its index, in the
	// order sent) and StoppedBy its decision: BLOCK when the limit
	// stopped the burst, DROP when the detector's kill landed first.
	StoppedAt int
	StoppedBy domain.Decision
}

func benchLeak(ctx context.Context, out io.Writer, o benchLeakOptions) (leakResult, error) {
	if o.orders <= 0 {
		return leakResult{}, fmt.Errorf("bench leak: --orders must be positive, got %d", o.orders)
	}
	lvl := slog.LevelError + 4
	if o.verbose {
		lvl = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	lc := limits.Default()
	res := leakResult{Burst: o.orders, Cap: int(lc.Defaults.Account.MaxOrders), Decisions: map[domain.Decision]int{}}

	fmt.Fprintln(out, "starting the embedded stack (kfake, Temporal dev server, worker, router, detector)…")
	start := time.Now()
	s, err := devstack.Start(ctx, devstack.Options{Headless: true, Log: log, Limits: &lc})
	if err != nil {
		return res, fmt.Errorf("bench leak: %w", err)
	}
	defer s.Close()
	fmt.Fprintf(out, "stack up in %v\n", time.Since(start).Round(time.Millisecond))

	reader, err := s.KafkaConfig("bench-leak-reader").NewClient(
		kgo.ConsumeTopics(domain.TopicAudit),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		return res, fmt.Errorf("bench leak reader: %w", err)
	}
	defer reader.Close()
	prod, err := s.KafkaConfig("bench-leak-producer").NewClient(kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return res, fmt.Errorf("bench leak producer: %w", err)
	}
	defer prod.Close()

	// One order of another account, symbol and strategy first, awaited in
	// the audit: the router has made its first transaction before the
	// burst, so the burst measures the router's limits, not its start-up
	// (a router still starting could be overtaken by the detector's kill,
	// which then DROPs the whole burst).
	account := fmt.Sprintf("LEAK%d", start.UnixNano()%1_000_000)
	warm, err := json.Marshal(domain.Order{OrderID: "warm-" + account, TS: time.Now().UnixMilli(),
		AccountID: "WARM" + account, Symbol: "WARM", Side: domain.Buy, Qty: 1, Price: 10, Strategy: "bench-leak-warm"})
	if err != nil {
		return res, fmt.Errorf("encode order: %w", err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicOrders, Key: []byte("WARM" + account), Value: warm}).FirstErr(); err != nil {
		return res, fmt.Errorf("produce the warm-up order: %w", err)
	}
	if _, err := awaitAudit(ctx, reader, "warm-"+account, 1, o.limit); err != nil {
		return res, fmt.Errorf("bench leak: the warm-up order: %w", err)
	}

	// The whole burst is encoded before the clock starts, then produced
	// as fast as the client can.
	prefix := "leak-" + account + "-"
	recs := make([]*kgo.Record, o.orders)
	for i := range recs {
		b, err := json.Marshal(domain.Order{OrderID: fmt.Sprintf("%s%06d", prefix, i), TS: time.Now().UnixMilli(),
			AccountID: account, Symbol: "LEAK", Side: domain.Buy, Qty: 1, Price: 10, Strategy: "bench-leak"})
		if err != nil {
			return res, fmt.Errorf("encode order: %w", err)
		}
		recs[i] = &kgo.Record{Topic: domain.TopicOrders, Key: []byte(account), Value: b}
	}
	t0 := time.Now()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return res, fmt.Errorf("produce the burst: %w", err)
	}
	sent := time.Since(t0)

	audit, err := awaitAudit(ctx, reader, prefix, o.orders, o.limit)
	if err != nil {
		return res, fmt.Errorf("bench leak: %w", err)
	}
	sort.Slice(audit, func(i, j int) bool { return audit[i].OrderID < audit[j].OrderID }) // ids are zero-padded
	res.StoppedAt = len(audit)
	for i, a := range audit {
		res.Decisions[a.Decision]++
		if a.Decision != domain.DecisionAllow && res.StoppedBy == "" {
			res.StoppedAt, res.StoppedBy = i, a.Decision
		}
	}
	audited := time.Since(t0)
	res.Allowed = res.Decisions[domain.DecisionAllow]
	res.Leaked = max(0, res.Allowed-res.Cap)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "decision\torders\t")
	for _, d := range []domain.Decision{domain.DecisionAllow, domain.DecisionBlock, domain.DecisionDrop,
		domain.DecisionThrottle, domain.DecisionDuplicate, domain.DecisionReject} {
		fmt.Fprintf(tw, "%s\t%d\t\n", d, res.Decisions[d])
	}
	if res.StoppedBy != "" {
		fmt.Fprintf(tw, "first stopped\torder %d (%s)\t\n", res.StoppedAt+1, res.StoppedBy)
	}
	fmt.Fprintf(tw, "burst produced in\t%v\t\n", sent.Round(time.Millisecond))
	fmt.Fprintf(tw, "all audited after\t%v\t\n", audited.Round(time.Millisecond))
	if err := tw.Flush(); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "burst=%d cap=%d allowed=%d leaked=%d\n", res.Burst, res.Cap, res.Allowed, res.Leaked)
	return res, nil
}

// awaitAudit reads audit.v1 until it has a decision for n distinct orders
// whose ids start with prefix, and returns them in the order read; it gives
// up after limit.
func awaitAudit(ctx context.Context, reader *kgo.Client, prefix string, n int, limit time.Duration) ([]domain.AuditRecord, error) {
	seen := make(map[string]bool, n)
	recs := make([]domain.AuditRecord, 0, n)
	deadline := time.Now().Add(limit)
	for len(recs) < n {
		if time.Now().After(deadline) {
			return recs, fmt.Errorf("%d of %d orders %s* audited after %v", len(recs), n, prefix, limit)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := reader.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return recs, ctx.Err()
		}
		fs.EachRecord(func(r *kgo.Record) {
			var a domain.AuditRecord
			if json.Unmarshal(r.Value, &a) != nil || !strings.HasPrefix(a.OrderID, prefix) || seen[a.OrderID] {
				return
			}
			seen[a.OrderID] = true
			recs = append(recs, a)
		})
	}
	return recs, nil
}
