package idhash

import "testing"

// Ids that differ in one byte, at every length, and all short ids over a
// small alphabet, hash apart; the same id always hashes alike.
func TestSum(t *testing.T) {
	s := NewSeed()
	type sum struct{ place, check uint64 }
	seen := make(map[sum]string)
	add := func(id string) {
		p, c := s.Sum(id)
		if prev, dup := seen[sum{p, c}]; dup && prev != id {
			t.Fatalf("%q and %q share hashes", prev, id)
		}
		seen[sum{p, c}] = id
		if p2, c2 := s.Sum(string([]byte(id))); p2 != p || c2 != c {
			t.Fatalf("%q hashes differently twice", id)
		}
	}
	var all func(prefix []byte)
	all = func(prefix []byte) {
		add(string(prefix))
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
			add(string(b))
		}
	}
}

// Shifts moves a member into the hole exactly when the hole lies on its
// probe path from home, which a direct walk of the path decides too.
func TestShifts(t *testing.T) {
	const size = 8
	for i := range size {
		for j := range size {
			if i == j {
				continue
			}
			for home := range size {
				// Walking from home to j: does the path pass the hole i?
				passes := false
				for k := home; k != j; k = (k + 1) % size {
					if k == i {
						passes = true
					}
				}
				if got := Shifts(i, j, home); got != passes {
					t.Errorf("Shifts(%d, %d, %d) = %v, want %v", i, j, home, got, passes)
				}
			}
		}
	}
}
