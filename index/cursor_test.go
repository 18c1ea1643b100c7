package index

import (
	"errors"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []cursor{{0, 0}, {1700000000000, 42}, {-1, 9}} {
		got, err := parseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("%+v → %q → %+v, %v", c, c.String(), got, err)
		}
	}
	for _, bad := range []string{"", "!!", "MTIz", "YS5i"} { // "", junk, "123", "a.b"
		if _, err := parseCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("parseCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(cursor{1700000000000, 7}.String())
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
