package index

import (
	"errors"
	"math"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []cursor{{0, 0, 0, 0}, {1700000000000, 2, 5000, 42}, {-1, 0, 0, 9}} {
		got, err := parseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("%+v → %q → %+v, %v", c, c.String(), got, err)
		}
	}
	// "", junk, "123", "a.b", "1.2.3", "1.2.3.x"
	for _, bad := range []string{"", "!!", "MTIz", "YS5i", "MS4yLjM", "MS4yLjMueA"} {
		if _, err := parseCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("parseCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}

// TestOldCursorRestartsItsMillisecond: a page boundary of two numbers,
// from before searches ordered ties by orders.v1 position, continues from
// the start of its millisecond (a few records again, none skipped).
func TestOldCursorRestartsItsMillisecond(t *testing.T) {
	got, err := parseCursor("MTcwMDAwMDAwMDAwMC43") // "1700000000000.7"
	want := cursor{1700000000000, math.MaxInt64, math.MaxInt64, math.MaxInt64}
	if err != nil || got != want {
		t.Fatalf("parseCursor = %+v, %v; want %+v", got, err, want)
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(cursor{1700000000000, 1, 99, 7}.String())
	f.Add("MTcwMDAwMDAwMDAwMC43") // "1700000000000.7", a cursor of two numbers
	f.Add("zzz")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		if again, err := parseCursor(c.String()); err != nil || again != c {
			t.Fatalf("%q parsed to %+v which does not round-trip", s, c)
		}
	})
}

func TestBatchAdvanceKeepsTheHighestOffset(t *testing.T) {
	var b Batch
	b.Advance("audit.v1", 0, 10)
	b.Advance("audit.v1", 0, 5)
	b.Advance("audit.v1", 1, 3)
	if b.Next["audit.v1"][0] != 10 || b.Next["audit.v1"][1] != 3 {
		t.Fatalf("next %v", b.Next)
	}
	b.Reset()
	if b.Next != nil || b.Len() != 0 {
		t.Fatal("reset left data")
	}
}
