package detector

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The key index against a map, through random adds and removes, with few
// distinct hashes so that probe runs are long, wrap around the table and
// hold ids that share a hash.
func TestKeyIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, hashes := range []uint64{7, 300, 1 << 40} {
		var x keyIndex
		held := map[string]*key{}
		mk := func(id string) *key {
			k := &key{hash: rng.Uint64N(hashes) * 0x9E3779B97F4A7C15, idLen: uint8(len(id))}
			copy(k.idBuf[:], id)
			return k
		}
		for step := range 20_000 {
			id := fmt.Sprint("id", rng.IntN(400))
			if k, ok := held[id]; ok && rng.IntN(2) == 0 {
				x.remove(k)
				delete(held, id)
			} else if !ok {
				k = mk(id)
				x.put(k)
				held[id] = k
			}
			if step%97 == 0 {
				for id, k := range held {
					if got := x.get(k.hash, id); got != k {
						t.Fatalf("hashes %d step %d: get(%s) = %p, want %p", hashes, step, id, got, k)
					}
					if got := x.get(k.hash, id+"x"); got != nil {
						t.Fatalf("hashes %d step %d: get of an id never added found a key", hashes, step)
					}
				}
				if x.n != len(held) {
					t.Fatalf("hashes %d: %d keys held, want %d", hashes, x.n, len(held))
				}
			}
		}
	}
}
