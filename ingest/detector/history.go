// The per-minute history of a key's order counts and the z-score computed
// over it.

package detector

import (
	"math"
)

// minutes holds a key's per-minute counts for the z-score: the current
// minute's count inline, the HistoryMinutes before it in a ring indexed by
// minute that is only written when a minute closes and only read when a
// z-score is wanted (this minute has at least min_orders), so the common
// order touches none of it.
type minutes struct {
	first  int64 // earliest minute seen
	cur    int64 // the key's current minute
	curCnt int64
	slot   *[HistoryMinutes + 1]minuteSlot
}

// minuteSlot is one minute's count and which minute it is, side by side so
// that one cache line holds both.
type minuteSlot struct {
	tag uint32
	cnt uint32
}

func (m *minutes) add(min int64) {
	if min == m.cur {
		m.curCnt++
		return
	}
	if min > m.cur || min < m.cur-HistoryMinutes {
		return
	}
	m.first = minInt(m.first, min)
	sl := &m.slot[min%(HistoryMinutes+1)]
	if int64(sl.tag) != min {
		sl.tag, sl.cnt = uint32(min), 0
	}
	sl.cnt++
}

func minInt(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func (m *minutes) count(min int64) int64 {
	if min == m.cur {
		return m.curCnt
	}
	sl := &m.slot[min%(HistoryMinutes+1)]
	if int64(sl.tag) != min {
		return 0
	}
	return int64(sl.cnt)
}

// advance makes min the current minute, closing the current one into the ring.
func (m *minutes) advance(min int64) {
	if min <= m.cur {
		return
	}
	m.slot[m.cur%(HistoryMinutes+1)] = minuteSlot{tag: uint32(m.cur), cnt: uint32(m.curCnt)}
	m.cur, m.curCnt = min, 0
}

// historyLen is how many minutes of history there are.
func (m *minutes) historyLen() int64 {
	return max(min(HistoryMinutes, m.cur-m.first), 0)
}

// history returns how many minutes of history there are and the sum and
// sum of squares of their counts.
func (m *minutes) history() (n, sum, sumsq int64) {
	n = m.historyLen()
	for h := m.cur - n; h < m.cur; h++ {
		c := m.count(h)
		sum += c
		sumsq += c * c
	}
	return n, sum, sumsq
}

// ZScore is the anomaly score of cur against n per-minute counts with the
// given sum and sum of squares: (cur − mean) / σ, with σ (population) no
// lower than 1 order per minute so that a flat history does not divide by
// zero and a quiet key's first few orders do not look infinite.
func ZScore(cur, n, sum, sumsq int64) float64 {
	if n <= 0 {
		return 0
	}
	mean := float64(sum) / float64(n)
	v := float64(sumsq)/float64(n) - mean*mean
	sd := 1.0
	if v > 1 {
		sd = math.Sqrt(v)
	}
	return (float64(cur) - mean) / sd
}
