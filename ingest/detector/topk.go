package detector

// symCount is one symbol's order count.
type symCount struct {
	sym   uint32
	count uint32
}

// topSymbols keeps the per-symbol counts of one window sorted by count,
// largest first, so the most frequent symbol is always ents[0]. A count
// moves by one at a time, so an update only swaps the symbol with the first
// (increment) or last (decrement) symbol of equal count: O(log n) with a
// binary search, no allocation once the slice and index have grown.
type topSymbols struct {
	ents []symCount
	// idx maps symbol id to position+1 (0: absent) once there are more than
	// linearMax symbols; small windows (most accounts) scan instead. Symbol
	// ids are dense, so this is a slice as long as the symbols seen.
	idx []int32
}

const linearMax = 16

func (t *topSymbols) find(sym uint32) int {
	if t.idx != nil {
		if int(sym) < len(t.idx) {
			return int(t.idx[sym]) - 1
		}
		return -1
	}
	for i := range t.ents {
		if t.ents[i].sym == sym {
			return i
		}
	}
	return -1
}

func (t *topSymbols) swap(i, j int) {
	if i == j {
		return
	}
	t.ents[i], t.ents[j] = t.ents[j], t.ents[i]
	if t.idx != nil {
		t.idx[t.ents[i].sym] = int32(i + 1)
		t.idx[t.ents[j].sym] = int32(j + 1)
	}
}

func (t *topSymbols) inc(sym uint32) {
	i := t.find(sym)
	if i < 0 {
		t.ents = append(t.ents, symCount{sym: sym, count: 1})
		switch {
		case t.idx != nil:
			t.grow(sym)
			t.idx[sym] = int32(len(t.ents))
		case len(t.ents) > linearMax:
			for _, e := range t.ents {
				t.grow(e.sym)
			}
			for j, e := range t.ents {
				t.idx[e.sym] = int32(j + 1)
			}
		}
		return
	}
	c := t.ents[i].count
	if i == 0 || t.ents[i-1].count > c { // alone at its count: stays put
		t.ents[i].count++
		return
	}
	// leftmost position in [0, i] whose count is c: gallop left, then bisect
	lo, hi, step := i-1, i-1, 1
	for lo > 0 && t.ents[lo-1].count == c {
		hi = lo - 1
		lo = max(lo-step, 0)
		step *= 2
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.ents[m].count > c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	t.swap(i, lo)
	t.ents[lo].count++
}

func (t *topSymbols) dec(sym uint32) {
	i := t.find(sym)
	if i < 0 {
		return
	}
	c := t.ents[i].count
	n := len(t.ents)
	if i == n-1 || t.ents[i+1].count < c { // alone at its count: stays put
		t.ents[i].count--
		if t.ents[i].count == 0 {
			if t.idx != nil {
				t.idx[t.ents[i].sym] = 0
			}
			t.ents = t.ents[:i]
		}
		return
	}
	// rightmost position in [i, n) whose count is c: gallop right, then bisect
	lo, hi, step := i+1, i+2, 1
	for hi < n && t.ents[hi].count == c {
		lo = hi
		hi = min(hi+step, n)
		step *= 2
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.ents[m].count >= c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	j := lo - 1
	t.swap(i, j)
	t.ents[j].count--
	if t.ents[j].count == 0 { // counts are ≥ 1 elsewhere, so j is last
		if t.idx != nil {
			t.idx[t.ents[j].sym] = 0
		}
		t.ents = t.ents[:j]
	}
}

// top returns the most frequent symbol and its count; ok is false when the
// window holds no orders.
func (t *topSymbols) top() (sym, count uint32, ok bool) {
	if len(t.ents) == 0 {
		return 0, 0, false
	}
	return t.ents[0].sym, t.ents[0].count, true
}

// grow makes idx long enough to hold sym.
func (t *topSymbols) grow(sym uint32) {
	if int(sym) < len(t.idx) {
		return
	}
	t.idx = append(t.idx, make([]int32, int(sym)+1-len(t.idx)+len(t.idx)/2)...)
}

func (t *topSymbols) reset() {
	t.ents = t.ents[:0]
	clear(t.idx)
}

func (t *topSymbols) capBytes() int {
	return cap(t.ents)*8 + cap(t.idx)*4
}
