package detector

// symIndex maps symbol ids to int32 values. A key's symbol indexes used to
// be slices indexed by symbol id, as long as every symbol the engine had
// ever met: with 200,000 symbols, megabytes per quoting key. This one is
// sized to what it holds: open addressing with linear probing, at most 3/4
// full, and made smaller when it falls under 1/8 full, so its memory follows
// the symbols of the key's own windows.
type symIndex struct {
	slots []idxSlot // len is zero or a power of two
	n     int
	shift uint8 // 32 − log2(len(slots))
}

// idxSlot is one entry; key is the symbol id + 1, 0 when the slot is free.
type idxSlot struct {
	key uint32
	val int32
}

const minIndexSlots = 16

// home is the slot a symbol hashes to (Fibonacci hashing: the top bits of
// the product, so dense ids spread over the table).
func (x *symIndex) home(key uint32) int { return int((key * 0x9E3779B1) >> x.shift) }

func (x *symIndex) mask() int { return len(x.slots) - 1 }

// get returns the value of sym.
func (x *symIndex) get(sym uint32) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	key := sym + 1
	for i := x.home(key); ; i = (i + 1) & x.mask() {
		s := &x.slots[i]
		if s.key == key {
			return s.val, true
		}
		if s.key == 0 {
			return 0, false
		}
	}
}

// set inserts or updates sym.
func (x *symIndex) set(sym uint32, val int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(max(2*len(x.slots), minIndexSlots))
	}
	key := sym + 1
	for i := x.home(key); ; i = (i + 1) & x.mask() {
		s := &x.slots[i]
		if s.key == key {
			s.val = val
			return
		}
		if s.key == 0 {
			*s = idxSlot{key: key, val: val}
			x.n++
			return
		}
	}
}

// del removes sym, if present: the entries after it in its run move back
// so that every entry stays reachable from its home slot.
func (x *symIndex) del(sym uint32) {
	if x.n == 0 {
		return
	}
	key := sym + 1
	i := x.home(key)
	for ; x.slots[i].key != key; i = (i + 1) & x.mask() {
		if x.slots[i].key == 0 {
			return
		}
	}
	for j := (i + 1) & x.mask(); x.slots[j].key != 0; j = (j + 1) & x.mask() {
		// j's entry may fill the hole at i unless its home lies cyclically
		// in (i, j].
		if h := x.home(x.slots[j].key); (j-h)&x.mask() >= (j-i)&x.mask() {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = idxSlot{}
	x.n--
	if x.n*8 < len(x.slots) && len(x.slots) > minIndexSlots {
		x.resize(fitSlots(x.n))
	}
}

// fitSlots is the table size for n entries right after a resize: at most
// half full, so that it neither grows nor shrinks again soon.
func fitSlots(n int) int {
	size := minIndexSlots
	for size < 2*n {
		size <<= 1
	}
	return size
}

// reset empties the index; if it was mostly empty it shrinks too, so a key
// that once had many symbols does not keep the room for them.
func (x *symIndex) reset() {
	if x.n*8 < len(x.slots) && len(x.slots) > minIndexSlots {
		x.slots, x.n = nil, 0
		return
	}
	clear(x.slots)
	x.n = 0
}

func (x *symIndex) resize(size int) {
	old := x.slots
	x.slots, x.n = make([]idxSlot, size), 0
	x.shift = 32
	for s := size; s > 1; s >>= 1 {
		x.shift--
	}
	for _, s := range old {
		if s.key != 0 {
			x.set(s.key-1, s.val)
		}
	}
}

func (x *symIndex) capBytes() int { return len(x.slots) * 8 }
