package replay

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/router"
	"github.com/riskgate/riskgate/workflows"
)

// Config configures a Replay.
type Config struct {
	// Rules are the candidate detector rules; the zero value means
	// detector.DefaultRules.
	Rules detector.Rules
	// Settings are the KillSwitch policy the kills follow (cooldown,
	// probation, doubling, pinning); zero fields take the workflow's
	// defaults.
	Settings workflows.Settings
	// NoKills reports breaches only: nothing is killed, nothing dropped.
	NoKills bool
	// PreTrade, when set, checks candidate pre-trade limits on every order
	// a kill does not drop.
	PreTrade PreTrade
	// OrderBounds are the largest qty and price an order may have, as the
	// router and the detector are configured; beyond them an order is bad.
	OrderBounds domain.OrderBounds
	// MaxBadListed is how many bad inputs the result lists (all are
	// counted). Default 10.
	MaxBadListed int
}

// Replay runs recorded orders, in event-time order, through the detector's
// engine with the candidate rules, a model of each scope's KillSwitch, and
// the router's decision table. Feed it with Order and Bad (or a source:
// ReadJSONL, ReadTopics), then call Finish. It is not safe for concurrent
// use.
type Replay struct {
	cfg    Config
	eng    *detector.Engine
	table  *router.Table
	policy *policy
	scopes map[domain.Scope]*ScopeResult
	// order is every scope in the order it first appeared.
	order []domain.Scope

	lateness int64
	// stream is each partition's newest order ts, against which lateness
	// is judged, as the detector judges it.
	stream map[int32]*int64
	// last is the newest ts of partition lastPart (nil before the first
	// order): orders come mostly from one partition, a file's always, and
	// the map is then not looked up per order.
	last     *int64
	lastPart int32
	// clock is the newest event time (ms); nextTick the next whole second
	// at which the engine's incidents are re-evaluated.
	clock, nextTick int64
	first           int64
	started         bool

	// curID and curTS are the order being evaluated, for the breach it
	// may cause (not a pointer to it: the order would escape to the heap).
	curID string
	curTS int64
	// checked is the order handed to PreTrade.
	checked domain.Order

	// actual, when set, is what happened over the same range.
	actual *Actual

	counts Counts
	bad    []BadInput
	start  time.Time
}

// New checks the configuration and returns a Replay.
func New(cfg Config) (*Replay, error) {
	if cfg.MaxBadListed <= 0 {
		cfg.MaxBadListed = 10
	}
	if err := cfg.OrderBounds.Validate(); err != nil {
		return nil, fmt.Errorf("order bounds: %w", err)
	}
	r := &Replay{cfg: cfg, scopes: map[domain.Scope]*ScopeResult{}, stream: map[int32]*int64{},
		start: time.Now()}
	r.table = router.NewTable(func() time.Time { return time.UnixMilli(r.clock) })
	r.policy = newPolicy(cfg.Settings, r.publish)
	var status detector.StatusFunc
	if !cfg.NoKills {
		status = r.policy.state
	}
	eng, err := detector.NewEngine(cfg.Rules, sink{r}, status)
	if err != nil {
		return nil, fmt.Errorf("candidate rules: %w", err)
	}
	r.eng = eng
	r.lateness = eng.Rules().Lateness.Milliseconds()
	return r, nil
}

// CompareWith sets what actually happened over the range, gathered before
// the orders are fed: the report then shows both side by side.
func (r *Replay) CompareWith(a *Actual) { r.actual = a }

// Rules are the candidate rules, defaults filled in.
func (r *Replay) Rules() detector.Rules { return r.eng.Rules() }

// Order replays one valid order read from orders.v1 partition part (any
// fixed number for a file). Its strings may alias a buffer that changes
// once Order returns.
func (r *Replay) Order(o *domain.Order, part int32) {
	ts := o.TS
	if !r.started {
		r.started, r.first = true, ts
		r.clock, r.nextTick = ts, (ts/1000+1)*1000
	} else if ts > r.clock {
		r.advance(ts)
	}
	r.counts.Orders++
	if r.actual != nil && len(r.actual.wanted) > 0 {
		r.actual.seeOrder(o)
	}

	// The router: REJECT → DUPLICATE → DROP → BLOCK → THROTTLE → ALLOW.
	// Every CANCEL is taken as one of an order the router allowed, which
	// passes any kill, throttle or limit.
	cancel := o.IsCancel()
	v := r.table.Decide(o, r.clock*int64(time.Millisecond), true)
	switch {
	case v.Decision == domain.DecisionDrop:
		c := &r.scope(v.Scope).Candidate
		c.Dropped++
		c.DroppedNotional += o.Notional()
	case r.cfg.PreTrade != nil && !cancel && r.preTrade(o, part):
	case v.Decision == domain.DecisionThrottle:
		c := &r.scope(v.Scope).Candidate
		c.Throttled++
		c.ThrottledNotional += o.Notional()
	case r.cfg.PreTrade != nil && !cancel:
		r.cfg.PreTrade.Allowed()
	}

	// The detector counts every NEW order it admits, whatever the router
	// decided: it reads orders.v1, not the gated orders.
	if cancel {
		r.counts.Cancels++
		return
	}
	if r.last == nil || part != r.lastPart {
		st := r.stream[part]
		if st == nil {
			st = new(int64)
			*st = ts
			r.stream[part] = st
		}
		r.last, r.lastPart = st, part
	}
	if ts < *r.last-r.lateness {
		r.counts.Late++
		return
	} else if ts > *r.last {
		*r.last = ts
	}
	// The observation aliases the input line: the engine copies what it
	// keeps.
	ob := detector.Observation{TS: ts, Notional: r.eng.OrderNotional(o.Qty, o.Price), Symbol: o.Symbol,
		Account: o.AccountID, Strategy: o.Strategy, OrderID: o.OrderID}
	r.curID, r.curTS = o.OrderID, o.TS
	r.eng.ObserveAll(&ob, part, true)
	r.curID = ""
}

// preTrade checks the order's limits; it reports whether they blocked it.
func (r *Replay) preTrade(o *domain.Order, part int32) bool {
	// A copy: o passed through an interface would escape, and every order
	// decoded would cost an allocation.
	r.checked = *o
	b := r.cfg.PreTrade.Check(&r.checked, part, r.clock)
	if !b.Blocked {
		return false
	}
	sr := r.scope(b.Scope)
	c := &sr.Candidate
	c.Blocked++
	c.BlockedNotional += o.Notional()
	if c.FirstBreach == nil {
		c.FirstBreach = &Breach{Source: "limit", Rule: strings.Clone(b.Limit), Metric: b.Kind, OrderID: strings.Clone(o.OrderID),
			TS: time.UnixMilli(o.TS), Value: b.Value, Threshold: b.Threshold, Action: ActionBlock}
	}
	return true
}

// ActionBlock is the action of a limit: the order is blocked.
const ActionBlock domain.Action = "BLOCK"

// Bad counts an input that is not a valid order; the first few are listed
// with where they were.
func (r *Replay) Bad(where string, err error) {
	r.counts.Bad++
	if len(r.bad) < r.cfg.MaxBadListed {
		r.bad = append(r.bad, BadInput{Where: where, Error: err.Error()})
	}
}

// advance moves event time to ts, running in time order what happens in
// between: each scope's timers (cooldowns, probation) and, every second,
// the engine's re-evaluation of open incidents (which finds scopes normal
// after their orders stopped) and eviction of idle keys.
func (r *Replay) advance(ts int64) {
	for {
		next := r.nextTick
		d := r.policy.nextDeadline()
		if d > 0 && d < next {
			next = d
		}
		if next > ts {
			break
		}
		r.clock = next
		if next == d {
			r.policy.fire(next)
			continue
		}
		r.tick(next)
		// Nothing is open and no timer is due before ts: skip the idle
		// seconds but one, which still evicts idle keys.
		if r.eng.Open() == 0 && (d == 0 || d > ts) && r.nextTick < ts/1000*1000 {
			r.nextTick = ts / 1000 * 1000
		}
	}
	r.clock = ts
}

func (r *Replay) tick(at int64) {
	r.eng.Tick(at, nil)
	r.nextTick = at + 1000
	if n := r.eng.Keys(); n > r.counts.KeysPeak {
		r.counts.KeysPeak = n
	}
}

// scope returns the scope's line of the report, adding it.
func (r *Replay) scope(s domain.Scope) *ScopeResult {
	sr := r.scopes[s]
	if sr == nil {
		s = domain.Scope(strings.Clone(string(s)))
		sr = &ScopeResult{Scope: s}
		r.scopes[s] = sr
		r.order = append(r.order, s)
	}
	return sr
}

// publish is the policy's publish: the router's table takes the new state
// from the next order on, and the scope's timeline gets it.
func (r *Replay) publish(inc *incident, _ domain.Action, _ domain.Trigger, now int64) {
	st := inc.st
	r.table.ApplyState(st)
	c := &r.scope(st.Scope).Candidate
	at := time.UnixMilli(now)
	if n := len(c.Intervals); n > 0 && c.Intervals[n-1].Ongoing {
		c.Intervals[n-1].To, c.Intervals[n-1].Ongoing = at, false
	}
	switch st.Status {
	case domain.StatusKilled:
		c.Kills++
	case domain.StatusThrottled:
		c.Throttles++
	default:
		return
	}
	c.Intervals = append(c.Intervals, Interval{Status: st.Status, From: at, Ongoing: true})
}

// sink receives the engine's decisions.
type sink struct{ r *Replay }

// Breach records the scope's first breach and, unless NoKills, hands it to
// the scope's KillSwitch.
func (s sink) Breach(sig domain.BreachSignal) {
	r := s.r
	sr := r.scope(sig.Scope)
	c := &sr.Candidate
	if c.FirstBreach == nil {
		c.FirstBreach = &Breach{Source: "rule", Rule: sig.Rule, Metric: sig.Metric, Window: sig.Window, Action: sig.Action,
			TS: time.UnixMilli(sig.TS), Value: sig.Value, Threshold: sig.Threshold}
		if c.FirstBreach.Action == "" {
			c.FirstBreach.Action = domain.ActionKill
		}
		if r.curID != "" {
			c.FirstBreach.OrderID, c.FirstBreach.TS = strings.Clone(r.curID), time.UnixMilli(r.curTS)
		}
	}
	// The engine resends a breach under its cmd_id while nothing shows it
	// handled: one incident.
	if sig.CmdID != sr.lastCmd {
		sr.lastCmd = sig.CmdID
		c.Incidents++
	}
	if !r.cfg.NoKills {
		r.policy.breach(sig, r.clock)
	}
}

// Normal hands the detector's normal to the scope's KillSwitch.
func (s sink) Normal(sig domain.NormalSignal) {
	if !s.r.cfg.NoKills {
		s.r.policy.normal(sig, s.r.clock)
	}
}

// Risk ignores risk signals: a replay reports breaches, not metrics.
func (sink) Risk(*domain.RiskSignal) {}

// IgnoresRisk tells the engine not to build the risk signals Risk drops.
func (sink) IgnoresRisk() bool { return true }

// Finish runs time on to end (Unix ms; 0 or earlier than the last order
// means the last order's time), closes what still holds, and returns the
// report.
func (r *Replay) Finish(end int64) *Result {
	actual := r.actual
	if end > r.clock {
		r.advance(end)
	}
	end = max(end, r.clock)
	res := &Result{NoKills: r.cfg.NoKills, Limits: r.cfg.PreTrade != nil, Counts: r.counts,
		BadInputs: slices.Clone(r.bad), From: time.UnixMilli(r.first), To: time.UnixMilli(end)}
	if res.BadInputs == nil {
		res.BadInputs = []BadInput{}
	}
	if !r.started {
		res.From = res.To
	}
	if n := r.eng.Keys(); n > res.Counts.KeysPeak {
		res.Counts.KeysPeak = n
	}
	for _, ru := range r.eng.Rules().Rules {
		res.Rules = append(res.Rules, ru.Name)
	}
	if !r.cfg.NoKills {
		res.Policy = settingsSummary(r.cfg.Settings)
	}
	at := time.UnixMilli(end)
	for _, s := range r.order {
		c := &r.scopes[s].Candidate
		if n := len(c.Intervals); n > 0 && c.Intervals[n-1].Ongoing {
			c.Intervals[n-1].To = at
		}
		if c.Intervals == nil {
			c.Intervals = []Interval{}
		}
	}
	if actual != nil {
		res.Actual = true
		// The state topic names every scope ever killed: list those that
		// breached, held a kill or decided an order within the range.
		for _, s := range actual.order {
			if a := actual.outcome(s, at); a.FirstBreach != nil || len(a.Intervals) > 0 || a.Dropped+a.Throttled+a.Blocked > 0 {
				r.scope(s)
			}
		}
	}
	for _, s := range r.order {
		sr := *r.scopes[s]
		if actual != nil {
			a := actual.outcome(s, at)
			sr.Actual = &a
			sr.Diff = compare(&sr.Candidate, sr.Actual)
		}
		res.Scopes = append(res.Scopes, sr)
	}
	sortScopes(res.Scopes)
	res.Totals = totals(res.Scopes)
	if res.Scopes == nil {
		res.Scopes = []ScopeResult{}
	}
	res.Elapsed = time.Since(r.start)
	return res
}
