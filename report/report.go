// Package report builds riskgate's daily regulatory report: every kill
// activation of a day with its scope, trigger, reason, duration and the
// orders dropped while it held, the day's totals, the orders blocked by each
// pre-trade limit and every change of limits (who, why, old → new), and
// every operator action with who and why — the record SEC Rule 15c3-5's annual review asks for.
//
// The report reads the audit index (index.Reader), so it works on the
// SQLite and the DynamoDB backends alike and never competes with the order
// path for Kafka: the index already holds the commands, every published
// state and every audit record, keyed for exactly these queries.
//
// Kill activations come from the state history: an activation starts when a
// scope's published state becomes KILLED and ends with its first state that
// is not. Scopes are found through the states in force at the start of the
// day (index.Reader.InForce), so a kill that began days before and still
// holds is listed with its start even when nothing happened to it that day;
// through the commands issued from one day before the report day
// (Lookback); and through the corr_id of each drop of the day, should the
// index lack any of those. An operator action is one row however often its
// publish was retried: one per cmd_id.
package report

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// Lookback is how long before the report day commands are read to find the
// scopes whose kills may reach into the day.
const Lookback = 24 * time.Hour

// maxCommands is the most commands one report reads (the index's largest
// page); Report.Truncated says when it was reached.
const maxCommands = 1000

// Kill is one kill activation: a scope KILLED from Start until End.
type Kill struct {
	Scope     domain.Scope     `json:"scope"`
	ScopeType domain.ScopeType `json:"scope_type"`
	Start     time.Time        `json:"start"`
	// End is when the scope left KILLED; zero while it still is.
	End time.Time `json:"end"`
	// Ongoing is true when the scope was still KILLED at the end of the day.
	Ongoing bool `json:"ongoing"`
	// StartedBefore is true when the kill started before the report day.
	StartedBefore bool           `json:"started_before"`
	Trigger       domain.Trigger `json:"trigger"`
	// By is who killed: the operator, or the detector or system.
	By     string `json:"by"`
	Reason string `json:"reason"`
	CorrID string `json:"corr_id"`
	// Duration is how long the kill held within the report day.
	Duration time.Duration `json:"duration"`
	// Drops counts the orders dropped within the day under this kill's
	// corr_id while it held.
	Drops int64 `json:"drops"`
}

// Action is one operator command.
type Action struct {
	TS       time.Time     `json:"ts"`
	Scope    domain.Scope  `json:"scope"`
	Action   domain.Action `json:"action"`
	Operator string        `json:"operator"`
	// Identity says whether the operator was verified (riskgate's API) or
	// only claimed (Temporal Web UI or CLI); empty for commands recorded
	// before it was.
	Identity domain.Identity `json:"identity,omitempty"`
	Reason   string          `json:"reason"`
	CmdID    string          `json:"cmd_id"`
	CorrID   string          `json:"corr_id"`
}

// Interval is a span of one status of a scope within the day, for the
// timeline.
type Interval struct {
	Status domain.Status `json:"status"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
}

// Lane is one scope's row of the timeline.
type Lane struct {
	Scope     domain.Scope `json:"scope"`
	Intervals []Interval   `json:"intervals"`
	Actions   []time.Time  `json:"actions"`
}

// Report is one day's regulatory report.
type Report struct {
	// Date is the day, YYYY-MM-DD, in Location.
	Date      string    `json:"date"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Generated time.Time `json:"generated"`
	// Kills lists the activations that held during the day, by start.
	Kills []Kill `json:"kills"`
	// TotalKills counts the activations that started during the day.
	TotalKills int `json:"total_kills"`
	// TotalDrops counts every DROP decision of the day.
	TotalDrops int64 `json:"total_drops"`
	// UnattributedDrops counts the day's drops under no reported kill.
	UnattributedDrops int64 `json:"unattributed_drops"`
	// DropsByHour counts the day's drops per hour.
	DropsByHour [24]int64 `json:"drops_by_hour"`
	// TotalBlocks counts every BLOCK decision of the day (pre-trade limits).
	TotalBlocks int64 `json:"total_blocks"`
	// Blocks counts the day's BLOCKs by limit and scope, most first.
	Blocks []Block `json:"blocks"`
	// LimitChanges lists the day's changes of pre-trade limits, oldest first.
	LimitChanges []LimitChange `json:"limit_changes"`
	// OperatorActions lists the operators' commands of the day, oldest first.
	OperatorActions []Action `json:"operator_actions"`
	Lanes           []Lane   `json:"lanes"`
	// Truncated is set when more commands existed than one report reads.
	Truncated bool `json:"truncated,omitempty"`
}

// Options configure Build.
type Options struct {
	// Location is the time zone of the day. Default UTC.
	Location *time.Location
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// ParseDate parses a YYYY-MM-DD day in loc (UTC when nil).
func ParseDate(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("report date %q: want YYYY-MM-DD", s)
	}
	return d, nil
}

// Build reads the day containing day from r and builds its report.
func Build(ctx context.Context, r index.Reader, day time.Time, o Options) (*Report, error) {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	y, m, d := day.In(loc).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, loc)
	to := from.AddDate(0, 0, 1)
	rep := &Report{Date: from.Format(time.DateOnly), From: from, To: to, Generated: now().In(loc),
		Kills: []Kill{}, OperatorActions: []Action{}, Lanes: []Lane{}, Blocks: []Block{}, LimitChanges: []LimitChange{}}
	end := to
	if n := now(); n.Before(end) {
		end = n // a report of today covers the day so far
	}
	b := &builder{r: r, rep: rep, loc: loc, end: end,
		actions: map[domain.Scope][]time.Time{}, done: map[domain.Scope]bool{}}

	cmds, err := r.Commands(ctx, index.CommandQuery{Since: from.Add(-Lookback).UnixMilli(), Limit: maxCommands})
	if err != nil {
		return nil, fmt.Errorf("report %s: read commands: %w", rep.Date, err)
	}
	rep.Truncated = len(cmds) >= maxCommands
	scopes := map[domain.Scope]bool{}
	applied := map[string]bool{}
	for i := len(cmds) - 1; i >= 0; i-- { // oldest first
		c := cmds[i]
		scopes[c.Scope] = true
		// A publish that was retried put its command on the topic again:
		// one action is one cmd_id.
		if c.CmdID != "" {
			if applied[c.CmdID] {
				continue
			}
			applied[c.CmdID] = true
		}
		ts := time.UnixMilli(c.TS).In(loc)
		if ts.Before(from) || !ts.Before(to) || c.TriggeredBy != domain.TriggerOperator {
			continue
		}
		rep.OperatorActions = append(rep.OperatorActions, Action{TS: ts, Scope: c.Scope, Action: c.Action,
			Operator: c.Operator, Identity: c.Identity, Reason: c.Reason, CmdID: c.CmdID, CorrID: c.CorrID})
		b.actions[c.Scope] = append(b.actions[c.Scope], ts)
	}

	// A kill in force when the day began, however long before it started.
	held, err := r.InForce(ctx, from.UnixMilli(), domain.StatusKilled)
	if err != nil {
		return nil, fmt.Errorf("report %s: read the kills in force at the start of the day: %w", rep.Date, err)
	}
	for _, st := range held {
		scopes[st.Scope] = true
	}

	for _, sc := range sortedScopes(scopes) {
		if err := b.addScope(ctx, sc); err != nil {
			return nil, err
		}
	}
	if err := b.countDrops(ctx); err != nil {
		return nil, err
	}
	if err := b.countBlocks(ctx); err != nil {
		return nil, err
	}
	if err := b.readLimitChanges(ctx); err != nil {
		return nil, err
	}
	sort.SliceStable(rep.Kills, func(i, j int) bool { return rep.Kills[i].Start.Before(rep.Kills[j].Start) })
	sort.SliceStable(rep.Lanes, func(i, j int) bool { return rep.Lanes[i].Scope < rep.Lanes[j].Scope })
	for _, k := range rep.Kills {
		if !k.StartedBefore {
			rep.TotalKills++
		}
	}
	return rep, nil
}

// builder gathers one report: the scopes it has read and what it found.
type builder struct {
	r       index.Reader
	rep     *Report
	loc     *time.Location
	end     time.Time
	actions map[domain.Scope][]time.Time
	done    map[domain.Scope]bool
}

// addScope reads a scope's state history once and adds its kills and its
// timeline lane to the report.
func (b *builder) addScope(ctx context.Context, sc domain.Scope) error {
	if b.done[sc] {
		return nil
	}
	b.done[sc] = true
	hist, err := b.r.States(ctx, sc, 1000)
	if err != nil {
		return fmt.Errorf("report %s: read states of %s: %w", b.rep.Date, sc, err)
	}
	kills, lane := scopeHistory(sc, hist, b.rep.From, b.end, b.loc)
	b.rep.Kills = append(b.rep.Kills, kills...)
	lane.Actions = b.actions[sc]
	if len(lane.Intervals) > 0 || len(lane.Actions) > 0 {
		b.rep.Lanes = append(b.rep.Lanes, lane)
	}
	return nil
}

func sortedScopes(m map[domain.Scope]bool) []domain.Scope {
	out := make([]domain.Scope, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// scopeHistory turns a scope's state history (newest first) into its kill
// activations overlapping [from, end) and its timeline lane.
func scopeHistory(sc domain.Scope, hist []domain.State, from, end time.Time, loc *time.Location) ([]Kill, Lane) {
	lane := Lane{Scope: sc, Intervals: []Interval{}}
	// Oldest first, one entry per version.
	states := make([]domain.State, 0, len(hist))
	for i := len(hist) - 1; i >= 0; i-- {
		if n := len(states); n > 0 && states[n-1].Version == hist[i].Version {
			continue
		}
		states = append(states, hist[i])
	}
	var kills []Kill
	var cur *Kill
	closeKill := func(at time.Time) {
		if cur == nil {
			return
		}
		cur.End = at
		kills = append(kills, *cur)
		cur = nil
	}
	for i, s := range states {
		at := time.UnixMilli(s.UpdatedTS).In(loc)
		next := end
		if i+1 < len(states) {
			next = time.UnixMilli(states[i+1].UpdatedTS).In(loc)
		}
		if s.Status != domain.StatusActive {
			if iv, ok := clip(at, next, from, end); ok {
				lane.Intervals = append(lane.Intervals, Interval{Status: s.Status, From: iv[0], To: iv[1]})
			}
		}
		switch {
		case s.Status == domain.StatusKilled && cur == nil:
			by := s.UpdatedBy
			if by == "" {
				by = string(s.Trigger)
			}
			cur = &Kill{Scope: sc, ScopeType: sc.Type(), Start: at, Trigger: s.Trigger, By: by,
				Reason: s.Reason, CorrID: s.CorrID}
		case s.Status != domain.StatusKilled && cur != nil:
			closeKill(at)
		}
	}
	if cur != nil {
		kills = append(kills, *cur)
	}
	var out []Kill
	for _, k := range kills {
		stop := k.End
		if stop.IsZero() {
			stop = end
		}
		iv, ok := clip(k.Start, stop, from, end)
		if !ok {
			continue
		}
		k.Ongoing = k.End.IsZero() || !k.End.Before(end)
		k.StartedBefore = k.Start.Before(from)
		k.Duration = iv[1].Sub(iv[0])
		out = append(out, k)
	}
	return out, lane
}

// clip intersects [a, b) with [from, end).
func clip(a, b, from, end time.Time) ([2]time.Time, bool) {
	if a.Before(from) {
		a = from
	}
	if b.After(end) {
		b = end
	}
	if !a.Before(b) {
		return [2]time.Time{}, false
	}
	return [2]time.Time{a, b}, true
}

// countDrops pages through the day's DROP records once: totals, per hour,
// and per kill (same corr_id and scope, within the kill's span). A drop
// under a kill not listed yet (one that began before the lookback and has
// had no command since) leads to its scope: through its corr_id's commands,
// else through the scopes the drop matched.
func (b *builder) countDrops(ctx context.Context) error {
	rep := b.rep
	q := index.AuditQuery{Decision: domain.DecisionDrop, Since: rep.From.UnixMilli(), Until: rep.To.UnixMilli(), Limit: 1000}
	byCorr := map[string][]int{}
	indexed := 0
	indexKills := func() {
		for ; indexed < len(rep.Kills); indexed++ {
			k := rep.Kills[indexed]
			byCorr[k.CorrID] = append(byCorr[k.CorrID], indexed)
		}
	}
	looked := map[string]bool{}
	for {
		page, err := b.r.Audit(ctx, q)
		if err != nil {
			return fmt.Errorf("report %s: read drops: %w", rep.Date, err)
		}
		for _, a := range page.Records {
			ts := time.UnixMilli(a.TS).In(b.loc)
			rep.TotalDrops++
			rep.DropsByHour[hourOf(ts, rep.From)]++
			indexKills()
			if _, ok := byCorr[a.CorrID]; !ok && a.CorrID != "" && !looked[a.CorrID] {
				looked[a.CorrID] = true
				if err := b.findKill(ctx, a); err != nil {
					return err
				}
				indexKills()
			}
			attributed := false
			for _, i := range byCorr[a.CorrID] {
				k := &rep.Kills[i]
				if ts.Before(k.Start) || (!k.End.IsZero() && !ts.Before(k.End)) {
					continue
				}
				k.Drops++
				attributed = true
				break
			}
			if !attributed {
				rep.UnattributedDrops++
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}

// findKill adds the scope whose kill dropped a, when the scopes read so far
// do not include it.
func (b *builder) findKill(ctx context.Context, a domain.AuditRecord) error {
	cmds, err := b.r.Commands(ctx, index.CommandQuery{CorrID: a.CorrID, Limit: 1})
	if err != nil {
		return fmt.Errorf("report %s: read commands of corr_id %s: %w", b.rep.Date, a.CorrID, err)
	}
	scopes := a.ScopeMatches
	if len(cmds) > 0 {
		scopes = []domain.Scope{cmds[0].Scope}
	}
	for _, sc := range scopes {
		if err := b.addScope(ctx, sc); err != nil {
			return err
		}
	}
	return nil
}

// hourOf is the hour of the day of ts, counted from the day's midnight so a
// day with a daylight-saving change still has 24 slots.
func hourOf(ts, from time.Time) int {
	h := int(ts.Sub(from) / time.Hour)
	return max(0, min(h, 23))
}
