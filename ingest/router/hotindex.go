package router

import "github.com/riskgate/riskgate/ingest/idhash"

// hotIndex finds the KILLED or THROTTLED scope of one type by its bare id,
// for the decision. It is an open-addressing table (linear probing,
// backward-shift deletion) of the ids' hashes with their entries; the check
// hash (idhash) sits in the entry's first cache line, which the decision
// reads anyway, so a lookup never reads the id. It replaces a
// map[string]*entry, whose lookups (runtime string hashing, a group probe,
// then the id's bytes compared elsewhere in memory) were most of a
// decision's instructions. The limits engine's index (ingest/limits) works
// the same way.
type hotIndex struct {
	slots []hotSlot // power-of-two length
	n     int
	seed  idhash.Seed
}

type hotSlot struct {
	h uint64
	e *hotEntry // nil: empty
}

func newHotIndex() hotIndex {
	return hotIndex{slots: make([]hotSlot, 16), seed: idhash.NewSeed()}
}

// find returns the slot holding the entry whose id hashes to h and check,
// or the empty slot where it belongs.
func (x *hotIndex) find(h, check uint64) int {
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.e == nil || s.h == h && s.e.check == check {
			return int(i)
		}
	}
}

// get returns the entry of id, or nil.
func (x *hotIndex) get(id string) *hotEntry {
	if x.n == 0 {
		return nil
	}
	return x.slots[x.find(x.seed.Sum(id))].e
}

// set makes e the entry of id, replacing the one held, and sets its check
// hash.
func (x *hotIndex) set(id string, e *hotEntry) {
	h, check := x.seed.Sum(id)
	e.check = check
	i := x.find(h, check)
	if x.slots[i].e != nil {
		x.slots[i].e = e
		return
	}
	x.slots[i] = hotSlot{h: h, e: e}
	x.n++
	if x.n*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]hotSlot, 2*len(old))
		for _, s := range old {
			if s.e != nil {
				x.slots[x.find(s.h, s.e.check)] = s
			}
		}
	}
}

// remove deletes the entry of id, if held.
func (x *hotIndex) remove(id string) {
	if x.n == 0 {
		return
	}
	i := x.find(x.seed.Sum(id))
	if x.slots[i].e == nil {
		return
	}
	// Backward-shift deletion: move later members of the probe run into
	// the hole unless their home slot lies cyclically in (hole, j].
	mask := len(x.slots) - 1
	for j := (i + 1) & mask; x.slots[j].e != nil; j = (j + 1) & mask {
		home := int(x.slots[j].h) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = hotSlot{}
	x.n--
}
