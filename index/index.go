// Package index is the audit index: the store that answers audit searches,
// order lookups, command and signal queries in milliseconds, filled by the
// indexer from audit.v1, killswitch.commands.v1, killswitch.state.v1 and
// risk_signals.v1. The store sits behind Index so a DynamoDB backend can
// replace the embedded SQLite one (Open) without touching the API.
package index

import (
	"context"
	"errors"

	"github.com/riskgate/riskgate/domain"
)

// Reader serves queries.
type Reader interface {
	// Audit returns audit records matching q, newest first, one page at a time.
	Audit(ctx context.Context, q AuditQuery) (AuditPage, error)
	// Order returns every audit record of one order_id, oldest first (a
	// duplicate submission has its own record); ErrNotFound when none.
	Order(ctx context.Context, orderID string) ([]domain.AuditRecord, error)
	// Commands returns commands matching q, newest first.
	Commands(ctx context.Context, q CommandQuery) ([]domain.Command, error)
	// Signals returns risk signals matching q, newest first.
	Signals(ctx context.Context, q SignalQuery) ([]domain.RiskSignal, error)
	// LimitsCommands returns changes of limits matching q, newest first.
	LimitsCommands(ctx context.Context, q LimitsCommandQuery) ([]domain.LimitsCommand, error)
	// States returns every published version of a scope's state, newest first.
	States(ctx context.Context, scope domain.Scope, limit int) ([]domain.State, error)
	// InForce returns the states in force at at (Unix ms): for every scope,
	// its newest published version with updated_ts ≤ at, when that has the
	// given status (any status when empty); ordered by scope.
	InForce(ctx context.Context, at int64, status domain.Status) ([]domain.State, error)
	// Rates counts audit decisions per second from since (Unix ms), oldest first.
	Rates(ctx context.Context, since int64) ([]Rate, error)
	// Ping checks the store answers.
	Ping(ctx context.Context) error
}

// Writer is what the indexer fills.
type Writer interface {
	// Positions returns, per topic and partition, the next offset to read:
	// everything before it is in the index.
	Positions(ctx context.Context) (map[string]map[int32]int64, error)
	// Apply stores a batch and advances the positions it carries, atomically:
	// after a crash either all of it is stored or none, so resuming from
	// Positions never skips or double-counts a record.
	Apply(ctx context.Context, b *Batch) error
}

// Index is a store the indexer writes and the API reads.
type Index interface {
	Reader
	Writer
	Close() error
}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("not found")

// ErrBadCursor is returned for a cursor the store did not issue.
var ErrBadCursor = errors.New("invalid cursor")

// Pos locates a record in its topic.
type Pos struct {
	Partition int32
	Offset    int64
}

// AuditEntry is an audit record with its position in audit.v1.
type AuditEntry struct {
	Pos
	Record domain.AuditRecord
}

// CommandEntry is a command with its position in killswitch.commands.v1.
type CommandEntry struct {
	Pos
	Command domain.Command
}

// StateEntry is a state with its position in killswitch.state.v1.
type StateEntry struct {
	Pos
	State domain.State
}

// SignalEntry is a risk signal with its position in risk_signals.v1.
type SignalEntry struct {
	Pos
	Signal domain.RiskSignal
}

// LimitsCommandEntry is a limits change with its position in
// risk.limits.commands.v1.
type LimitsCommandEntry struct {
	Pos
	Command domain.LimitsCommand
}

// Batch is what one Apply stores.
type Batch struct {
	Audit    []AuditEntry
	Commands []CommandEntry
	States   []StateEntry
	Signals  []SignalEntry
	Limits   []LimitsCommandEntry
	// Next holds, per topic and partition, the offset after the last record
	// consumed (including records that were skipped as undecodable).
	Next map[string]map[int32]int64
}

// Len is the number of records in the batch.
func (b *Batch) Len() int {
	return len(b.Audit) + len(b.Commands) + len(b.States) + len(b.Signals) + len(b.Limits)
}

// Advance records that the next offset of topic/partition is next.
func (b *Batch) Advance(topic string, partition int32, next int64) {
	if b.Next == nil {
		b.Next = make(map[string]map[int32]int64)
	}
	m := b.Next[topic]
	if m == nil {
		m = make(map[int32]int64)
		b.Next[topic] = m
	}
	if next > m[partition] {
		m[partition] = next
	}
}

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	b.Audit = b.Audit[:0]
	b.Commands = b.Commands[:0]
	b.States = b.States[:0]
	b.Signals = b.Signals[:0]
	b.Limits = b.Limits[:0]
	b.Next = nil
}

// AuditQuery filters an audit search. Zero fields do not filter.
type AuditQuery struct {
	Account  string
	Symbol   string
	Strategy string
	Decision domain.Decision
	// CorrID finds the records of one incident.
	CorrID string
	// Since and Until bound ts (Unix ms): Since ≤ ts < Until.
	Since int64
	Until int64
	// Limit is the page size. Default 100, at most 1000.
	Limit int
	// Cursor continues a previous page (AuditPage.Next).
	Cursor string
}

// AuditPage is one page of an audit search.
type AuditPage struct {
	Records []domain.AuditRecord `json:"records"`
	// Next is the cursor of the following (older) page; empty at the end.
	Next string `json:"next,omitempty"`
}

// CommandQuery filters commands. Zero fields do not filter.
type CommandQuery struct {
	Scope  domain.Scope
	CorrID string
	Since  int64
	Limit  int
}

// LimitsCommandQuery filters changes of limits. Zero fields do not filter.
type LimitsCommandQuery struct {
	Scope domain.Scope
	// Since and Until bound ts (Unix ms): Since ≤ ts < Until.
	Since int64
	Until int64
	Limit int
}

// SignalQuery filters risk signals. Zero fields do not filter.
type SignalQuery struct {
	Scope domain.Scope
	// Breaching keeps only signals that breach a rule.
	Breaching bool
	Since     int64
	Limit     int
}

// Rate is the number of decisions of each kind in one second.
type Rate struct {
	// Second is the Unix second.
	Second   int64 `json:"second"`
	Allow    int64 `json:"allow"`
	Drop     int64 `json:"drop"`
	Throttle int64 `json:"throttle"`
	// Block counts orders stopped by a pre-trade limit.
	Block int64 `json:"block"`
	// Other counts DUPLICATE and REJECT.
	Other int64 `json:"other"`
}

// ClampLimit applies a default and a maximum to a page size.
func ClampLimit(n, def, max int) int {
	if n <= 0 {
		return def
	}
	if n > max {
		return max
	}
	return n
}
