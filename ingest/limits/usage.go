package limits

// usage is what a key has spent: the orders and notional of the seconds in
// its sliding window, in 1-second buckets, and for an ACCOUNT the gross
// notional of its trading day. Buckets are sparse (only seconds with allowed
// orders) and sorted by second. count and notional are the sums over every
// bucket held; buckets that have slid out of the window are dropped lazily,
// when the key next commits.
type usage struct {
	// What a check reads, first.
	count    int64
	notional int64  // saturating: exact unless it is math.MaxInt64
	credit   int64  // saturating gross notional on day
	first    uint32 // second of the first bucket; math.MaxUint32 when there is none
	day      int32
	b        ring[bucket]
}

// init readies a new usage.
func (u *usage) init() { u.first = noBucket }

// noBucket is usage.first without buckets: later than any cut.
const noBucket = ^uint32(0)

// bucket is one second of a key's allowed flow.
type bucket struct {
	sec      uint32 // Unix seconds
	count    uint32
	notional int64 // saturating
}

// sums returns the orders and notional of the buckets after cut (Unix
// seconds), without changing u.
func (u *usage) sums(cut int64) (count, notional int64) {
	if int64(u.first) > cut { // also when there is no bucket
		return u.count, u.notional
	}
	return u.sumsAfter(cut)
}

// sumsAfter is sums when some buckets have left the window.
func (u *usage) sumsAfter(cut int64) (count, notional int64) {
	count, notional = u.count, u.notional
	i := 0
	for ; i < u.b.len(); i++ {
		b := u.b.at(i)
		if int64(b.sec) > cut {
			break
		}
		count -= int64(b.count)
		if notional != none {
			notional -= b.notional
		}
	}
	if notional == none {
		notional = u.sumFrom(i)
	}
	return count, notional
}

// sumFrom is the saturating sum of the notional of the buckets from i on.
func (u *usage) sumFrom(i int) int64 {
	var s int64
	for ; i < u.b.len(); i++ {
		s = satAdd(s, u.b.at(i).notional)
	}
	return s
}

// prune drops the buckets at or before cut. It is small enough to inline
// into a commit, which mostly has nothing to drop.
func (u *usage) prune(cut int64) {
	if int64(u.first) <= cut {
		u.dropThrough(cut)
	}
}

// dropThrough is prune when the first bucket is at or before cut.
func (u *usage) dropThrough(cut int64) {
	count, notional := u.sums(cut)
	i := 0
	for i < u.b.len() && int64(u.b.at(i).sec) <= cut {
		i++
	}
	u.b.dropFront(i)
	u.count, u.notional = count, notional
	u.setFirst()
}

func (u *usage) setFirst() {
	u.first = noBucket
	if u.b.len() > 0 {
		u.first = u.b.at(0).sec
	}
}

// add counts count orders of notional n in second sec.
func (u *usage) add(sec uint32, count uint32, n int64) {
	u.count += int64(count)
	u.notional = satAdd(u.notional, n)
	if u.b.len() > 0 {
		last := u.b.back()
		if last.sec == sec {
			last.count = satAdd32(last.count, count)
			last.notional = satAdd(last.notional, n)
			return
		}
		if last.sec > sec {
			u.insert(sec, count, n)
			return
		}
	}
	u.b.pushBack(bucket{sec: sec, count: count, notional: n})
	if u.b.len() == 1 {
		u.first = sec
	}
}

// insert adds to the bucket of an earlier second than the last one, which
// only restoring a partition's usage does.
func (u *usage) insert(sec uint32, count uint32, n int64) {
	i := u.b.len()
	for i > 0 && u.b.at(i-1).sec > sec {
		i--
	}
	if i > 0 && u.b.at(i-1).sec == sec {
		b := u.b.at(i - 1)
		b.count = satAdd32(b.count, count)
		b.notional = satAdd(b.notional, n)
		return
	}
	u.b.insert(i, bucket{sec: sec, count: count, notional: n})
	u.setFirst()
}

// sub takes back count orders of notional n from second sec, if that bucket
// is still held (a bucket that slid out was already taken out of the sums).
// A saturated bucket keeps its notional: taking a share of an unknown sum
// back could only undercount.
func (u *usage) sub(sec uint32, count uint32, n int64) {
	i := u.b.len() - 1
	for i >= 0 && u.b.at(i).sec > sec {
		i--
	}
	if i < 0 || u.b.at(i).sec != sec {
		return
	}
	b := u.b.at(i)
	count = min(count, b.count)
	b.count -= count
	u.count -= int64(count)
	if b.notional != none {
		n = min(n, b.notional)
		b.notional -= n
		if u.notional != none {
			u.notional -= n
		}
	}
	if b.count == 0 {
		if b.notional != none && u.notional != none {
			u.notional -= min(b.notional, u.notional)
		}
		u.b.removeAt(i)
		u.setFirst()
	}
	if u.notional == none {
		u.notional = u.sumFrom(0)
	}
}

// copyFrom makes u a copy of v.
func (u *usage) copyFrom(v *usage) {
	b := u.b
	*u = *v
	u.b = b
	u.b.dropFront(u.b.len())
	for i := 0; i < v.b.len(); i++ {
		u.b.pushBack(*v.b.at(i))
	}
}

// reset empties u, keeping its buffer.
func (u *usage) reset() {
	b := u.b
	b.dropFront(b.len())
	*u = usage{b: b}
	u.init()
}

// creditOn returns the credit used on day.
func (u *usage) creditOn(day int32) int64 {
	if u.day >= day { // the calendar never goes back; be safe if it did
		return u.credit
	}
	return 0
}

// addCredit counts n against day's credit. A new day starts from zero; a
// past day's order (replayed from the changelog after a newer one) no
// longer counts.
func (u *usage) addCredit(day int32, n int64) {
	if day < u.day {
		return
	}
	if day > u.day {
		u.day, u.credit = day, 0
	}
	u.credit = satAdd(u.credit, n)
}

// empty reports whether u holds nothing that counts after cut or on day.
func (u *usage) empty(cut int64, day int32) bool {
	c, _ := u.sums(cut)
	return c == 0 && u.creditOn(day) == 0
}

func satAdd32(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint32(0)
}

// ring is a growable circular deque; in steady state pushing and dropping
// never allocate. Its first element lives in the ring itself (one, its
// first size), so that a usage holding one second of orders, most scopes'
// in a window, reads no memory of its own besides its key.
type ring[T any] struct {
	buf  []T // len is zero or a power of two; one: one[:]
	head int32
	n    int32
	one  [1]T
}

func (r *ring[T]) len() int { return int(r.n) }

func (r *ring[T]) at(i int) *T { return &r.buf[(int(r.head)+i)&(len(r.buf)-1)] }

func (r *ring[T]) back() *T { return r.at(r.len() - 1) }

func (r *ring[T]) grow() {
	if len(r.buf) == 0 {
		r.buf, r.head = r.one[:], 0
		return
	}
	nb := make([]T, len(r.buf)*2)
	for i := 0; i < r.len(); i++ {
		nb[i] = *r.at(i)
	}
	r.buf, r.head = nb, 0
}

func (r *ring[T]) pushBack(v T) {
	if r.len() == len(r.buf) {
		r.grow()
	}
	r.n++
	*r.at(r.len() - 1) = v
}

func (r *ring[T]) dropFront(n int) {
	if n <= 0 {
		return
	}
	r.head = int32((int(r.head) + n) & (len(r.buf) - 1))
	r.n -= int32(n)
}

// insert puts v at position i, shifting the elements after it back.
func (r *ring[T]) insert(i int, v T) {
	var zero T
	r.pushBack(zero)
	for j := r.len() - 1; j > i; j-- {
		*r.at(j) = *r.at(j - 1)
	}
	*r.at(i) = v
}

// removeAt deletes the element at i, shifting the elements after it forward.
func (r *ring[T]) removeAt(i int) {
	for j := i; j < r.len()-1; j++ {
		*r.at(j) = *r.at(j + 1)
	}
	r.n--
}
