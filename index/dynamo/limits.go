package dynamo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	k := tsKey(c.TS, e.Pos)
	item := map[string]types.AttributeValue{
		attrScope:  strAttr(scopeKey(c.Scope)),
		attrTSKey:  strAttr(k),
		attrTS:     numAttr(c.TS),
		attrBucket: strAttr(bucket(c.TS, e.Partition)),
		attrRecord: strAttr(string(js)),
	}
	return writeReq{s.t.Limits, item, s.t.Limits + "\x00" + string(c.Scope) + "\x00" + k}, nil
}

// LimitsCommands implements index.Reader.
func (s *Store) LimitsCommands(ctx context.Context, q index.LimitsCommandQuery) ([]domain.LimitsCommand, error) {
	limit := index.ClampLimit(q.Limit, 100, 1000)
	rng := newRange(q.Since, q.Until, "")
	var (
		items []map[string]types.AttributeValue
		err   error
	)
	if q.Scope != "" {
		items, err = s.query(ctx, rangeQuery{table: s.t.Limits, pk: attrScope, pkValue: scopeKey(q.Scope), rng: rng, want: limit})
	} else {
		items, err = s.timeline(ctx, kindLimits, s.t.Limits, rng, filter{}, limit, false)
	}
	if err != nil {
		return nil, fmt.Errorf("query limits commands: %w", err)
	}
	out, err := decodeRecords[domain.LimitsCommand](items)
	if err != nil {
		return nil, fmt.Errorf("query limits commands: %w", err)
	}
	return out, nil
}
