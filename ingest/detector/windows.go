// The sliding windows: each key's 1-second buckets over its longest window,
// the running sums per window, and the symbol counts that a share rule reads.

package detector

import (
	"math"
)

// dimConfig is what the rules ask of one dimension.
type dimConfig struct {
	windows []int64 // distinct window lengths, seconds, ascending
	share   []bool  // per window: keep exact symbol counts
	// shareWins are the windows whose share is kept, ascending.
	shareWins []int
	zscore    bool
	horizon   int64 // longest window, seconds
	// lastShare is the longest window that tracks symbols, or -1.
	lastShare int
	// zMinOrders is the smallest min_orders of the zscore rules: below it a
	// risk signal carries no z-score.
	zMinOrders int64
	rules      []compiledRule
	// checks are the rules, in the same order, as evaluate reads them.
	checks []ruleCheck
}

// bucket is one second of one key.
type bucket struct {
	sec      uint32
	count    uint32
	notional int64
}

// symEntry is one symbol's order count within one second of one key.
type symEntry struct {
	sec   uint32
	sym   uint32
	count uint32
}

// symIdxMin is how many entries one second must have before a key builds
// its symbol index.
const symIdxMin = 8

// winSums are a window's running totals and where the window starts in
// the key's bucket and symbol rings. bNext and sNext cache the second of
// the first bucket and symbol entry inside the window (noHead when there is
// none), so that nothing expires without touching the rings.
type winSums struct {
	count    int64
	notional int64
	bStart   int32
	sStart   int32
	bNext    uint32
	sNext    uint32
}

const noHead = math.MaxUint32

// MaxWindowsPerDimension bounds the distinct windows the rules of one
// dimension may use; their sums live inline in every key.
const MaxWindowsPerDimension = 6

// advance moves the key's clock to ts, expiring what falls out of each window.
func (e *Engine) advance(k *key, dc *dimConfig, ts int64) {
	e.advanceSec(k, dc, ts, ts/1000)
}

// advanceSec is advance with ts's second, newSec = ts/1000, already known.
func (e *Engine) advanceSec(k *key, dc *dimConfig, ts, newSec int64) {
	if !k.started {
		k.clock, k.clockSec, k.started = ts, newSec, true
		if k.mins.slot != nil {
			k.mins.first, k.mins.cur = ts/60000, ts/60000
		}
		return
	}
	if ts <= k.clock {
		return
	}
	oldSec := k.clockSec
	k.clock, k.clockSec = ts, newSec
	if newSec == oldSec {
		return
	}
	for w, W := range dc.windows {
		newCut := newSec - W
		sums := &k.win[w]
		if int64(sums.bNext) <= newCut {
			i, n := int(sums.bStart), k.buckets.len()
			wasSat := saturated(sums.notional)
			for ; i < n; i++ {
				b := k.buckets.at(i)
				if int64(b.sec) > newCut {
					break
				}
				sums.count -= int64(b.count)
				sums.notional -= b.notional
			}
			if wasSat {
				sums.notional = k.sumBuckets(i)
			}
			sums.bStart, sums.bNext = int32(i), noHead
			if i < n {
				sums.bNext = k.buckets.at(i).sec
			}
		}
		if dc.share[w] && int64(sums.sNext) <= newCut {
			top := &k.share[w]
			i, n := int(sums.sStart), k.syms.len()
			for ; i < n; i++ {
				s := k.syms.at(i)
				if int64(s.sec) > newCut {
					break
				}
				for range s.count {
					top.dec(s.sym)
				}
			}
			sums.sStart, sums.sNext = int32(i), noHead
			if i < n {
				sums.sNext = k.syms.at(i).sec
			}
		}
	}
	// What left the longest window left the ring; what left the longest
	// share window needs no symbol entries any more.
	if n := int(k.win[len(dc.windows)-1].bStart); n > 0 {
		k.buckets.dropFront(n)
		for w := range dc.windows {
			k.win[w].bStart -= int32(n)
		}
	}
	if dc.lastShare >= 0 {
		if n := int(k.win[dc.lastShare].sStart); n > 0 {
			k.syms.dropFront(n)
			k.syms.shrink()
			k.symsDropped += uint32(n)
			for w := range dc.windows {
				if dc.share[w] {
					k.win[w].sStart -= int32(n)
				}
			}
		}
	}
	if k.mins.slot != nil {
		k.mins.advance(ts / 60000)
	}
}

// add places one order in its second's bucket and in every window whose
// range covers that second.
func (e *Engine) add(k *key, dc *dimConfig, ob *Observation, sym uint32) {
	sec := ob.TS / 1000
	e.advanceSec(k, dc, ob.TS, sec)
	notional := max(ob.Notional, 0)
	if ob.TS > k.lastOrder {
		k.lastOrder = ob.TS
	}
	clockSec := k.clockSec
	if k.mins.slot != nil {
		k.mins.add(ob.TS / 60000)
	}
	tracked := false
	if sec == clockSec {
		// In the key's newest second, as nearly every order is: its bucket
		// is the last one or a new one, and every window covers it.
		tracked = e.addNewest(k, dc, sec, notional, sym)
	} else {
		if sec <= clockSec-dc.horizon {
			return // older than every window
		}
		// Find or insert the bucket; in order the last one is the match.
		n := k.buckets.len()
		i := n
		for i > 0 && int64(k.buckets.at(i-1).sec) > sec {
			i--
		}
		if i > 0 && int64(k.buckets.at(i-1).sec) == sec {
			b := k.buckets.at(i - 1)
			b.count++
			b.notional = addUnits(b.notional, notional)
		} else {
			if i == n {
				k.buckets.pushBack(bucket{sec: uint32(sec), count: 1, notional: notional})
			} else {
				k.buckets.insert(i, bucket{sec: uint32(sec), count: 1, notional: notional})
			}
			for w, W := range dc.windows {
				ws := &k.win[w]
				switch {
				case int(ws.bStart) > i:
					ws.bStart++
				case int(ws.bStart) == i && sec <= clockSec-W:
					ws.bStart++
				case int(ws.bStart) == i:
					ws.bNext = uint32(sec)
				}
			}
		}
		for w, W := range dc.windows {
			if sec > clockSec-W {
				k.win[w].count++
				k.win[w].notional = addUnits(k.win[w].notional, notional)
				if dc.share[w] {
					k.share[w].inc(sym)
					tracked = true
				}
			}
		}
	}
	if !tracked {
		return
	}
	// The symbol entry for (sec, sym): entries are sorted by second. Orders
	// of the newest second use the index when the key has one; otherwise
	// scan the entries of the second from the back.
	n := k.syms.len()
	tag := uint64(k.symEpoch)<<32 | uint64(sec)
	var j int
	if k.symIdxOn && n > 0 && int64(k.syms.back().sec) <= sec {
		if k.symIdxTag == tag {
			if abs, ok := k.symIdx.get(sym); ok {
				k.syms.at(int(uint32(abs)-k.symsDropped)).count++
				return
			}
		}
		// The index covers every entry of the newest second, so a miss
		// means the symbol has none yet.
		j = n
		k.syms.pushBack(symEntry{sec: uint32(sec), sym: sym, count: 1})
		k.indexSym(sym, tag, n)
	} else {
		j = n
		for j > 0 && int64(k.syms.at(j-1).sec) > sec {
			j--
		}
		same := 0
		for p := j; p > 0 && int64(k.syms.at(p-1).sec) == sec; p-- {
			if s := k.syms.at(p - 1); s.sym == sym {
				s.count++
				return
			}
			same++
		}
		if j == n {
			k.syms.pushBack(symEntry{sec: uint32(sec), sym: sym, count: 1})
			if k.symIdxOn || same+1 >= symIdxMin {
				k.reindexNewest()
			}
		} else {
			k.syms.insert(j, symEntry{sec: uint32(sec), sym: sym, count: 1})
			k.symEpoch++
			if k.symIdxOn {
				k.reindexNewest()
			}
		}
	}
	for w, W := range dc.windows {
		if !dc.share[w] {
			continue
		}
		ws := &k.win[w]
		switch {
		case int(ws.sStart) > j:
			ws.sStart++
		case int(ws.sStart) == j && sec <= clockSec-W:
			ws.sStart++
		case int(ws.sStart) == j:
			ws.sNext = uint32(sec)
		}
	}
}

// reindexNewest indexes every entry of the newest second under the current
// epoch: when the index is built, after a late insert moved positions, and
// after the engine renumbered its symbols.
func (k *key) reindexNewest() {
	n := k.syms.len()
	if n == 0 {
		return
	}
	sec := k.syms.back().sec
	k.symIdx.reset()
	k.symIdxTag, k.symIdxOn = uint64(k.symEpoch)<<32|uint64(sec), true
	for p := n - 1; p >= 0 && k.syms.at(p).sec == sec; p-- {
		k.symIdx.set(k.syms.at(p).sym, int32(uint32(p)+k.symsDropped))
	}
}

// indexSym records that the entry of (tag, sym) is at position pos; a new
// tag (a new second) starts the index afresh.
func (k *key) indexSym(sym uint32, tag uint64, pos int) {
	if k.symIdxTag != tag {
		k.symIdx.reset()
		k.symIdxTag = tag
	}
	k.symIdx.set(sym, int32(uint32(pos)+k.symsDropped))
}

// addNewest is add's bucket and window part for an order of the key's
// newest second (the general case, with each window's position tests, is
// in add); it reports whether a window tracks the order's symbol.
func (e *Engine) addNewest(k *key, dc *dimConfig, sec, notional int64, sym uint32) bool {
	win := k.win[:len(dc.windows)]
	if n := k.buckets.len(); n > 0 && int64(k.buckets.back().sec) == sec {
		b := k.buckets.back()
		b.count++
		b.notional = addUnits(b.notional, notional)
	} else {
		k.buckets.pushBack(bucket{sec: uint32(sec), count: 1, notional: notional})
		// A window whose buckets had all left it starts at the new one.
		for w := range win {
			if int(win[w].bStart) == n {
				win[w].bNext = uint32(sec)
			}
		}
	}
	for w := range win {
		win[w].count++
		win[w].notional = addUnits(win[w].notional, notional)
	}
	for _, w := range dc.shareWins {
		k.share[w].inc(sym)
	}
	return len(dc.shareWins) > 0
}
