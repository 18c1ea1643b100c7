package limits

import "github.com/riskgate/riskgate/ingest/idhash"

// index finds a scope's key by its id. It is an open-addressing table
// (linear probing, backward-shift deletion) of 64-bit hashes of the ids with
// their keys, four slots to a cache line. A slot's hash picks the candidate;
// a second 64-bit hash kept in the key's first cache line (which the check
// reads anyway) confirms it (see idhash).
type index struct {
	slots []slot // power-of-two length
	n     int
	seed  *idhash.Seed // the scope type's (idhash.ScopeSeed)
}

type slot struct {
	h uint64
	k *key // nil: empty
}

// newIndex returns an empty index of the ids of scope type typ (an idhash
// scope type), hashed with that type's seed, as the router's kill table
// hashes them: the router hashes an order's ids once for both.
func newIndex(typ int) index {
	return index{slots: make([]slot, 64), seed: idhash.ScopeSeed(typ)}
}

// home returns the slot where a probe for the id whose hashes are id
// starts.
func (x *index) home(id idhash.Hash) *slot { return &x.slots[id.Place&uint64(len(x.slots)-1)] }

// find returns the slot holding the key of id, or the empty slot where it
// belongs.
func (x *index) find(id idhash.Hash) int {
	mask := uint64(len(x.slots) - 1)
	for i := id.Place & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.k == nil || s.h == id.Place && s.k.check == id.Check {
			return int(i)
		}
	}
}

func (x *index) get(id string) *key { return x.at(x.seed.Hash(id)) }

// at returns the key of the id whose hashes are id, or nil.
func (x *index) at(id idhash.Hash) *key { return x.slots[x.find(id)].k }

// put adds k, which must not be held yet, and sets its check hash.
func (x *index) put(k *key) {
	id := x.seed.Hash(k.id)
	k.check = id.Check
	x.slots[x.find(id)] = slot{h: id.Place, k: k}
	x.n++
	if x.n*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]slot, 2*len(old))
		for _, s := range old {
			if s.k != nil {
				x.slots[x.find(idhash.Hash{Place: s.h, Check: s.k.check})] = s
			}
		}
	}
}

// remove deletes the key of id, if held.
func (x *index) remove(id string) {
	i := x.find(x.seed.Hash(id))
	if x.slots[i].k == nil {
		return
	}
	// Backward-shift deletion: move later members of the probe run into
	// the hole unless their home slot lies cyclically in (hole, j].
	mask := len(x.slots) - 1
	for j := (i + 1) & mask; x.slots[j].k != nil; j = (j + 1) & mask {
		home := int(x.slots[j].h) & mask
		if idhash.Shifts(i, j, home) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = slot{}
	x.n--
}

// each calls fn for every key held; fn must not add or remove keys.
func (x *index) each(fn func(*key)) {
	for i := range x.slots {
		if k := x.slots[i].k; k != nil {
			fn(k)
		}
	}
}

// keys returns every key held, for a caller that removes some.
func (x *index) keys() []*key {
	out := make([]*key, 0, x.n)
	x.each(func(k *key) { out = append(out, k) })
	return out
}
