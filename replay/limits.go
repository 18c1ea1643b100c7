package replay

import (
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// Limits is the router's pre-trade limit check (ingest/limits) as a
// PreTrade: the same engine the router runs, fed the replay's orders in
// event-time order, with candidate limits. One replay is one router owning
// every partition, so SYMBOL, STRATEGY and GLOBAL caps apply whole.
type Limits struct {
	e    *limits.Engine
	last limits.Result
}

// NewLimits builds the check from a limits configuration (limits.Load of a
// candidate file, or limits.Default()).
func NewLimits(cfg limits.Config) (*Limits, error) {
	e, err := limits.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Limits{e: e}, nil
}

// Reference feeds a reference price (from marketdata.ref.v1 or a file), as
// the router's feed does.
func (l *Limits) Reference(p domain.RefPrice) error {
	_, err := l.e.ApplyReference(p)
	return err
}

// Check implements PreTrade.
func (l *Limits) Check(o *domain.Order, part int32, now int64) Block {
	l.last = l.e.Check(o, part, now)
	if !l.last.Blocked {
		return Block{}
	}
	r := &l.last
	return Block{
		Blocked:   true,
		Scope:     domain.Scope(r.AppendScope(nil)),
		Limit:     r.LimitName(),
		Kind:      r.Kind.String(),
		Value:     r.Value,
		Threshold: r.Limit,
	}
}

// Allowed implements PreTrade: the order counts in the usage of its scopes.
func (l *Limits) Allowed() { l.e.Commit(&l.last) }
