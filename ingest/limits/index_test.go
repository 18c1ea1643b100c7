package limits

import (
	"fmt"
	"testing"
)

// The index finds every key it holds through growth and deletions, and
// nothing else.
func TestIndex(t *testing.T) {
	x := newIndex()
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
	// Ids that differ in one byte, at every length, and all short ids over
	// a small alphabet, hash apart.
	seen := make(map[ident]string)
	var all func(prefix []byte)
	all = func(prefix []byte) {
		if len(prefix) > 0 {
			id := x.hash(string(prefix))
			if prev, dup := seen[id]; dup {
				t.Fatalf("%q and %q share hashes", prev, prefix)
			}
			seen[id] = string(prefix)
		}
		if len(prefix) < 8 {
			for _, c := range []byte("ab01") {
				all(append(prefix, c))
			}
		}
	}
	all(nil)
	for n := 1; n <= 64; n++ {
		for pos := 0; pos < n; pos++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = 'b'
			id := x.hash(string(b))
			if prev, dup := seen[id]; dup && prev != string(b) {
				t.Fatalf("%q and %q share hashes", prev, b)
			}
			seen[id] = string(b)
		}
	}
}
