package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/router"
)

func init() {
	var from, to string
	var show int
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Check that every order has exactly one audit record and every ALLOW one gated order",
		Long: `Reads orders.v1, audit.v1, orders.gated.v1 and orders.dlq.v1 (committed records only) and
reports orders of the time range with no audit record or more than one, ALLOWs with no gated
order, and orders gated more than once or without an ALLOW. A DROP, THROTTLE, DUPLICATE, BLOCK
or REJECT is audited and never gated. Exits 2 if it finds any.

Times are RFC 3339, Unix milliseconds, "now", or a duration before now ("15m", "-2h").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			f, err := parseWhen(from, now)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			t, err := parseWhen(to, now)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if !t.After(f) {
				return fmt.Errorf("--to %s is not after --from %s", t.Format(time.RFC3339), f.Format(time.RFC3339))
			}
			rep, err := router.Reconcile(cmd.Context(), kafkaConfig("riskgate-reconcile"), f, t)
			if err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
			printReconcile(os.Stdout, rep, show)
			if !rep.OK() {
				return reconcileFailed(rep.Problems())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "0", "start of the range of order record timestamps (inclusive)")
	cmd.Flags().StringVar(&to, "to", "now", "end of the range (exclusive)")
	cmd.Flags().IntVar(&show, "show", 20, "how many examples of each problem to list")
	root.AddCommand(cmd)
}

// reconcileFailed is the error of a reconciliation that found problems.
type reconcileFailed int

func (n reconcileFailed) Error() string { return fmt.Sprintf("reconcile found %d problems", int(n)) }

// ExitCode tells problems found (2) apart from failing to run (1).
func (reconcileFailed) ExitCode() int { return 2 }

// parseWhen reads a point in time: RFC 3339, Unix milliseconds, "now", or
// a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return now, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339, Unix milliseconds, now, or a duration", s)
}

func printReconcile(out io.Writer, rep *router.ReconcileReport, show int) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "range\t%s … %s\n", rep.From.UTC().Format(time.RFC3339Nano), rep.To.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "orders\t%d\n", rep.Orders)
	fmt.Fprintf(w, "audited exactly once\t%d\n", rep.Audited)
	for _, d := range []domain.Decision{domain.DecisionAllow, domain.DecisionDrop, domain.DecisionThrottle, domain.DecisionDuplicate, domain.DecisionBlock, domain.DecisionReject} {
		fmt.Fprintf(w, "  %s\t%d\n", d, rep.Decisions[d])
	}
	fmt.Fprintf(w, "gated orders\t%d\n", rep.Gated)
	fmt.Fprintf(w, "unreadable (no order_id)\t%d (%d in %s)\n", rep.Unreadable, rep.UnreadableInDLQ, domain.TopicDLQ)
	fmt.Fprintf(w, "missing audit\t%d\n", len(rep.MissingAudit))
	fmt.Fprintf(w, "multiple audits\t%d\n", len(rep.MultipleAudits))
	fmt.Fprintf(w, "ALLOW without gated order\t%d\n", len(rep.AllowedNotGated))
	fmt.Fprintf(w, "gated more than ALLOWed\t%d\n", len(rep.GatedNotAllowed))
	fmt.Fprintf(w, "unreadable and not in DLQ\t%d\n", len(rep.UnreadableNotDLQ))
	w.Flush()
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(out, "\n%s (%d):\n", title, len(items))
		for i, it := range items {
			if i == show {
				fmt.Fprintf(out, "  … %d more\n", len(items)-show)
				break
			}
			fmt.Fprintf(out, "  %s\n", it)
		}
	}
	refs := func(rs []router.OrderRef) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = "orders.v1 " + r.String()
		}
		return out
	}
	list("missing audit", refs(rep.MissingAudit))
	list("multiple audits", refs(rep.MultipleAudits))
	list("ALLOW without gated order", rep.AllowedNotGated)
	list("gated more than ALLOWed", rep.GatedNotAllowed)
	list("unreadable and not in DLQ", refs(rep.UnreadableNotDLQ))
	if rep.OK() {
		fmt.Fprintln(out, "\nreconcile: OK")
	} else {
		fmt.Fprintf(out, "\nreconcile: %d problems\n", rep.Problems())
	}
}
