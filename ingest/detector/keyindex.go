package detector

import "github.com/riskgate/riskgate/ingest/idhash"

// keyIndex finds a dimension's keys by the hash of their ids: open
// addressing with linear probing over (hash, key) slots, four to a cache
// line, and backward-shift deletion. A Go map keyed by the hash would hash
// it again and probe its groups for every order; here a lookup reads one
// slot, usually, and then the key it confirms. Keys whose ids share a hash
// take a slot each.
type keyIndex struct {
	slots []keySlot // power-of-two length, or none
	n     int
}

type keySlot struct {
	h uint64
	k *key // nil: empty
}

// get returns the key of id, whose hash is h, or nil.
func (x *keyIndex) get(h uint64, id string) *key {
	if len(x.slots) == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.k == nil {
			return nil
		}
		if s.h == h && s.k.is(id) {
			return s.k
		}
	}
}

// put adds k, which must not be held, under k.hash.
func (x *keyIndex) put(k *key) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	mask := uint64(len(x.slots) - 1)
	i := k.hash & mask
	for x.slots[i].k != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = keySlot{h: k.hash, k: k}
	x.n++
}

func (x *keyIndex) grow() {
	old := x.slots
	x.slots = make([]keySlot, max(2*len(old), 64))
	x.n = 0
	for _, s := range old {
		if s.k != nil {
			x.put(s.k)
		}
	}
}

// remove deletes k, if held.
func (x *keyIndex) remove(k *key) {
	if len(x.slots) == 0 {
		return
	}
	mask := len(x.slots) - 1
	i := int(k.hash) & mask
	for x.slots[i].k != k {
		if x.slots[i].k == nil {
			return
		}
		i = (i + 1) & mask
	}
	// Move later members of the probe run into the hole unless their home
	// slot lies cyclically in (hole, j].
	for j := (i + 1) & mask; x.slots[j].k != nil; j = (j + 1) & mask {
		home := int(x.slots[j].h) & mask
		if idhash.Shifts(i, j, home) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = keySlot{}
	x.n--
}
