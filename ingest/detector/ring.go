package detector

// ring is a growable circular deque. Keys keep theirs across eviction and
// reuse, so in steady state pushing and popping never allocates.
type ring[T any] struct {
	buf  []T // len is zero or a power of two
	head int
	n    int
}

func (r *ring[T]) len() int { return r.n }

// at returns the i-th element from the front.
func (r *ring[T]) at(i int) *T { return &r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *ring[T]) back() *T { return r.at(r.n - 1) }

func (r *ring[T]) grow() {
	size := len(r.buf) * 2
	if size == 0 {
		size = 4
	}
	nb := make([]T, size)
	for i := 0; i < r.n; i++ {
		nb[i] = *r.at(i)
	}
	r.buf, r.head = nb, 0
}

func (r *ring[T]) pushBack(v T) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.n++
	*r.at(r.n - 1) = v
}

// dropFront forgets the first n elements without touching them: the rings
// hold plain values, and reading a cold element costs a cache miss.
func (r *ring[T]) dropFront(n int) {
	if n <= 0 {
		return
	}
	r.head = (r.head + n) & (len(r.buf) - 1)
	r.n -= n
}

// insert puts v at position i, shifting the elements after it back by one.
// Only late records insert, and only near the back, so the shift is short.
func (r *ring[T]) insert(i int, v T) {
	var zero T
	r.pushBack(zero)
	for j := r.n - 1; j > i; j-- {
		*r.at(j) = *r.at(j - 1)
	}
	*r.at(i) = v
}

// ringKeep is the largest buffer a reset ring keeps for reuse: enough for
// the 900 seconds of a 15-minute window; what a burst grew beyond it is
// given back.
const ringKeep = 1024

func (r *ring[T]) reset() {
	if len(r.buf) > ringKeep {
		r.buf = nil
	}
	clear(r.buf)
	r.head, r.n = 0, 0
}

// shrink gives back a buffer that a burst grew and that is now at most an
// eighth full, keeping room for twice what it holds.
func (r *ring[T]) shrink() {
	if len(r.buf) <= 64 || r.n*8 >= len(r.buf) {
		return
	}
	size := 4
	for size < 2*r.n {
		size <<= 1
	}
	nb := make([]T, size)
	for i := 0; i < r.n; i++ {
		nb[i] = *r.at(i)
	}
	r.buf, r.head = nb, 0
}

// bytes is the memory held by the ring's buffer.
func (r *ring[T]) capBytes(elem int) int { return len(r.buf) * elem }
