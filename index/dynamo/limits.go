package dynamo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// Changes of limits (risk.limits.commands.v1) in the limits-log table:
// by scope, and by time through the by-time index, like commands.

// kindLimits is the bucket kind of the limits-log table.
const kindLimits = "limits"

func (s *Store) limitsItem(e *index.LimitsCommandEntry) (writeReq, error) {
	c := &e.Command
	js, err := json.Marshal(c)
	if err != nil {
		return writeReq{}, fmt.Errorf("encode limits command %s: %w", c.CmdID, err)
	}
	return byScope(s.t.Limits, c.Scope, c.TS, e.Pos, js), nil
}

// LimitsCommands implements index.Reader.
func (s *Store) LimitsCommands(ctx context.Context, q index.LimitsCommandQuery) ([]domain.LimitsCommand, error) {
	limit := index.ClampLimit(q.Limit, 100, 1000)
	rng := newRange(q.Since, q.Until, "")
	items, err := s.scopeOrTimeline(ctx, kindLimits, s.t.Limits, q.Scope, rng, filter{}, limit)
	if err != nil {
		return nil, fmt.Errorf("query limits commands: %w", err)
	}
	out, err := decodeRecords[domain.LimitsCommand](items)
	if err != nil {
		return nil, fmt.Errorf("query limits commands: %w", err)
	}
	return out, nil
}
