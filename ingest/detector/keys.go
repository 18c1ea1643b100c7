// Keys: looking a scope's key up, creating, evicting and measuring it.

package detector

import (
	"hash/maphash"
	"unsafe"

	"github.com/riskgate/riskgate/domain"
)

// key is everything held for one scope: its 1-second buckets over the
// longest window, running sums per window, symbol counts where a share is
// tracked, per-minute counts where a z-score is, and its incident.
type key struct {
	// Fields are ordered by use: what every order reads comes first, in as
	// few cache lines as possible; with many cold keys each line is a miss.
	// The id is held inline and found by hash, so that finding a key reads
	// the key's own memory and nothing else. The eviction sweep reads
	// lastOrder and inc.open, both in the first line.
	hash      uint64
	clock     int64 // newest event time seen or advanced to, ms
	clockSec  int64 // clock / 1000
	lastOrder int64 // newest order ts, ms, for eviction
	idLen     uint8
	dim       dim
	started   bool
	symIdxOn  bool
	part      int32
	inc       incident
	idBuf     [domain.MaxIDLen]byte
	buckets   ring[bucket]
	syms      ring[symEntry]
	// symsDropped counts entries ever dropped from the front of syms, so
	// that symIdx can hold positions that survive drops.
	symsDropped uint32
	// symEpoch changes whenever an entry is inserted before others (a late
	// order), which moves positions and so invalidates symIdx.
	symEpoch  uint32
	symIdxTag uint64
	mins      minutes // slot is nil unless the dimension has a zscore rule
	// A dimension's windows are the first of win and share: the rest, the
	// next lines, are not read.
	win   [MaxWindowsPerDimension]winSums
	share [MaxWindowsPerDimension]topSymbols // where the window tracks symbols

	// Read per order only by the risk signals, which a replay skips.
	lastRisk int64 // second of the last risk signal
	late     int64
	clamped  int64
	scope    domain.Scope
	// symIdx finds the entry of (newest second, symbol) without scanning
	// the second's entries: the absolute position of each symbol's entry
	// for the second in symIdxTag (epoch<<32 | second). It is built
	// (symIdxOn) only for keys with many symbols per second.
	symIdx   symIndex
	slot     int   // position in Engine.all
	openSlot int   // position in Engine.open, -1 when no incident is open
	adopted  int64 // state version adopted without a detector breach
}

func (k *key) is(id string) bool {
	return int(k.idLen) == len(id) && string(k.idBuf[:k.idLen]) == id
}

// hash is the hash dimension d's key id is found by.
func (e *Engine) hash(d dim, id string) uint64 {
	if d == dimGlobal {
		return 0
	}
	return maphash.String(e.seed, id)
}

func (e *Engine) lookup(d dim, id string, part int32, create bool) *key {
	return e.lookupHashed(d, id, e.hash(d, id), part, create)
}

// lookupHashed is lookup with the id's hash (Engine.hash) already known.
func (e *Engine) lookupHashed(d dim, id string, h uint64, part int32, create bool) *key {
	if d == dimGlobal {
		if e.global == nil && create {
			e.global = e.newKey(d, "", 0, part)
		}
		return e.global
	}
	if k := e.keys[d].get(h, id); k != nil {
		return k
	}
	if !create || len(id) > domain.MaxIDLen {
		return nil
	}
	k := e.newKey(d, id, h, part)
	e.keys[d].put(k)
	return k
}

func (e *Engine) newKey(d dim, id string, h uint64, part int32) *key {
	var k *key
	if n := len(e.free); n > 0 {
		k = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		k = new(key)
	}
	dc := &e.dims[d]
	k.dim, k.part, k.hash = d, part, h
	k.idLen = uint8(copy(k.idBuf[:], id))
	if d == dimGlobal {
		k.scope = domain.Global
	} else {
		k.scope = domain.Scope(string(dimTypes[d]) + ":" + id)
	}
	k.win = [MaxWindowsPerDimension]winSums{}
	for w := range k.win {
		k.win[w].bNext, k.win[w].sNext = noHead, noHead
	}
	for i := range k.share {
		k.share[i].reset()
	}
	if dc.zscore {
		if k.mins.slot == nil {
			k.mins = minutes{slot: new([HistoryMinutes + 1]minuteSlot)}
		} else {
			k.mins = minutes{slot: k.mins.slot}
			*k.mins.slot = [HistoryMinutes + 1]minuteSlot{}
		}
	} else {
		k.mins = minutes{}
	}
	k.slot = len(e.all)
	k.openSlot = -1
	e.all = append(e.all, k)
	return k
}

func (e *Engine) removeKey(k *key) {
	if k.dim == dimGlobal {
		e.global = nil
	} else {
		e.keys[k.dim].remove(k)
	}
	e.setClosed(k)
	last := e.all[len(e.all)-1]
	e.all[k.slot] = last
	last.slot = k.slot
	e.all = e.all[:len(e.all)-1]
	k.buckets.reset()
	k.syms.reset()
	k.symsDropped, k.symEpoch = 0, 0
	k.symIdx, k.symIdxTag, k.symIdxOn = symIndex{}, 0, false
	k.clock, k.clockSec, k.lastOrder, k.started = 0, 0, 0, false
	k.inc = incident{}
	k.adopted, k.lastRisk, k.late, k.clamped = 0, 0, 0, 0
	if len(e.free) < maxFree {
		e.free = append(e.free, k)
	}
}

// DropPartition forgets every key owned through partition part of the
// orders topic (account keys, repartition false) or of the repartition
// topic (the other dimensions), after the partition moved to another
// instance.
func (e *Engine) DropPartition(part int32, repartition bool) {
	for i := len(e.all) - 1; i >= 0; i-- {
		k := e.all[i]
		if k.part == part && (k.dim != dimAccount) == repartition {
			e.removeKey(k)
		}
	}
}

// evictSweep is how many ticks a full eviction sweep over the keys takes.
const evictSweep = 64

func (e *Engine) evict(now int64) {
	n := min(max(256, len(e.all)/evictSweep), len(e.all))
	for range n {
		if len(e.all) == 0 {
			return
		}
		if e.evictAt >= len(e.all) {
			e.evictAt = 0
		}
		k := e.all[e.evictAt]
		if !k.inc.open && now-k.lastOrder > e.idleAfter {
			e.removeKey(k)
			e.stats.Evicted++
			continue // the slot now holds another key
		}
		e.evictAt++
	}
}

// KeyBytes estimates the memory the keys hold now, for the keys-held and
// bytes-per-key figures.
func (e *Engine) KeyBytes() (keys int, bytes int64) {
	for _, k := range e.all {
		bytes += k.bytes()
	}
	return len(e.all), bytes
}

// bytes estimates the memory one key holds.
func (k *key) bytes() int64 {
	b := int64(unsafe.Sizeof(key{})) + int64(len(k.scope))
	b += int64(k.buckets.capBytes(int(unsafe.Sizeof(bucket{}))))
	b += int64(k.syms.capBytes(int(unsafe.Sizeof(symEntry{}))))
	b += int64(k.symIdx.capBytes())
	for i := range k.share {
		b += int64(k.share[i].capBytes())
	}
	if k.mins.slot != nil {
		b += int64(unsafe.Sizeof(*k.mins.slot))
	}
	return b
}
