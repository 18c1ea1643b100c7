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
	// idx maps symbol id to position once there are more than linearMax
	// symbols (nil until then); small windows (most accounts) scan instead. It
	// holds the window's symbols only, and is dropped again when they fall
	// to linearMin.
	// A pointer, so that a window's counts take half a cache line in the
	// key.
	idx *symIndex
}

const (
	// A scan of up to 32 counts (four cache lines, read in order) costs
	// less than keeping the index in step with every swap: an account's
	// minute often holds a symbol per order, some twenty.
	linearMax = 32
	linearMin = 16
	// minEntsCap is the capacity under which ents is never shrunk.
	minEntsCap = 64
)

func (t *topSymbols) find(sym uint32) int {
	if t.idx != nil {
		if i, ok := t.idx.get(sym); ok {
			return int(i)
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
		t.idx.set(t.ents[i].sym, int32(i))
		t.idx.set(t.ents[j].sym, int32(j))
	}
}

func (t *topSymbols) inc(sym uint32) {
	i := t.find(sym)
	if i < 0 {
		t.ents = append(t.ents, symCount{sym: sym, count: 1})
		switch {
		case t.idx != nil:
			t.idx.set(sym, int32(len(t.ents)-1))
		case len(t.ents) > linearMax:
			t.idx = new(symIndex)
			for j, e := range t.ents {
				t.idx.set(e.sym, int32(j))
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
	if c == 1 {
		// No count is below 1, so the last entry is the rightmost of
		// count 1, which the gallop below would find by reading every
		// count-1 entry (most of a window's symbols have one order).
		t.swap(i, n-1)
		t.removeLast()
		return
	}
	if i == n-1 || t.ents[i+1].count < c { // alone at its count: stays put
		t.ents[i].count--
		if t.ents[i].count == 0 {
			t.removeLast()
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
		t.removeLast()
	}
}

// removeLast drops the last entry, whose count fell to zero, and gives
// back memory the window no longer needs.
func (t *topSymbols) removeLast() {
	n := len(t.ents) - 1
	if t.idx != nil {
		t.idx.del(t.ents[n].sym)
		if n <= linearMin {
			t.idx = nil
		}
	}
	t.ents = t.ents[:n]
	if c := cap(t.ents); c > minEntsCap && n < c/4 {
		t.ents = append(make([]symCount, 0, c/2), t.ents...)
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

func (t *topSymbols) reset() {
	if cap(t.ents) > minEntsCap {
		t.ents = nil
	}
	t.ents = t.ents[:0]
	t.idx = nil
}

func (t *topSymbols) capBytes() int {
	if t.idx == nil {
		return cap(t.ents) * 8
	}
	return cap(t.ents)*8 + t.idx.capBytes()
}

// renumber rewrites the symbol ids after the engine compacted its symbols.
func (t *topSymbols) renumber(to []uint32) {
	for i := range t.ents {
		t.ents[i].sym = to[t.ents[i].sym]
	}
	if t.idx != nil {
		t.idx.reset()
		for j, e := range t.ents {
			t.idx.set(e.sym, int32(j))
		}
	}
}
