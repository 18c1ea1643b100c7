package router

import (
	"testing"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// TestBreachGateCountsBlocks: the gate counts a scope's BLOCKs over the
// last minute, writes a record for the first of each second and for the
// one that makes EscalationBlocks, forgets seconds that left the window,
// and an aborted transaction takes its BLOCKs back.
func TestBreachGateCountsBlocks(t *testing.T) {
	g := newBreachGate()
	r := &limits.Result{ScopeType: domain.ScopeAccount, ScopeID: "A1"}
	type call struct {
		sec    int64
		record bool
		blocks int64
	}
	g.begin(1000)
	var got []call
	for range 12 {
		rec, n := g.allow(r, 1000)
		got = append(got, call{1000, rec, n})
	}
	want := map[int]call{0: {1000, true, 1}, 1: {1000, false, 2}, 9: {1000, true, 10}, 11: {1000, false, 12}}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("block %d: %+v, want %+v", i+1, got[i], w)
		}
	}

	g.begin(1030)
	if rec, n := g.allow(r, 1030); !rec || n != 13 {
		t.Errorf("30 s later: record %v blocks %d, want a record of 13", rec, n)
	}
	g.begin(1061)
	if rec, n := g.allow(r, 1061); !rec || n != 2 {
		t.Errorf("61 s after the burst: record %v blocks %d, want a record of 2 (the burst left the window)", rec, n)
	}

	g.begin(1062)
	g.allow(r, 1062)
	g.allow(r, 1062)
	g.rollback()
	if rec, n := g.allow(r, 1062); !rec || n != 3 {
		t.Errorf("after a rollback: record %v blocks %d, want the second's record again, of 3", rec, n)
	}

	g.begin(1200)
	if len(g.last) != 0 {
		t.Errorf("%d scopes kept after two idle minutes, want none", len(g.last))
	}
}
