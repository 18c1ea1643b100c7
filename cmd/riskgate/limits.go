// riskgate limits: read and change pre-trade limits through the API.

package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// limitFlag is one limit field as a command-line flag.
type limitFlag struct {
	flag, field, usage string
	whole, boolean     bool
}

var limitFlags = []limitFlag{
	{flag: "max-order-qty", field: "max_order_qty", usage: "largest qty of one order"},
	{flag: "max-order-notional", field: "max_order_notional", usage: "largest qty × price of one order"},
	{flag: "collar-pct", field: "collar_pct", usage: "how far (%) a price may be from the reference price"},
	{flag: "max-orders", field: "max_orders", usage: "most orders within the window", whole: true},
	{flag: "max-notional", field: "max_notional", usage: "most gross notional within the window"},
	{flag: "window-seconds", field: "window_seconds", usage: "the window of --max-orders and --max-notional", whole: true},
	{flag: "credit-limit", field: "credit_limit", usage: "most gross notional per trading day (ACCOUNT)"},
	{flag: "max-ref-age-seconds", field: "max_ref_age_seconds", usage: "oldest usable reference price (SYMBOL)", whole: true},
	{flag: "require-reference", field: "require_reference", usage: "block orders in symbols with no reference price (true|false)", boolean: true},
}

func init() {
	lim := &cobra.Command{
		Use:   "limits",
		Short: "Read and change pre-trade limits (show, list, history, set, raise, approve, reject, restrict, unrestrict)",
		Long: `Read and change a scope's pre-trade limits through the API. Every change goes through the
scope's Limits workflow: an operator changes limits within the ceilings of the limits file, an
admin beyond them, and such a change (or any loosening of GLOBAL) waits for a second operator
to approve it. Exit codes: 0 done, 1 bad arguments, 2 refused by the API, 3 the API or
Temporal unavailable.`,
	}
	lim.AddCommand(limitsShowCommand(), limitsListCommand(), limitsHistoryCommand(),
		limitsChangeCommand("set", "Set a scope's overrides (--clear FIELD puts a field back on its default)", "PUT", ""),
		limitsChangeCommand("raise", "Raise a scope's limits --for a while; they revert by themselves", "POST", "/raise"),
		limitsChangeCommand("approve", "Approve the change waiting on a scope (a second operator, admin role)", "POST", "/approve"),
		limitsChangeCommand("reject", "Reject the change waiting on a scope", "POST", "/reject"),
		limitsChangeCommand("restrict", "Restrict a symbol: every order in it is blocked", "POST", "/restrict"),
		limitsChangeCommand("unrestrict", "Lift a symbol's restriction", "POST", "/unrestrict"))
	root.AddCommand(lim)
}

func limitsPath(scope domain.Scope, suffix string) string {
	return "/v1/limits/" + url.PathEscape(string(scope)) + suffix
}

func limitsShowCommand() *cobra.Command {
	var c opsClient
	cmd := &cobra.Command{
		Use:   "show SCOPE",
		Short: "Show a scope's effective limits, where each comes from, and any pending change",
		Args:  cobra.ExactArgs(1),
		RunE: onScope(&c, false, func(cmd *cobra.Command, scope domain.Scope) error {
			return answer(cmd.Context(), &c, "GET", limitsPath(scope, ""), nil, func(v workflows.LimitsView) error {
				return printLimitsView(c.out, v)
			})
		}),
	}
	addOpsFlags(cmd, &c)
	return cmd
}

func limitsListCommand() *cobra.Command {
	var c opsClient
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the scopes whose limits are not their type's defaults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.out = cmd.OutOrStdout()
			return answer(cmd.Context(), &c, "GET", "/v1/limits", nil, func(l api.LimitsList) error {
				tw := c.table()
				fmt.Fprintln(tw, "SCOPE\tSTATE\tOVERRIDES\tEXPIRES\tPENDING\tVERSION\tBY\tREASON")
				for _, v := range l.Scopes {
					pending := "-"
					if p := v.Pending; p != nil {
						pending = fmt.Sprintf("%s by %s: %s", p.Kind, clean(p.RequestedBy), fieldValues(p.Limits, p.Clear))
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", v.Scope, v.State, fieldValues(v.Overrides, nil),
						fmtUntil(v.ExpiresAt), pending, v.Version, clean(v.UpdatedBy), clean(v.Reason))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(l.Scopes) == 0 {
					fmt.Fprintln(c.out, "(every scope is on its type's defaults)")
				}
				for _, w := range l.Warnings {
					fmt.Fprintf(c.out, "warning: %s\n", clean(w))
				}
				return nil
			})
		},
	}
	addOpsFlags(cmd, &c)
	return cmd
}

func limitsHistoryCommand() *cobra.Command {
	var (
		c     opsClient
		since string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "history SCOPE",
		Short: "Show who changed a scope's limits, why, and from what to what (from the audit index)",
		Args:  cobra.ExactArgs(1),
		RunE: onScope(&c, false, func(cmd *cobra.Command, scope domain.Scope) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if since != "" {
				q.Set("since", since)
			}
			return answer(cmd.Context(), &c, "GET", limitsPath(scope, "/history")+"?"+q.Encode(), nil, func(h api.LimitsHistory) error {
				tw := c.table()
				fmt.Fprintln(tw, "TIME\tACTION\tBY\tAPPROVED BY\tOLD\tNEW\tREASON")
				for _, ch := range h.Changes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtMS(ch.TS), ch.Action, clean(ch.Operator), clean(ch.ApprovedBy),
						fieldValues(ch.Old, nil), fieldValues(ch.New, nil), clean(ch.Reason))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(h.Changes) == 0 {
					fmt.Fprintln(c.out, "(no change of limits recorded for "+string(scope)+")")
				}
				return nil
			})
		}),
	}
	addOpsFlags(cmd, &c)
	cmd.Flags().StringVar(&since, "since", "", "only changes since: a duration (24h), RFC 3339 or Unix ms")
	cmd.Flags().IntVar(&limit, "limit", 50, "most changes shown, newest first (1-1000)")
	return cmd
}

// limitsChangeCommand is one of set, raise, approve, reject, restrict and
// unrestrict.
func limitsChangeCommand(use, short, method, suffix string) *cobra.Command {
	var (
		c      opsClient
		reason string
		cmdID  string
		clear  []string
		dur    time.Duration
		values = make([]string, len(limitFlags))
	)
	takesLimits := use == "set" || use == "raise"
	args := " SCOPE --reason TEXT"
	switch use {
	case "set":
		args = " SCOPE [--max-orders N] [--max-notional X] [--credit-limit X] [--max-order-qty X] … [--clear FIELD] --reason TEXT"
	case "raise":
		args = " SCOPE [--max-orders N] [--credit-limit X] … --for 30m --reason TEXT"
	case "restrict", "unrestrict":
		args = " SYMBOL --reason TEXT"
	}
	cmd := &cobra.Command{
		Use:   use + args,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: onScope(&c, use == "restrict" || use == "unrestrict", func(cmd *cobra.Command, scope domain.Scope) error {
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required: every change of limits must say why")
			}
			body := map[string]any{"reason": reason}
			if cmdID != "" {
				body["cmd_id"] = cmdID
			}
			if takesLimits {
				lim := map[string]any{}
				for i, lf := range limitFlags {
					if !cmd.Flags().Changed(lf.flag) {
						continue
					}
					v, err := lf.parse(values[i])
					if err != nil {
						return err
					}
					lim[lf.field] = v
				}
				for _, name := range clear {
					field, ok := limitField(name)
					if !ok {
						return fmt.Errorf("--clear %s: not a limit (one of %s)", name, limitFlagNames())
					}
					if _, both := lim[field]; both {
						return fmt.Errorf("--clear %s and a value for it: choose one", name)
					}
					lim[field] = nil
				}
				if len(lim) == 0 {
					return errors.New("give at least one limit to change, e.g. --max-orders 200")
				}
				body["limits"] = lim
			}
			if use == "raise" {
				if dur < time.Second {
					return errors.New("--for is required: how long the raise lasts, e.g. 30m")
				}
				body["duration_seconds"] = int64(dur.Round(time.Second) / time.Second)
			}
			return answer(cmd.Context(), &c, method, limitsPath(scope, suffix), body, func(v workflows.LimitsView) error {
				if p := v.Pending; p != nil && !v.Applied {
					fmt.Fprintf(c.out, "%s: %s requested by %s, waiting for a second operator until %s", v.Scope, p.Kind, clean(p.RequestedBy), fmtMS(p.ExpiresAt))
					if p.Why != "" {
						fmt.Fprintf(c.out, " (%s)", clean(p.Why))
					}
					fmt.Fprintln(c.out, "\napprove with: riskgate limits approve "+string(v.Scope)+" --reason TEXT")
					return nil
				}
				return printLimitsView(c.out, v)
			})
		}),
	}
	addOpsFlags(cmd, &c)
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "", "why (required; recorded with the change)")
	f.StringVar(&cmdID, "cmd-id", "", "command id, to make a retry idempotent (default: generated)")
	if takesLimits {
		for i, lf := range limitFlags {
			f.StringVar(&values[i], lf.flag, "", lf.usage)
		}
	}
	if use == "set" {
		f.StringSliceVar(&clear, "clear", nil, "put a field back on its default (repeatable), e.g. --clear max-orders")
	}
	if use == "raise" {
		f.DurationVar(&dur, "for", 0, "how long the raise lasts (required), e.g. 30m")
	}
	return cmd
}

// parse reads a flag's value as its field's JSON value.
func (lf limitFlag) parse(s string) (any, error) {
	switch {
	case lf.boolean:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: want true or false", lf.flag, s)
		}
		return b, nil
	case lf.whole:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: want a whole number", lf.flag, s)
		}
		return n, nil
	}
	x, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: want a number", lf.flag, s)
	}
	return x, nil
}

// limitField maps a flag or field name (max-orders, max_orders) to the field.
func limitField(name string) (string, bool) {
	for _, lf := range limitFlags {
		if name == lf.flag || name == lf.field {
			return lf.field, true
		}
	}
	if name == "restricted" {
		return name, true
	}
	return "", false
}

func limitFlagNames() string {
	var out []string
	for _, lf := range limitFlags {
		out = append(out, lf.flag)
	}
	return strings.Join(out, ", ")
}

// fieldValues renders the set fields of v, and the cleared ones, in one
// line: "max_orders=200 credit_limit=default".
func fieldValues(v domain.LimitValues, clear []string) string {
	m := v.Fields()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	for _, k := range clear {
		out = append(out, k+"=default")
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " ")
}

func printLimitsView(w io.Writer, v workflows.LimitsView) error {
	fmt.Fprintf(w, "%s  %s  version %d", v.Scope, v.State, v.Version)
	if v.UpdatedBy != "" {
		fmt.Fprintf(w, "  by %s at %s: %s", clean(v.UpdatedBy), fmtMS(v.UpdatedTS), clean(v.Reason))
	}
	fmt.Fprintln(w)
	if v.ApprovedBy != "" {
		fmt.Fprintf(w, "values beyond the ceilings approved by %s\n", clean(v.ApprovedBy))
	}
	if v.ExpiresAt > 0 {
		fmt.Fprintf(w, "temporary until %s (%s)\n", fmtMS(v.ExpiresAt), fmtUntil(v.ExpiresAt))
	}
	eff, ceil := v.Limits.Fields(), v.Ceilings.Fields()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tVALUE\tSOURCE\tCEILING")
	for _, lf := range append(limitFlags, limitFlag{field: "restricted"}) {
		val, ok := eff[lf.field]
		if !ok {
			continue
		}
		src := v.Source[lf.field]
		if src == "" {
			src = "-"
		}
		c := ceil[lf.field]
		if c == "" {
			c = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lf.field, val, src, c)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p := v.Pending; p != nil {
		fmt.Fprintf(w, "pending %s by %s (%s): %s; approve by %s\n", p.Kind, clean(p.RequestedBy), clean(p.Reason),
			fieldValues(p.Limits, p.Clear), fmtMS(p.ExpiresAt))
		if p.Why != "" {
			fmt.Fprintf(w, "  needs a second operator: %s\n", clean(p.Why))
		}
	}
	return nil
}
