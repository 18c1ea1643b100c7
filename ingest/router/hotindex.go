package router

import (
	"math/bits"
	"unsafe"

	"github.com/riskgate/riskgate/ingest/idhash"
	"github.com/riskgate/riskgate/ingest/internal/prefetch"
)

// hotIndex finds the KILLED or THROTTLED scope of one type by its bare id,
// for the decision. It is an open-addressing table (linear probing,
// backward-shift deletion) of the ids' hashes with their entries; the check
// hash (idhash) sits in the entry's first cache line, which the decision
// reads anyway, so a lookup never reads the id. It replaces a
// map[string]*entry, whose lookups (runtime string hashing, a group probe,
// then the id's bytes compared elsewhere in memory) were most of a
// decision's instructions. The limits engine's index (ingest/limits) works
// the same way.
//
// Most orders' scopes are not KILLED or THROTTLED, and with thousands of
// such scopes the slots are out of the CPU caches, so a lookup passes a
// filter first: one bit per eight slots' worth of hashes (a Bloom filter
// with one hash, set for every id held, about a tenth of its bits set),
// small enough to stay in cache. A clear bit answers "not held" without
// reading the slots; a removal leaves its bit set (a set bit only costs the
// probe) until the filter is rebuilt.
type hotIndex struct {
	slots  []hotSlot // power-of-two length
	n      int
	seed   *idhash.Seed // the scope type's (idhash.ScopeSeed)
	filter []uint64     // 8 bits per slot
	shift  uint         // 64 - log2 of the filter's bits
	// stale counts the removals whose bits the filter still holds.
	stale int
}

type hotSlot struct {
	h uint64
	e *hotEntry // nil: empty
}

// newHotIndex returns an empty index of the ids of scope type typ (an
// idhash scope type), hashed with that type's seed as the limits engine
// hashes them: the router hashes an order's ids once for both.
func newHotIndex(typ int) hotIndex {
	x := hotIndex{seed: idhash.ScopeSeed(typ)}
	x.resize(16)
	return x
}

// resize rehashes the slots into size slots and rebuilds the filter.
func (x *hotIndex) resize(size int) {
	old := x.slots
	x.slots = make([]hotSlot, size)
	x.filter = make([]uint64, size/8)
	x.shift = uint(64 - bits.TrailingZeros(uint(size*8)))
	x.stale = 0
	for _, s := range old {
		if s.e != nil {
			x.slots[x.find(s.h, s.e.check)] = s
			x.mark(s.h)
		}
	}
}

// mark sets the filter's bit of place hash h; held reports it.
func (x *hotIndex) mark(h uint64) { b := h >> x.shift; x.filter[b/64] |= 1 << (b % 64) }

func (x *hotIndex) held(h uint64) bool { b := h >> x.shift; return x.filter[b/64]&(1<<(b%64)) != 0 }

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
	return x.at(x.seed.Hash(id))
}

// home returns the slot where a lookup of the id whose hashes are id
// starts, or nil when the filter says the id is not held.
func (x *hotIndex) home(id idhash.Hash) *hotSlot {
	if x.n == 0 || !x.held(id.Place) {
		return nil
	}
	return &x.slots[id.Place&uint64(len(x.slots)-1)]
}

// at returns the entry of the id whose hashes are id, or nil.
func (x *hotIndex) at(id idhash.Hash) *hotEntry {
	if x.n == 0 || !x.held(id.Place) { // home's test, without the slot's address
		return nil
	}
	return x.slots[x.find(id.Place, id.Check)].e
}

// prefetchSlot prefetches the home slot of the id whose hashes are id, if
// the filter says it may be held.
func (x *hotIndex) prefetchSlot(id idhash.Hash) {
	if s := x.home(id); s != nil {
		prefetch.Line(unsafe.Pointer(s))
	}
}

// prefetchEntry prefetches the entry in the home slot of the id whose
// hashes are id (the id's, but for a collision of place hashes), if the
// filter says it may be held: every line of it, since a decision reads its
// status, reasons and token bucket, and an entry need not start on a line.
func (x *hotIndex) prefetchEntry(id idhash.Hash) {
	s := x.home(id)
	if s == nil || s.e == nil {
		return
	}
	e := s.e
	p := unsafe.Pointer(e)
	for off := uintptr(0); off < unsafe.Sizeof(*e); off += prefetch.LineSize {
		prefetch.Line(unsafe.Add(p, off))
	}
	prefetch.Line(unsafe.Add(p, unsafe.Sizeof(*e)-1))
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
	x.mark(h)
	x.n++
	if x.n*4 > len(x.slots)*3 {
		x.resize(2 * len(x.slots))
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
		if idhash.Shifts(i, j, home) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = hotSlot{}
	x.n--
	// Rebuilt once the stale bits could be as many as the live ones.
	if x.stale++; x.stale > x.n {
		x.resize(len(x.slots))
	}
}
