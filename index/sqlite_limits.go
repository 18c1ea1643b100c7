package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

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
	if len(es) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO limits_commands
		(part, off, ts, scope, action, record) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("apply index batch: %w", err)
	}
	defer st.Close()
	for _, e := range es {
		c := &e.Command
		js, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode limits command %s: %w", c.CmdID, err)
		}
		if _, err := st.ExecContext(ctx, e.Partition, e.Offset, c.TS, string(c.Scope), string(c.Action), string(js)); err != nil {
			return fmt.Errorf("index limits command %s for %s: %w", c.CmdID, c.Scope, err)
		}
	}
	return nil
}

// LimitsCommands implements Reader.
func (s *SQLite) LimitsCommands(ctx context.Context, q LimitsCommandQuery) ([]domain.LimitsCommand, error) {
	var (
		where = []string{"1 = 1"}
		args  []any
	)
	if q.Scope != "" {
		where = append(where, "scope = ?")
		args = append(args, string(q.Scope))
	}
	if q.Since > 0 {
		where = append(where, "ts >= ?")
		args = append(args, q.Since)
	}
	if q.Until > 0 {
		where = append(where, "ts < ?")
		args = append(args, q.Until)
	}
	args = append(args, ClampLimit(q.Limit, 100, 1000))
	out, err := queryJSON[domain.LimitsCommand](ctx, s.db,
		`SELECT record FROM limits_commands WHERE `+strings.Join(where, " AND ")+` ORDER BY ts DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("query limits commands: %w", err)
	}
	return out, nil
}
