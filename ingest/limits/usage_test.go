package limits

import (
	"slices"
	"testing"
)

// A ring keeps its elements in order through its first element held in
// the ring itself, growth onto the heap, drops, inserts and removals,
// against a plain slice.
func TestRing(t *testing.T) {
	var r ring[int]
	var want []int
	check := func(step string) {
		t.Helper()
		var got []int
		for i := 0; i < r.len(); i++ {
			got = append(got, *r.at(i))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: ring holds %v, want %v", step, got, want)
		}
	}
	r.pushBack(1)
	want = append(want, 1)
	check("one element")
	if &r.buf[0] != &r.one[0] {
		t.Fatal("the first element is not held in the ring itself")
	}
	r.dropFront(1)
	want = want[1:]
	check("dropped")
	for i := range 40 {
		r.pushBack(10 + i)
		want = append(want, 10+i)
		if i%7 == 3 {
			r.dropFront(2)
			want = want[2:]
		}
		check("pushed")
	}
	r.insert(3, -1)
	want = slices.Insert(want, 3, -1)
	check("inserted")
	r.removeAt(5)
	want = slices.Delete(want, 5, 6)
	check("removed")
}

// A usage copied from another shares nothing with it, its first bucket
// included (a ring's one element is addressed through its own buffer).
func TestUsageCopyIsOwn(t *testing.T) {
	var a, b usage
	a.init()
	b.init()
	a.add(100, 1, 5)
	b.copyFrom(&a)
	a.add(100, 2, 7)
	a.add(101, 1, 1)
	if c, n := b.sums(0); c != 1 || n != 5 || b.b.len() != 1 || b.b.at(0).count != 1 {
		t.Fatalf("copy changed with its source: %d orders, notional %d, %d buckets", c, n, b.b.len())
	}
	b.add(100, 1, 1)
	if c, n := a.sums(0); c != 4 || n != 13 {
		t.Fatalf("source changed with its copy: %d orders, notional %d", c, n)
	}
	b.reset()
	b.add(200, 1, 2)
	if c, n := b.sums(0); c != 1 || n != 2 || b.b.len() != 1 {
		t.Fatalf("reset usage holds %d orders, notional %d, %d buckets", c, n, b.b.len())
	}
	if c, _ := a.sums(0); c != 4 {
		t.Fatalf("resetting the copy changed the source: %d orders", c)
	}
}
