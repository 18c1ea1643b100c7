// How the candidate compares with what happened, scope by scope.

package replay

import (
	"slices"
	"strings"
	"time"
)

// compare says how the candidate's first breach compares with the actual
// one: the same order, an earlier or a later one, a kill that is new or
// that would not have happened.
func compare(cand, act *Outcome) Diff {
	c, a := cand.FirstBreach, act.FirstBreach
	switch {
	case c == nil && a == nil:
		return Diff{}
	case a == nil:
		return Diff{Kind: DiffNew}
	case c == nil && a.Source == "operator":
		return Diff{Kind: DiffOperator}
	case c == nil:
		return Diff{Kind: DiffGone}
	}
	by := c.TS.Sub(a.TS)
	switch {
	case c.OrderID != "" && c.OrderID == a.OrderID:
		return Diff{Kind: DiffSame, By: by}
	case by < 0:
		return Diff{Kind: DiffEarlier, By: by}
	case by > 0:
		return Diff{Kind: DiffLater, By: by}
	}
	return Diff{Kind: DiffOther}
}

// firstEvent is when something first happened to the scope, in the replay
// or in fact.
func (s *ScopeResult) firstEvent() time.Time {
	var t time.Time
	see := func(x time.Time) {
		if !x.IsZero() && (t.IsZero() || x.Before(t)) {
			t = x
		}
	}
	for _, o := range []*Outcome{&s.Candidate, s.Actual} {
		if o == nil {
			continue
		}
		if o.FirstBreach != nil {
			see(o.FirstBreach.TS)
		}
		if len(o.Intervals) > 0 {
			see(o.Intervals[0].From)
		}
	}
	return t
}

// sortScopes orders the scopes by their first event, scopes with none
// last, then by name.
func sortScopes(ss []ScopeResult) {
	slices.SortStableFunc(ss, func(a, b ScopeResult) int {
		ta, tb := a.firstEvent(), b.firstEvent()
		switch {
		case ta.IsZero() != tb.IsZero():
			if ta.IsZero() {
				return 1
			}
			return -1
		case !ta.Equal(tb):
			return ta.Compare(tb)
		}
		return strings.Compare(string(a.Scope), string(b.Scope))
	})
}

func totals(ss []ScopeResult) Totals {
	var t Totals
	for i := range ss {
		s := &ss[i]
		t.CandidateKills += s.Candidate.Kills
		t.CandidateDropped += s.Candidate.Dropped
		t.CandidateNotional += s.Candidate.DroppedNotional
		t.CandidateBlocked += s.Candidate.Blocked
		if s.Actual != nil {
			t.ActualKills += s.Actual.Kills
			t.ActualDropped += s.Actual.Dropped
			t.ActualBlocked += s.Actual.Blocked
		}
		switch s.Diff.Kind {
		case DiffNew:
			t.New++
		case DiffGone:
			t.Gone++
		case DiffEarlier:
			t.Earlier++
		case DiffLater:
			t.Later++
		}
	}
	return t
}
