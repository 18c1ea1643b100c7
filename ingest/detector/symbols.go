package detector

import (
	"hash/maphash"
	"strings"
)

// Symbols are interned to dense ids (uint32 in every per-second entry and
// top-symbol count, instead of a 16-byte string). The table would otherwise
// keep every symbol ever seen, so once a minute the engine checks which
// symbols some key still holds and, when most are gone, renumbers the rest:
// its memory follows the symbols in the keys' windows.

const (
	// symCheckTicks is how many ticks (seconds) apart the symbol table is
	// checked.
	symCheckTicks = 60
	// symCheckMin is the table size under which it is never compacted.
	symCheckMin = 1024
)

// symID is the id of symbol s, whose hash (the symbol keys' hash) is h.
func (e *Engine) symID(s string, h uint64) uint32 {
	if id, ok := e.symIDs.get(h, s, e.symName); ok {
		return id
	}
	id := uint32(len(e.symName))
	// An Observation's strings may alias a Kafka record (the detector
	// decodes without copying); what the engine keeps, it copies.
	e.symName = append(e.symName, strings.Clone(s))
	e.symIDs.put(h, id)
	return id
}

// symTable finds symbol ids by the hash the engine finds symbol keys by, so
// that an order's symbol is hashed once for both: open addressing with
// linear probing over (hash, id) slots, at most half full. Nothing is
// deleted: compaction builds a new table.
type symTable struct {
	slots []symSlot // power-of-two length, or none
	n     int
}

// symSlot is one symbol: its hash and its id + 1 (0 when free).
type symSlot struct {
	h  uint64
	id uint32
}

// get returns the id of s, whose hash is h; names are the symbols by id.
func (t *symTable) get(h uint64, s string, names []string) (uint32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.id == 0 {
			return 0, false
		}
		if sl.h == h && names[sl.id-1] == s {
			return sl.id - 1, true
		}
	}
}

// put adds id under h; the symbol must not be held.
func (t *symTable) put(h uint64, id uint32) {
	if (t.n+1)*2 > len(t.slots) {
		old := t.slots
		t.slots, t.n = make([]symSlot, max(2*len(old), 64)), 0
		for _, sl := range old {
			if sl.id != 0 {
				t.put(sl.h, sl.id-1)
			}
		}
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].id != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = symSlot{h: h, id: id + 1}
	t.n++
}

// compactSymbols forgets the symbols no key holds and renumbers the others
// densely, when fewer than half the table is still held. A key holds a
// symbol through its per-second entries and its windows' top-symbol
// counts; its index of the newest second is rebuilt from the entries.
func (e *Engine) compactSymbols() {
	if len(e.symName) <= symCheckMin {
		return
	}
	held := make([]bool, len(e.symName))
	n := 0
	mark := func(s uint32) {
		if !held[s] {
			held[s] = true
			n++
		}
	}
	for _, k := range e.all {
		for i := range k.syms.len() {
			mark(k.syms.at(i).sym)
		}
		for w := range k.share {
			for _, c := range k.share[w].ents {
				mark(c.sym)
			}
		}
	}
	if 2*n > len(e.symName) {
		return
	}
	to := make([]uint32, len(e.symName))
	names := make([]string, 0, n)
	var ids symTable
	for old, h := range held {
		if h {
			to[old] = uint32(len(names))
			ids.put(maphash.String(e.seed, e.symName[old]), uint32(len(names)))
			names = append(names, e.symName[old])
		}
	}
	for _, k := range e.all {
		for i := range k.syms.len() {
			s := k.syms.at(i)
			s.sym = to[s.sym]
		}
		for w := range k.share {
			k.share[w].renumber(to)
		}
		if k.symIdxOn {
			k.reindexNewest()
		}
	}
	e.symIDs, e.symName = ids, names
}
