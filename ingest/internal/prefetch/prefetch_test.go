package prefetch

import (
	"testing"
	"unsafe"
)

// TestLineChangesNothing prefetches every line of a buffer and nil:
// nothing faults and the buffer reads as it was written.
func TestLineChangesNothing(t *testing.T) {
	buf := make([]uint64, 8*200)
	for i := range buf {
		buf[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	for i := 0; i < len(buf); i += 8 {
		Line(unsafe.Pointer(&buf[i]))
	}
	Line(nil)
	for i := range buf {
		if buf[i] != uint64(i)*0x9e3779b97f4a7c15 {
			t.Fatalf("word %d changed: %#x", i, buf[i])
		}
	}
}

// BenchmarkLine is the cost of one prefetch of a line already cached, the
// call included.
func BenchmarkLine(b *testing.B) {
	var x [8]uint64
	for b.Loop() {
		Line(unsafe.Pointer(&x))
	}
}
