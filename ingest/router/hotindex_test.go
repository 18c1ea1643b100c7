package router

import (
	"fmt"
	"testing"

	"github.com/riskgate/riskgate/ingest/idhash"
)

// The hot index finds every entry it holds through growth, replacement and
// deletions, and nothing else.
func TestHotIndex(t *testing.T) {
	x := newHotIndex(idhash.Symbol)
	want := make(map[string]*hotEntry)
	for i := range 20_000 {
		id := fmt.Sprint("ID", i, "-", i*7919%1000, "-padding-to-vary-the-length")
		id = id[:min(len(id), 1+i%40)]
		e := &hotEntry{}
		x.set(id, e) // a repeated id replaces its entry
		want[id] = e
	}
	removed := 0
	for id := range want {
		if removed%3 == 0 {
			x.remove(id)
			delete(want, id)
		}
		removed++
	}
	x.remove("not-held")
	if x.n != len(want) {
		t.Fatalf("index holds %d entries, want %d", x.n, len(want))
	}
	for id, e := range want {
		if got := x.get(id); got != e {
			t.Fatalf("get(%q) = %p, want %p", id, got, e)
		}
		// What the router looks up with: the order's ids hashed once
		// for the limits and the kill table.
		if got := x.at(idhash.OfScopes("A", id, "S")[idhash.Symbol]); got != e {
			t.Fatalf("at(OfScopes(%q)) = %p, want %p", id, got, e)
		}
	}
	for _, id := range []string{"", "ID", "ID1-", "nothing-here-at-all", "ID0-0x"} {
		if e := want[id]; x.get(id) != e {
			t.Errorf("get(%q) = %v, want %v", id, x.get(id), e)
		}
	}
	for id := range want {
		x.remove(id)
	}
	if x.n != 0 || x.get("ID1") != nil {
		t.Errorf("emptied index holds %d entries", x.n)
	}
}
