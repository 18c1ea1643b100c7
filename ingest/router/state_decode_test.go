package router

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

var stateSeeds = []string{
	`{"scope":"ACCOUNT:12345","status":"KILLED","reason":"orders 150 \u003e 100 \u0026 rising","corr_id":"k\/2","version":7,"updated_by":"d\u00e9tector"}`,
	`{"scope":"ACCOUNT:12345","status":"KILLED","updated_ts":1700000000000,"updated_by":"detector","reason":"order count 150 > 100 in 1m","last_cmd_id":"c1","corr_id":"k1","version":3,"cooldown_until":1700000300000,"auto_unkill_enabled":true,"workflow_id":"killswitch/ACCOUNT:12345","run_id":"r","trigger":"detector"}`,
	`{"scope":"SYMBOL:AAPL","status":"THROTTLED","max_rate_per_second":10,"version":2,"corr_id":"t"}`,
	`{"scope":"SYMBOL:AAPL","status":"THROTTLED","max_rate_per_second":0,"version":2}`,
	`{"scope":"GLOBAL","status":"ACTIVE","version":9,"approvals":[{"operator":"a","ts":1}]}`,
	`{"scope":"STRATEGY:s-1","status":"KILLED","version":4,"offences":[1,2]}`,
	`{"scope":"bad scope","status":"KILLED","version":1}`,
	`{"scope":"ACCOUNT:1","status":"killed","version":1}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":0}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":1.5}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":1,"Version":2}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":1,"reason":"caf\u00e9"}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":1,"extra":"x","n":1,"b":true}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":1,"auto_unkill_enabled":"yes"}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":1,"reason":null}`,
	`{"scope":"ACCOUNT:1","status":"KILLED","version":1} x`,
	``, `{}`, `[]`,
}

// applyBoth feeds b to one table through ApplyStateRecord (falling back as
// the Follower does) and to another through DecodeState and ApplyState, and
// fails when they end up different.
func applyBoth(t *testing.T, fast, slow *Table, b []byte) {
	t.Helper()
	in := append([]byte(nil), b...)
	applied := fast.ApplyStateRecord(in)
	st, err := domain.DecodeState(b)
	if applied && err != nil {
		t.Fatalf("ApplyStateRecord took %q, which DecodeState rejects: %v", b, err)
	}
	if !applied && err == nil {
		fast.ApplyState(st)
	}
	if err == nil {
		slow.ApplyState(st)
	}
	// Whatever was kept must not alias the record.
	for i := range in {
		in[i] = 'X'
	}
	if f, s := dumpTable(fast), dumpTable(slow); f != s {
		t.Fatalf("after %q:\nApplyStateRecord: %s\nApplyState:       %s", b, f, s)
	}
}

func dumpTable(t *Table) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var all []entry
	if t.global != nil {
		all = append(all, *t.global)
	}
	for i := range t.byType {
		for id, e := range t.byType[i] {
			if id != e.scope.ID() {
				return fmt.Sprintf("key %q for %q", id, e.scope)
			}
			if h := t.hot[i].get(id); (h != nil) != (e.status != domain.StatusActive) || h != nil && h.entry != e {
				return fmt.Sprintf("hot index disagrees on %s", e.scope)
			}
			all = append(all, e)
		}
	}
	out := fmt.Sprintf("n=%d stale=%d", t.n, t.stale)
	for _, e := range sortedEntries(all) {
		out += fmt.Sprintf(" [%s %s v%d", e.scope, e.status, e.version)
		if e.hot != nil {
			out += fmt.Sprintf(" %+v", *e.hot)
		}
		out += "]"
	}
	return out
}

func sortedEntries(es []entry) []entry {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].scope < es[j-1].scope; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
	return es
}

func fixedClock() func() time.Time {
	at := time.Unix(1_700_000_000, 0)
	return func() time.Time { return at }
}

func TestApplyStateRecordMatchesApplyState(t *testing.T) {
	fast, slow := NewTable(fixedClock()), NewTable(fixedClock())
	for _, s := range stateSeeds {
		applyBoth(t, fast, slow, []byte(s))
	}
	// Versions: an older record is ignored on both paths; a newer one
	// replaces, and a THROTTLED scope keeps its bucket.
	for _, s := range []string{
		`{"scope":"ACCOUNT:12345","status":"ACTIVE","version":2}`,
		`{"scope":"ACCOUNT:12345","status":"ACTIVE","version":5}`,
		`{"scope":"SYMBOL:AAPL","status":"THROTTLED","max_rate_per_second":0.5,"version":3}`,
		`{"scope":"SYMBOL:AAPL","status":"KILLED","version":4}`,
	} {
		applyBoth(t, fast, slow, []byte(s))
	}
	if fast.Len() != 5 {
		t.Errorf("len = %d", fast.Len())
	}
}

func TestApplyStateRecordFastPath(t *testing.T) {
	tab := NewTable(nil)
	for i, s := range stateSeeds[:3] {
		if !tab.ApplyStateRecord([]byte(s)) && i < 2 {
			t.Errorf("seed %d not taken by the fast path", i)
		}
	}
	b := []byte(stateSeeds[0])
	if allocs := testing.AllocsPerRun(100, func() { tab.ApplyStateRecord(b) }); allocs != 0 {
		t.Errorf("a stale record allocates %v times, want 0", allocs)
	}
}

func FuzzApplyStateRecord(f *testing.F) {
	for _, s := range stateSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, slow := NewTable(fixedClock()), NewTable(fixedClock())
		seed := []byte(`{"scope":"ACCOUNT:12345","status":"THROTTLED","max_rate_per_second":3,"version":2}`)
		applyBoth(t, fast, slow, seed)
		applyBoth(t, fast, slow, b)
	})
}

func TestScanString(t *testing.T) {
	for _, tc := range []struct {
		in        string
		plain, ok bool
	}{
		{`"abc"`, true, true},
		{`"a > b \u003e c"`, false, true},
		{`"\"\\\/\b\f\n\r\t"`, false, true},
		{`"é"`, false, true},
		{`"\x"`, false, false},
		{`"\u12"`, false, false},
		{`"\u12g4"`, false, false},
		{"\"a\nb\"", false, false},
		{`"open`, false, false},
	} {
		end, plain, ok := scanString([]byte(tc.in), 0)
		if ok != tc.ok || ok && (plain != tc.plain || end != len(tc.in)) {
			t.Errorf("scanString(%s) = %d %v %v, want plain %v ok %v", tc.in, end, plain, ok, tc.plain, tc.ok)
		}
	}
}
