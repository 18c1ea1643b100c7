package index

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/riskgate/riskgate/domain"
)

// Changes of limits (risk.limits.commands.v1), keyed like the kill
// switch's commands by their topic position.
const limitsSchema = `
CREATE TABLE IF NOT EXISTS limits_commands (
	id INTEGER PRIMARY KEY, part INTEGER NOT NULL, off INTEGER NOT NULL,
	ts INTEGER NOT NULL, scope TEXT NOT NULL, action TEXT NOT NULL,
	record TEXT NOT NULL, UNIQUE (part, off));
CREATE INDEX IF NOT EXISTS limits_commands_scope ON limits_commands (scope, ts, id);
CREATE INDEX IF NOT EXISTS limits_commands_ts ON limits_commands (ts, id);
`

// applyLimits stores a batch's changes of limits in its transaction.
func applyLimits(ctx context.Context, tx *sql.Tx, es []LimitsCommandEntry) error {
	return insertEach(ctx, tx, `INSERT OR IGNORE INTO limits_commands
		(part, off, ts, scope, action, record) VALUES (?, ?, ?, ?, ?, ?)`, es,
		func(e *LimitsCommandEntry) (any, []any) {
			c := &e.Command
			return c, []any{e.Partition, e.Offset, c.TS, string(c.Scope), string(c.Action)}
		},
		func(e *LimitsCommandEntry) string {
			return fmt.Sprintf("limits command %s for %s", e.Command.CmdID, e.Command.Scope)
		})
}

// LimitsCommands implements Reader.
func (s *SQLite) LimitsCommands(ctx context.Context, q LimitsCommandQuery) ([]domain.LimitsCommand, error) {
	var c conds
	if q.Scope != "" {
		c.add("scope = ?", string(q.Scope))
	}
	if q.Since > 0 {
		c.add("ts >= ?", q.Since)
	}
	if q.Until > 0 {
		c.add("ts < ?", q.Until)
	}
	out, err := newest[domain.LimitsCommand](ctx, s.db, "limits_commands", c, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("query limits commands: %w", err)
	}
	return out, nil
}
