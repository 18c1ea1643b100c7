// Operator commands: thin clients of the HTTP API (kill, unkill, throttle,
// extend, pin, unpin, scopes, scope, audit, order) and token management.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// opsClient is the API connection every operator command shares.
type opsClient struct {
	api     string
	token   string
	json    bool
	timeout time.Duration
	out     io.Writer
}

// addOpsFlags adds --api, --token, --json and --timeout to cmd.
func addOpsFlags(cmd *cobra.Command, c *opsClient) {
	f := cmd.Flags()
	f.StringVar(&c.api, "api", envOr("RISKGATE_API", "http://127.0.0.1:8080"), "riskgate API base URL (env RISKGATE_API)")
	// Never a secret as a flag default: the help would print it.
	f.StringVar(&c.token, "token", "", "bearer token (default: env RISKGATE_TOKEN, else the dev stack's <data>/dev-token)")
	f.BoolVar(&c.json, "json", false, "print the API's JSON instead of a table")
	f.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up on the API after this long")
}

// resolveToken falls back to the token the dev stack writes, so commands
// work against `riskgate dev` with no set-up.
func (c *opsClient) resolveToken() string {
	if c.token != "" {
		return c.token
	}
	if t := os.Getenv("RISKGATE_TOKEN"); t != "" {
		return t
	}
	b, err := os.ReadFile(filepath.Join(envOr("RISKGATE_DATA", "./data"), "dev-token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// apiError is a problem document returned by the API.
type apiError struct {
	status int
	p      api.Problem
}

func (e *apiError) Error() string {
	msg := e.p.Title
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	if e.p.Detail != "" {
		msg += ": " + e.p.Detail
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.status)
}

// ExitCode makes API refusals exit with 2 and upstream failures with 3.
func (e *apiError) ExitCode() int {
	if e.status >= 500 {
		return 3
	}
	return 2
}

// call sends a request and decodes a JSON answer into out (raw bytes are
// returned too, for --json).
func (c *opsClient) call(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	base := strings.TrimRight(c.api, "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", c.api, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := c.resolveToken(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, base+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := &apiError{status: resp.StatusCode}
		_ = json.Unmarshal(raw, &e.p)
		return raw, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return raw, nil
}

// printJSON indents raw API JSON to the output.
func (c *opsClient) printJSON(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = c.out.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(c.out)
	return err
}

// onScope is the RunE of a command on one SCOPE: it points c at the
// command's output, parses the scope and hands it to run. With bareSymbol an
// argument with no type (AAPL) is a symbol.
func onScope(c *opsClient, bareSymbol bool, run func(cmd *cobra.Command, scope domain.Scope) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c.out = cmd.OutOrStdout()
		arg := args[0]
		if bareSymbol && !strings.Contains(arg, ":") {
			arg = "SYMBOL:" + arg
		}
		scope, err := domain.ParseScope(arg)
		if err != nil {
			return err
		}
		return run(cmd, scope)
	}
}

// answer sends one call and prints its answer: the API's JSON with --json,
// else what render makes of it.
func answer[T any](ctx context.Context, c *opsClient, method, path string, body any, render func(T) error) error {
	var v T
	raw, err := c.call(ctx, method, path, body, &v)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	return render(v)
}

func (c *opsClient) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
}

func fmtMS(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05.000")
}

// fmtCooldown is how long a cooldown ending at until (Unix ms) has left:
// "4m30s", "ended", or "-" for none.
func fmtCooldown(until int64) string { return fmtLeft(until, "") }

// fmtUntil is how long until ms: "in 4m30s", "ended", or "-" for never.
func fmtUntil(ms int64) string { return fmtLeft(ms, "in ") }

func fmtLeft(ms int64, prefix string) string {
	if ms <= 0 {
		return "-"
	}
	left := time.Until(time.UnixMilli(ms))
	if left <= 0 {
		return "ended"
	}
	return prefix + left.Round(time.Second).String()
}

// clean keeps table cells on one line and free of terminal control codes.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// actionSpec describes one operator action command.
type actionSpec struct {
	use, short string
	method     string
	path       func(scope string) string
	// rate/cooldown flags wanted.
	rate, cooldown, by bool
}

func scopePath(suffix string) func(string) string {
	return func(scope string) string { return "/v1/scopes/" + url.PathEscape(scope) + suffix }
}

func fixedPath(p string) func(string) string { return func(string) string { return p } }

func init() {
	for _, a := range []actionSpec{
		{use: "kill", short: "Kill a scope: every new order it matches is dropped", method: "POST", path: fixedPath("/v1/kill"), cooldown: true},
		{use: "unkill", short: "End a scope's kill or throttle now", method: "POST", path: fixedPath("/v1/unkill")},
		{use: "throttle", short: "Limit a scope to --rate orders per second", method: "POST", path: fixedPath("/v1/throttle"), rate: true},
		{use: "extend", short: "Extend the cooldown of a scope's open incident by --by", method: "POST", path: scopePath("/extend"), by: true},
		{use: "pin", short: "Stop a scope's open incident from ending by itself", method: "POST", path: scopePath("/pin")},
		{use: "unpin", short: "Let a scope's open incident end by itself again", method: "DELETE", path: scopePath("/pin")},
	} {
		root.AddCommand(actionCommand(a))
	}
	root.AddCommand(scopesCommand(), scopeCommand(), auditCommand(), orderCommand(), tokenCommand())
}

func actionCommand(a actionSpec) *cobra.Command {
	var (
		c          opsClient
		reason     string
		rate       float64
		cooldown   time.Duration
		by         time.Duration
		autoUnkill bool
		cmdID      string
	)
	cmd := &cobra.Command{
		Use:   a.use + " SCOPE --reason TEXT",
		Short: a.short,
		Long: a.short + `.

SCOPE is GLOBAL, ACCOUNT:<id>, SYMBOL:<sym> or STRATEGY:<name>. The operator recorded is the
identity of the token; GLOBAL needs an admin token.`,
		Args: cobra.ExactArgs(1),
		RunE: onScope(&c, false, func(cmd *cobra.Command, scope domain.Scope) error {
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required: every action must say why")
			}
			body := api.OperateRequest{Scope: string(scope), Reason: reason, CmdID: cmdID, AutoUnkill: autoUnkill}
			if a.rate {
				if !(rate > 0) {
					return errors.New("--rate must be a positive number of orders per second")
				}
				body.MaxRatePerSecond = rate
			}
			if a.cooldown && cooldown > 0 {
				body.CooldownSeconds = int64(cooldown.Round(time.Second) / time.Second)
			}
			if a.by {
				if by < time.Second {
					return errors.New("--by must be at least 1s")
				}
				body.CooldownSeconds = int64(by.Round(time.Second) / time.Second)
			}
			return answer(cmd.Context(), &c, a.method, a.path(string(scope)), body, func(st domain.State) error {
				fmt.Fprintf(c.out, "%s is %s (version %d, by %s, corr_id %s)\n", st.Scope, st.Status, st.Version, clean(st.UpdatedBy), st.CorrID)
				if len(st.Approvals) > 0 && st.Status != domain.StatusActive {
					fmt.Fprintf(c.out, "release recorded; it needs a second operator (approvals: %d)\n", len(st.Approvals))
				}
				return nil
			})
		}),
	}
	addOpsFlags(cmd, &c)
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "", "why (required; recorded in the command, the state and the audit)")
	f.StringVar(&cmdID, "cmd-id", "", "command id, to make a retry idempotent (default: generated)")
	if a.rate {
		f.Float64Var(&rate, "rate", 0, "orders per second allowed while throttled (required)")
	}
	if a.cooldown {
		f.DurationVar(&cooldown, "cooldown", 0, "cooldown before the kill may end by itself (default: the worker's)")
		f.BoolVar(&autoUnkill, "auto-unkill", false, "let this kill end by itself after its cooldown")
	}
	if a.by {
		f.DurationVar(&by, "by", 0, "how much longer the cooldown lasts (required), e.g. 10m")
	}
	return cmd
}

func scopesCommand() *cobra.Command {
	var (
		c      opsClient
		status string
		typ    string
	)
	cmd := &cobra.Command{
		Use:   "scopes",
		Short: "List the kill state of every scope",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.out = cmd.OutOrStdout()
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if typ != "" {
				q.Set("type", typ)
			}
			return answer(cmd.Context(), &c, "GET", "/v1/scopes?"+q.Encode(), nil, func(l api.ScopeList) error {
				tw := c.table()
				fmt.Fprintln(tw, "SCOPE\tSTATUS\tRATE\tUPDATED\tBY\tCOOLDOWN\tREASON")
				for _, s := range l.Scopes {
					rate := "-"
					if s.Status == domain.StatusThrottled {
						rate = strconv.FormatFloat(s.MaxRatePerSecond, 'g', -1, 64) + "/s"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Scope, s.Status, rate, fmtMS(s.UpdatedTS),
						clean(s.UpdatedBy), fmtCooldown(s.CooldownUntil), clean(s.Reason))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if !l.Ready {
					fmt.Fprintln(c.out, "(the API is still loading kill states; the list may be incomplete)")
				}
				return nil
			})
		},
	}
	addOpsFlags(cmd, &c)
	cmd.Flags().StringVar(&status, "status", "", "only this status: ACTIVE, KILLED or THROTTLED")
	cmd.Flags().StringVar(&typ, "type", "", "only this scope type: GLOBAL, ACCOUNT, SYMBOL or STRATEGY")
	return cmd
}

func scopeCommand() *cobra.Command {
	var c opsClient
	cmd := &cobra.Command{
		Use:   "scope SCOPE",
		Short: "Show a scope's state, open incident with its history, past incidents and commands",
		Args:  cobra.ExactArgs(1),
		RunE: onScope(&c, false, func(cmd *cobra.Command, scope domain.Scope) error {
			return answer(cmd.Context(), &c, "GET", "/v1/scopes/"+url.PathEscape(string(scope)), nil, func(d api.ScopeDetail) error {
				return printScopeDetail(c.out, d)
			})
		}),
	}
	addOpsFlags(cmd, &c)
	return cmd
}

func printScopeDetail(w io.Writer, d api.ScopeDetail) error {
	fmt.Fprintf(w, "%s\n", d.Scope)
	if s := d.State; s != nil {
		fmt.Fprintf(w, "  status     %s\n  reason     %s\n  updated    %s by %s (%s)\n  version    %d\n  corr_id    %s\n  cooldown   %s\n  auto-unkill %v\n",
			s.Status, clean(s.Reason), fmtMS(s.UpdatedTS), clean(s.UpdatedBy), s.Trigger, s.Version, s.CorrID, fmtCooldown(s.CooldownUntil), s.AutoUnkillEnabled)
	} else {
		fmt.Fprintln(w, "  no published state")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if inc := d.Incident; inc != nil {
		fmt.Fprintf(w, "\nopen incident %s (run %s, started %s)\n", inc.WorkflowID, inc.RunID, fmtMS(inc.StartTS))
		fmt.Fprintln(tw, "  TIME\tACTION\tFROM\tTO\tBY\tREASON")
		for _, t := range inc.History {
			by := string(t.Trigger)
			if t.Operator != "" {
				by = t.Operator
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", fmtMS(t.TS), t.Action, t.From, t.To, clean(by), clean(t.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(d.Incidents) > 0 {
		fmt.Fprintln(w, "\nincidents")
		fmt.Fprintln(tw, "  RUN\tSTATUS\tSTARTED\tCLOSED\tKILL STATUS")
		for _, i := range d.Incidents {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", i.RunID, i.Status, fmtMS(i.StartTS), fmtMS(i.CloseTS), i.KillState)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(d.Commands) > 0 {
		fmt.Fprintln(w, "\ncommands")
		fmt.Fprintln(tw, "  TIME\tACTION\tBY\tCORR_ID\tREASON")
		for _, c := range d.Commands {
			by := string(c.TriggeredBy)
			if c.Operator != "" {
				by = c.Operator
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", fmtMS(c.TS), c.Action, clean(by), c.CorrID, clean(c.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, warn := range d.Warnings {
		fmt.Fprintf(w, "warning: %s\n", clean(warn))
	}
	return nil
}

func auditCommand() *cobra.Command {
	var (
		c                                           opsClient
		account, symbol, strategy, decision, corrID string
		since, until                                string
		limit                                       int
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Search the audit trail, newest first",
		Example: `  riskgate audit --account 12345 --since 10m
  riskgate audit --decision DROP --corr-id 5f0c… --limit 500 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.out = cmd.OutOrStdout()
			q := url.Values{}
			for k, v := range map[string]string{"account": account, "symbol": symbol, "strategy": strategy,
				"decision": decision, "corr_id": corrID, "since": since, "until": until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			all := []domain.AuditRecord{}
			next := ""
			for len(all) < limit {
				q.Set("limit", strconv.Itoa(min(limit-len(all), 1000)))
				var page index.AuditPage
				if _, err := c.call(cmd.Context(), "GET", "/v1/audit?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				all = append(all, page.Records...)
				next = page.Next
				if page.Next == "" || len(page.Records) == 0 {
					break
				}
				q.Set("cursor", page.Next)
			}
			if c.json {
				b, err := json.Marshal(index.AuditPage{Records: all, Next: next})
				if err != nil {
					return err
				}
				return c.printJSON(b)
			}
			tw := c.table()
			fmt.Fprintln(tw, "TIME\tDECISION\tORDER\tACCOUNT\tSYMBOL\tSTRATEGY\tCORR_ID\tREASON")
			for _, a := range all {
				// A BLOCK's reason is the limit it would have crossed.
				why := a.Reason
				if a.Limit != "" {
					why = a.Limit
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtMS(a.TS), a.Decision, clean(a.OrderID), clean(a.AccountID),
					clean(a.Symbol), clean(a.Strategy), a.CorrID, clean(why))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%d records\n", len(all))
			return nil
		},
	}
	addOpsFlags(cmd, &c)
	f := cmd.Flags()
	f.StringVar(&account, "account", "", "account id")
	f.StringVar(&symbol, "symbol", "", "symbol")
	f.StringVar(&strategy, "strategy", "", "strategy")
	f.StringVar(&decision, "decision", "", "ALLOW, DROP, THROTTLE, DUPLICATE, REJECT or BLOCK")
	f.StringVar(&corrID, "corr-id", "", "records of one incident")
	f.StringVar(&since, "since", "", "from: a duration before now (10m), Unix ms or RFC 3339")
	f.StringVar(&until, "until", "", "to (exclusive): a duration before now, Unix ms or RFC 3339")
	f.IntVar(&limit, "limit", 100, "at most this many records (pages through the API)")
	return cmd
}

// blockDetail is what the BLOCK record of an order lookup adds to its
// limit's name: the value the order would have produced, in the limit's
// terms, and which limits were in force (a scope's override version, or its
// type's defaults).
func blockDetail(d api.OrderDetail) string {
	for _, a := range d.Records {
		if a.Decision != domain.DecisionBlock || a.Limit != d.Limit {
			continue
		}
		from := "the default limits"
		if a.LimitsVersion != 0 {
			from = fmt.Sprintf("limits version %d", a.LimitsVersion)
		}
		if a.LimitValue == 0 {
			return blockCondition(a.Limit) + " (" + from + ")"
		}
		return fmt.Sprintf(": %s (%s)", blockValue(a.Limit, a.LimitValue), from)
	}
	return ""
}

// blockValue says what value v of a BLOCK's limit (as the router names it:
// "SCOPE kind=limit…") means.
func blockValue(limit string, v float64) string {
	_, kind := domain.SplitLimit(limit)
	kind, _, _ = strings.Cut(kind, "=")
	n := strconv.FormatFloat(v, 'f', -1, 64)
	switch kind {
	case "max_order_qty":
		return "the order's quantity is " + n
	case "max_order_notional":
		return "the order's notional is " + n
	case "collar_pct":
		return "the order's price is " + n + " % from the reference price"
	case "max_ref_age_seconds":
		return "the reference price is " + n + " s old"
	case "max_orders":
		return "the order would have made it " + n + " orders in the window"
	case "max_notional":
		return "the order would have made it " + n + " of notional in the window"
	case "credit_limit":
		return "the order would have made it " + n + " of gross notional today"
	}
	return "value " + n
}

// blockCondition says why a BLOCK that names no value (a condition, not a
// limit crossed) blocked, where the name alone does not.
func blockCondition(limit string) string {
	switch _, kind := domain.SplitLimit(limit); kind {
	case "unreadable_limits":
		return ": the scope's latest risk.limits.v1 record could not be read, so every order of the scope is blocked until a readable one"
	case "unreadable_reference":
		return ": the symbol's latest marketdata.ref.v1 record could not be read, so its orders are blocked until a readable one"
	case "unrestored_usage":
		return ": a limits usage record of the router's changelog could not be restored, so orders whose window caps or credit limit its usage could count against are blocked until it cannot, or, for the credit limit, until the router has rebuilt the day's credit from orders.gated.v1 (the router's log and its /readyz name the record)"
	}
	return ""
}

func orderCommand() *cobra.Command {
	var c opsClient
	cmd := &cobra.Command{
		Use:   "order ORDER_ID",
		Short: "Show an order's decision and the kill, throttle or limit that caused it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.out = cmd.OutOrStdout()
			return answer(cmd.Context(), &c, "GET", "/v1/orders/"+url.PathEscape(args[0]), nil, func(d api.OrderDetail) error {
				for _, a := range d.Records {
					fmt.Fprintf(c.out, "%s  %s  %s  account %s  symbol %s  %s\n", fmtMS(a.TS), a.Decision, clean(a.OrderID),
						clean(a.AccountID), clean(a.Symbol), clean(a.Reason))
				}
				if k := d.Cause; k != nil {
					by := string(k.TriggeredBy)
					if k.Operator != "" {
						by += " " + k.Operator
					}
					fmt.Fprintf(c.out, "caused by %s of %s at %s by %s: %s (corr_id %s)\n", k.Action, k.Scope, fmtMS(k.TS), clean(by), clean(k.Reason), k.CorrID)
				}
				if d.Limit != "" {
					fmt.Fprintf(c.out, "blocked by the limit %s%s\n", clean(d.Limit), blockDetail(d))
				}
				return nil
			})
		},
	}
	addOpsFlags(cmd, &c)
	return cmd
}

func tokenCommand() *cobra.Command {
	tok := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var (
		name, role, file string
	)
	newCmd := &cobra.Command{
		Use:   "new --name NAME --role viewer|operator|admin [--file tokens.json]",
		Short: "Create a token: print it once, and store only its hash",
		Long: `Create a random API token. The token is printed once; only its SHA-256 goes into the
tokens file (created if missing). Without --file the file entry is printed instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			r := api.Role(role)
			if !r.Allows(api.RoleViewer) {
				return fmt.Errorf("--role must be viewer, operator or admin, not %q", role)
			}
			if name == "" {
				return errors.New("--name is required: it is recorded as the operator")
			}
			t := api.NewToken()
			entry := api.TokenEntry{Name: name, Role: r, SHA256: api.HashToken(t)}
			if file == "" {
				b, _ := json.Marshal(entry)
				fmt.Fprintf(out, "token: %s\nentry: %s\n", t, b)
				return nil
			}
			var f api.TokensFile
			if b, err := os.ReadFile(file); err == nil {
				if err := json.Unmarshal(b, &f); err != nil {
					return fmt.Errorf("parse %s: %w", file, err)
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("read %s: %w", file, err)
			}
			f.Tokens = append(f.Tokens, entry)
			if _, err := api.NewTokens(f.Tokens); err != nil {
				return err
			}
			b, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(file, append(b, '\n'), 0o600); err != nil {
				return fmt.Errorf("write %s: %w", file, err)
			}
			fmt.Fprintf(out, "token: %s\nadded %s (%s) to %s; the token is not stored, keep it now\n", t, name, r, file)
			return nil
		},
	}
	newCmd.Flags().StringVar(&name, "name", "", "who holds the token (recorded as the operator)")
	newCmd.Flags().StringVar(&role, "role", "operator", "viewer, operator or admin")
	newCmd.Flags().StringVar(&file, "file", "", "tokens file to add the hash to")
	tok.AddCommand(newCmd)
	return tok
}
