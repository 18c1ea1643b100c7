package report

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// LimitChange is one change of a scope's pre-trade limits during the day
// (risk.limits.commands.v1): who asked, who approved, why, and what moved.
type LimitChange struct {
	TS     time.Time           `json:"ts"`
	Scope  domain.Scope        `json:"scope"`
	Action domain.LimitsAction `json:"action"`
	// Operator asked for the change; ApprovedBy approved it (APPROVE) or
	// rejected it (REJECT).
	Operator   string          `json:"operator"`
	ApprovedBy string          `json:"approved_by,omitempty"`
	Identity   domain.Identity `json:"identity,omitempty"`
	Reason     string          `json:"reason"`
	// Changes are the fields that moved, "field old → new" ("default"
	// where the scope had no override); empty for a REQUEST, REJECT or
	// EXPIRE, which change nothing.
	Changes []string `json:"changes"`
	// Until is when a RAISE reverts or a REQUEST's approval window ends.
	Until time.Time `json:"until,omitzero"`
	CmdID string    `json:"cmd_id"`
}

// readLimitChanges reads the day's changes of limits, oldest first, one a
// cmd_id and action however often its publish was retried.
func (b *builder) readLimitChanges(ctx context.Context) error {
	rep := b.rep
	cmds, err := b.r.LimitsCommands(ctx, index.LimitsCommandQuery{Since: rep.From.UnixMilli(), Until: rep.To.UnixMilli(), Limit: maxCommands})
	if err != nil {
		return fmt.Errorf("report %s: read limit changes: %w", rep.Date, err)
	}
	if len(cmds) >= maxCommands {
		rep.Truncated = true
	}
	seen := map[string]bool{}
	for i := len(cmds) - 1; i >= 0; i-- {
		c := cmds[i]
		if c.CmdID != "" {
			k := c.CmdID + "\x00" + string(c.Action)
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		lc := LimitChange{TS: time.UnixMilli(c.TS).In(b.loc), Scope: c.Scope, Action: c.Action, Operator: c.Operator,
			ApprovedBy: c.ApprovedBy, Identity: c.Identity, Reason: c.Reason, Changes: diffLimits(c.Old, c.New), CmdID: c.CmdID}
		if c.ExpiresAt > 0 {
			lc.Until = time.UnixMilli(c.ExpiresAt).In(b.loc)
		}
		rep.LimitChanges = append(rep.LimitChanges, lc)
	}
	return nil
}

// diffLimits lists the fields that differ between two overrides, in field
// name order: "max_orders 100 → 200", "credit_limit 5000000 → default".
func diffLimits(old, new domain.LimitValues) []string {
	o, n := old.Fields(), new.Fields()
	var names []string
	for k := range o {
		names = append(names, k)
	}
	for k := range n {
		if _, ok := o[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	out := []string{}
	for _, k := range names {
		a, b := o[k], n[k]
		if a == b {
			continue
		}
		if a == "" {
			a = "default"
		}
		if b == "" {
			b = "default"
		}
		out = append(out, k+" "+a+" → "+b)
	}
	return out
}

func (r *Report) limitChangeRows() [][]string {
	rows := [][]string{{"date", "ts", "scope", "action", "operator", "approved_by", "identity", "reason", "changes", "until", "cmd_id"}}
	for _, c := range r.LimitChanges {
		rows = append(rows, []string{r.Date, fmtTime(c.TS), string(c.Scope), string(c.Action), csvSafe(c.Operator),
			csvSafe(c.ApprovedBy), string(c.Identity), csvSafe(c.Reason), csvSafe(strings.Join(c.Changes, "; ")), fmtTime(c.Until), c.CmdID})
	}
	return rows
}
