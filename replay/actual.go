// What actually happened over the replayed range: kills from
// killswitch.commands.v1 and killswitch.state.v1, decisions from audit.v1.

package replay

import (
	"slices"
	"strings"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// Actual gathers what happened to each scope between From and To. Feed it
// the range's commands, the state records and the audit records; the
// replay then finds the order each detector kill fired on (its corr_id
// names it) as it passes, for that order's ts.
type Actual struct {
	from, to int64
	byScope  map[domain.Scope]*actualScope
	order    []domain.Scope
	// Unreadable counts records of the topics that did not decode.
	Unreadable int

	// wanted maps the order ids the detector's kills fired on to their
	// scopes' first breach, whose TS the order's ts replaces.
	wanted map[string]*Breach
}

type actualScope struct {
	points []statePoint
	first  *Breach
	cmds   map[string]bool
	out    Outcome
}

// statePoint is one published state of a scope.
type statePoint struct {
	version int64
	ts      int64
	status  domain.Status
}

// NewActual gathers what happened in [from, to).
func NewActual(from, to time.Time) *Actual {
	return &Actual{from: from.UnixMilli(), to: to.UnixMilli(), byScope: map[domain.Scope]*actualScope{},
		wanted: map[string]*Breach{}}
}

func (a *Actual) scope(s domain.Scope) *actualScope {
	as := a.byScope[s]
	if as == nil {
		as = &actualScope{cmds: map[string]bool{}}
		a.byScope[s] = as
		a.order = append(a.order, s)
	}
	return as
}

// AddCommand takes one record of killswitch.commands.v1. A command
// published twice (a retried publish) counts once, by cmd_id.
func (a *Actual) AddCommand(c domain.Command) {
	if c.TS >= a.to {
		return
	}
	var status domain.Status
	switch c.Action {
	case domain.ActionKill:
		status = domain.StatusKilled
	case domain.ActionThrottle:
		status = domain.StatusThrottled
	case domain.ActionUnkill:
		status = domain.StatusActive
	default:
		return // EXTEND, PIN, UNPIN keep the status
	}
	as := a.scope(c.Scope)
	if c.CmdID != "" {
		if as.cmds[c.CmdID] {
			return
		}
		as.cmds[c.CmdID] = true
	}
	as.points = append(as.points, statePoint{version: c.StateVersion, ts: c.TS, status: status})
	if c.TS < a.from || status == domain.StatusActive || c.TriggeredBy == domain.TriggerSystem {
		return // a probation is not a breach
	}
	if c.TriggeredBy == domain.TriggerDetector {
		as.out.Incidents++
	}
	if as.first != nil {
		return
	}
	b := &Breach{Source: "rule", Metric: c.Metric, Window: c.Window, Action: c.Action, TS: time.UnixMilli(c.TS),
		Value: c.Value, Threshold: c.Threshold, By: string(c.TriggeredBy), Rule: ruleOf(c.Reason)}
	if c.TriggeredBy != domain.TriggerDetector {
		b.Source, b.Rule = string(c.TriggeredBy), ""
		if c.Operator != "" {
			b.By = c.Operator
		}
	}
	// The detector names an incident after the order that crossed the
	// line: corr_id det:<scope>:<order_id>.
	if id, ok := strings.CutPrefix(c.CorrID, "det:"+string(c.Scope)+":"); ok && c.TriggeredBy == domain.TriggerDetector {
		b.OrderID = id
		a.wanted[id] = b
	}
	as.first = b
}

// ruleOf reads the rule's name from a detector breach's reason
// ("account_count_1m: count 101 > 100 over 1m at order …").
func ruleOf(reason string) string {
	name, _, ok := strings.Cut(reason, ": ")
	if !ok || strings.ContainsAny(name, " \t") {
		return ""
	}
	return name
}

// AddState takes one record of killswitch.state.v1: together with the
// commands it gives each scope's status over time, and the status at the
// start of the range of a kill older than it.
func (a *Actual) AddState(st domain.State) {
	if st.UpdatedTS >= a.to || !st.Status.Valid() {
		return
	}
	as := a.scope(st.Scope)
	as.points = append(as.points, statePoint{version: st.Version, ts: st.UpdatedTS, status: st.Status})
}

// AddAudit takes one record of audit.v1: the range's DROPs, THROTTLEs and
// BLOCKs are counted for the scope that decided them.
func (a *Actual) AddAudit(r *domain.AuditRecord) {
	ts := r.OrderTS
	if ts == 0 {
		ts = r.TS
	}
	if ts < a.from || ts >= a.to {
		return
	}
	var n *int64
	switch r.Decision {
	case domain.DecisionDrop, domain.DecisionThrottle, decisionBlock:
	default:
		return
	}
	s := decidingScope(r)
	if s == "" {
		return
	}
	out := &a.scope(s).out
	switch r.Decision {
	case domain.DecisionDrop:
		n = &out.Dropped
	case domain.DecisionThrottle:
		n = &out.Throttled
	default:
		n = &out.Blocked
	}
	*n++
}

// decisionBlock is the router's decision for an order a pre-trade limit
// stops (DESIGN §9).
const decisionBlock domain.Decision = "BLOCK"

// decidingScope is the scope named at the start of a decision's reason
// ("ACCOUNT:12345 KILLED: …", "SYMBOL:AAPL max_orders=…"), else the most
// general scope the order matched.
func decidingScope(r *domain.AuditRecord) domain.Scope {
	first, _, _ := strings.Cut(r.Reason, " ")
	if s, err := domain.ParseScope(first); err == nil {
		return s
	}
	if len(r.ScopeMatches) > 0 {
		return r.ScopeMatches[0]
	}
	return ""
}

// seeOrder gives the detector kill that fired on o its order's ts.
func (a *Actual) seeOrder(o *domain.Order) {
	if b := a.wanted[o.OrderID]; b != nil {
		b.TS = time.UnixMilli(o.TS)
		delete(a.wanted, o.OrderID)
	}
}

// outcome is what happened to s, its timeline up to end.
func (a *Actual) outcome(s domain.Scope, end time.Time) Outcome {
	as := a.byScope[s]
	if as == nil {
		return Outcome{Intervals: []Interval{}}
	}
	out := as.out
	out.FirstBreach = as.first
	out.Intervals = []Interval{}
	pts := slices.Clone(as.points)
	slices.SortStableFunc(pts, func(x, y statePoint) int {
		switch {
		case x.version != y.version:
			return cmpInt(x.version, y.version)
		default:
			return cmpInt(x.ts, y.ts)
		}
	})
	pts = slices.CompactFunc(pts, func(x, y statePoint) bool { return x.version == y.version && x.version != 0 })
	cur := domain.StatusActive
	from := a.from
	for _, p := range pts {
		if p.status == cur {
			continue
		}
		at := max(p.ts, from)
		if n := len(out.Intervals); n > 0 && out.Intervals[n-1].Ongoing {
			out.Intervals[n-1].To, out.Intervals[n-1].Ongoing = time.UnixMilli(at), false
		}
		cur = p.status
		switch cur {
		case domain.StatusKilled:
			if p.ts >= from {
				out.Kills++
			}
		case domain.StatusThrottled:
			if p.ts >= from {
				out.Throttles++
			}
		default:
			continue
		}
		out.Intervals = append(out.Intervals, Interval{Status: cur, From: time.UnixMilli(at), Ongoing: true})
	}
	if n := len(out.Intervals); n > 0 && out.Intervals[n-1].Ongoing {
		out.Intervals[n-1].To = end
	}
	// Intervals that ended before the range are not part of it.
	out.Intervals = slices.DeleteFunc(out.Intervals, func(iv Interval) bool {
		return !iv.Ongoing && !iv.To.After(time.UnixMilli(from))
	})
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
