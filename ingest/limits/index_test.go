package limits

import (
	"fmt"
	"testing"

	"github.com/riskgate/riskgate/ingest/idhash"
)

// The index finds every key it holds through growth and deletions, and
// nothing else.
func TestIndex(t *testing.T) {
	x := newIndex(idhash.Symbol)
	keys := make(map[string]*key)
	for i := range 50_000 {
		id := fmt.Sprint("ID", i, "-", i*7919%1000, "-padding-to-vary-the-length")
		id = id[:min(len(id), 4+i%40)]
		if keys[id] != nil {
			continue
		}
		k := &key{id: id}
		x.put(k)
		keys[id] = k
	}
	removed := 0
	for id := range keys {
		if removed%3 == 0 {
			x.remove(id)
			delete(keys, id)
		}
		removed++
	}
	if x.n != len(keys) {
		t.Fatalf("index holds %d keys, want %d", x.n, len(keys))
	}
	for id, k := range keys {
		if got := x.get(id); got != k {
			t.Fatalf("get(%q) = %p, want %p", id, got, k)
		}
	}
	for _, id := range []string{"", "a", "ID", "ID1-", "nothing-here-at-all", "ID0-0x"} {
		if k := keys[id]; x.get(id) != k {
			t.Errorf("get(%q) = %v, want %v", id, x.get(id), k)
		}
	}
}
