package detector

import "strings"

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

func (e *Engine) symID(s string) uint32 {
	if id, ok := e.symIDs[s]; ok {
		return id
	}
	id := uint32(len(e.symName))
	// An Observation's strings may alias a Kafka record (the detector
	// decodes without copying); what the engine keeps, it copies.
	s = strings.Clone(s)
	e.symIDs[s] = id
	e.symName = append(e.symName, s)
	return id
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
	ids := make(map[string]uint32, n)
	for old, h := range held {
		if h {
			to[old] = uint32(len(names))
			ids[e.symName[old]] = uint32(len(names))
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
