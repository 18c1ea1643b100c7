package router

import (
	"hash/maphash"
	"unsafe"

	"github.com/riskgate/riskgate/ingest/idhash"
	"github.com/riskgate/riskgate/ingest/internal/prefetch"
)

// The dedup window remembers, per orders.v1 partition, every order identity
// (order_id, and whether it is a CANCEL, so a CANCEL that carries the id of
// the order it cancels is not a duplicate of it) decided within the window,
// and whether a NEW order was ALLOWed: only a CANCEL of such an order passes
// a kill or a throttle. Identities are held as 128-bit hashes so a check
// allocates nothing; the changelog carries the ids themselves, so a replay
// in another process (with other hash seeds) rebuilds the same set.

// dedupKey is the 128-bit hash of an order identity.
type dedupKey [2]uint64

// hasher hashes order identities with per-process random seeds.
type hasher struct{ a, b maphash.Seed }

func newHasher() hasher { return hasher{maphash.MakeSeed(), maphash.MakeSeed()} }

// cancelBit tells a CANCEL's identity from its order's.
const cancelBit = 0x9e3779b97f4a7c15

func (h hasher) key(id string, cancel bool) dedupKey {
	k := dedupKey{maphash.String(h.a, id), maphash.String(h.b, id)}
	if cancel {
		k[1] ^= cancelBit
	}
	return k
}

// cancelled is the identity of the NEW order a CANCEL's identity k cancels.
func cancelled(k dedupKey) dedupKey {
	k[1] ^= cancelBit
	return k
}

// stamp is when an identity was first seen (Unix ms), shifted left by one,
// with the low bit set when it is a NEW order that was ALLOWed. One int64
// keeps a slot at 24 bytes.
type stamp int64

func newStamp(ms int64, allowed bool) stamp {
	s := stamp(ms << 1)
	if allowed {
		s |= 1
	}
	return s
}

// ms is the Unix ms the identity was first seen.
func (s stamp) ms() int64 { return int64(s >> 1) }

// allowed reports a NEW order that was ALLOWed.
func (s stamp) allowed() bool { return s&1 != 0 }

type dedupItem struct {
	key  dedupKey
	seen stamp
}

// dedupSlot is a slot of the open-addressing set; the zero key marks an
// empty slot (hash keys are never zero, see fixKey).
type dedupSlot struct {
	key  dedupKey
	seen stamp
}

// dedupStore is one partition's window: an open-addressing hash set
// (linear probing, backward-shift deletion) of identities with their
// first-seen times, and a FIFO of insertions for expiry. A check costs one
// probe sequence, usually one cache line, where a Go map lookup followed by
// an insert costs two. Insertions since mark can be rolled back when the
// transaction that made them aborts.
type dedupStore struct {
	slots []dedupSlot // power-of-two length
	n     int
	queue []dedupItem
	head  int
	mark  int
}

const dedupInitialSlots = 1024

func newDedupStore() *dedupStore {
	return &dedupStore{slots: make([]dedupSlot, dedupInitialSlots)}
}

// fixKey keeps keys off the empty marker.
func fixKey(k dedupKey) dedupKey {
	if k == (dedupKey{}) {
		k[0] = 1
	}
	return k
}

// find returns the slot holding k, or the empty slot where it belongs.
func (s *dedupStore) find(k dedupKey) (int, bool) {
	mask := uint64(len(s.slots) - 1)
	for i := k[0] & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.key == k {
			return int(i), true
		}
		if sl.key == (dedupKey{}) {
			return int(i), false
		}
	}
}

// touch prefetches the home slot of each key (a key and the time next to
// it can sit in two cache lines), so that the cache misses of a batch of
// lookups overlap instead of each stalling the work after it.
func (s *dedupStore) touch(keys []dedupKey) {
	mask := uint64(len(s.slots) - 1)
	for _, k := range keys {
		sl := &s.slots[k[0]&mask]
		prefetch.Line(unsafe.Pointer(&sl.key))
		prefetch.Line(unsafe.Pointer(&sl.seen))
	}
}

// has reports whether k was seen at or after cutoff (Unix ms).
func (s *dedupStore) has(k dedupKey, cutoff int64) bool {
	k = fixKey(k)
	i, ok := s.find(k)
	return ok && s.slots[i].seen.ms() >= cutoff
}

// allowedNew reports whether k, a NEW order's identity, was ALLOWed at or
// after cutoff (Unix ms).
func (s *dedupStore) allowedNew(k dedupKey, cutoff int64) bool {
	k = fixKey(k)
	i, ok := s.find(k)
	return ok && s.slots[i].seen.ms() >= cutoff && s.slots[i].seen.allowed()
}

// dedupPos is where check found an identity's place; record fills it.
type dedupPos struct {
	key     dedupKey
	i       int
	present bool
}

// check reports whether k was seen at or after cutoff and, when it was not,
// where to record it. Nothing may be recorded between check and record.
func (s *dedupStore) check(k dedupKey, cutoff int64) (pos dedupPos, duplicate bool) {
	k = fixKey(k)
	i, ok := s.find(k)
	if ok && s.slots[i].seen.ms() >= cutoff {
		return dedupPos{}, true
	}
	return dedupPos{k, i, ok}, false
}

// record records the identity check placed at pos as seen at ms, and
// whether it was ALLOWed as a NEW order.
func (s *dedupStore) record(pos dedupPos, ms int64, allowed bool) {
	s.put(pos.i, pos.present, pos.key, newStamp(ms, allowed))
}

// add records k as seen at ms, and whether it was ALLOWed as a NEW order.
func (s *dedupStore) add(k dedupKey, ms int64, allowed bool) {
	k = fixKey(k)
	i, ok := s.find(k)
	s.put(i, ok, k, newStamp(ms, allowed))
}

func (s *dedupStore) put(i int, present bool, k dedupKey, seen stamp) {
	s.slots[i] = dedupSlot{k, seen}
	s.queue = append(s.queue, dedupItem{k, seen})
	if present {
		return
	}
	s.n++
	if s.n*4 > len(s.slots)*3 {
		s.grow()
	}
}

// grow doubles the set. It moves the members in groups whose new slots are
// touched first, since each lands at a random place in a table far larger
// than the caches.
func (s *dedupStore) grow() {
	old := s.slots
	s.slots = make([]dedupSlot, 2*len(old))
	var keys [64]dedupKey
	var group [64]dedupSlot
	n := 0
	move := func() {
		s.touch(keys[:n])
		for _, sl := range group[:n] {
			i, _ := s.find(sl.key)
			s.slots[i] = sl
		}
		n = 0
	}
	for _, sl := range old {
		if sl.key != (dedupKey{}) {
			keys[n], group[n] = sl.key, sl
			if n++; n == len(group) {
				move()
			}
		}
	}
	move()
}

// forget removes k if it is still recorded with the stamp seen.
func (s *dedupStore) forget(k dedupKey, seen stamp) {
	i, ok := s.find(k)
	if !ok || s.slots[i].seen != seen {
		return
	}
	// Backward-shift deletion: move later members of the probe run into
	// the hole unless their home slot lies cyclically in (hole, j].
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; s.slots[j].key != (dedupKey{}); j = (j + 1) & mask {
		home := int(s.slots[j].key[0]) & mask
		if idhash.Shifts(i, j, home) {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = dedupSlot{}
	s.n--
}

// expire forgets identities seen before cutoff and compacts the queue.
func (s *dedupStore) expire(cutoff int64) {
	for s.head < len(s.queue) && s.queue[s.head].seen.ms() < cutoff {
		it := s.queue[s.head]
		s.forget(it.key, it.seen)
		s.head++
	}
	if s.head > 0 && s.head >= len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.head = 0
	}
}

// begin marks the start of a transaction's insertions.
func (s *dedupStore) begin() { s.mark = len(s.queue) }

// rollback undoes the insertions since begin.
func (s *dedupStore) rollback() {
	for i := len(s.queue) - 1; i >= s.mark; i-- {
		it := s.queue[i]
		s.forget(it.key, it.seen)
	}
	clear(s.queue[s.mark:])
	s.queue = s.queue[:s.mark]
}

func (s *dedupStore) len() int { return s.n }
