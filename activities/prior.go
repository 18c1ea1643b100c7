package activities

import (
	"context"
	"fmt"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/killstate"
)

// PriorStateName is the registered name of the local activity that returns
// a scope's last published state. A new run (incident) calls it first, so
// its versions start above the previous run's and offences are counted
// across incidents.
const PriorStateName = "PriorState"

// StateReader answers PriorState from a table of killswitch.state.v1 that a
// killstate.Follower keeps current (and, for read-your-writes, that the
// worker's own Publisher feeds as each publish is acknowledged).
type StateReader struct {
	table *killstate.Table
	ready <-chan struct{}
}

// NewStateReader returns a reader of table; ready is closed once the
// follower has bootstrapped the table to the topic's high watermark.
func NewStateReader(table *killstate.Table, ready <-chan struct{}) *StateReader {
	return &StateReader{table: table, ready: ready}
}

// PriorState waits until the table is bootstrapped and returns the scope's
// last published state; the zero State (version 0) when the scope has none.
func (r *StateReader) PriorState(ctx context.Context, scope domain.Scope) (domain.State, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return domain.State{}, fmt.Errorf("prior state of %s: %s not bootstrapped yet: %w", scope, domain.TopicState, ctx.Err())
	}
	st, _ := r.table.Get(scope)
	return st, nil
}
