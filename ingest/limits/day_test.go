package limits

import (
	"testing"
	"time"
)

// The trading day changes once a day, when the local clock reaches its
// start, across both daylight-saving changes, and also when that time does
// not exist on the day the clocks go forward.
func TestCalendar(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []time.Duration{0, time.Hour + 30*time.Minute, 2*time.Hour + 30*time.Minute, 17 * time.Hour, 23*time.Hour + 59*time.Minute} {
		for _, span := range [][2]time.Time{
			{time.Date(2024, 3, 7, 12, 0, 0, 0, ny), time.Date(2024, 3, 13, 12, 0, 0, 0, ny)},
			{time.Date(2024, 10, 31, 12, 0, 0, 0, ny), time.Date(2024, 11, 6, 12, 0, 0, 0, ny)},
		} {
			c := newCalendar(ny, start)
			prev := c.dayOf(span[0].UnixMilli())
			changes := 0
			for ts := span[0].UnixMilli(); ts < span[1].UnixMilli(); ts += 60_000 {
				d := c.dayOf(ts)
				if d < prev || d > prev+1 {
					t.Fatalf("start %v: day %d after %d at %v", start, d, prev, time.UnixMilli(ts).In(ny))
				}
				if d != prev {
					changes++
					lt := time.UnixMilli(ts).In(ny)
					h, m, _ := lt.Clock()
					at := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
					// The start, or the first minute after it when the
					// clocks skipped it.
					if at != start && !(start == 2*time.Hour+30*time.Minute && at == 3*time.Hour) {
						t.Errorf("start %v: day changed at %v", start, lt)
					}
					// The label is the date on which the day begins.
					y, mo, dd := lt.Date()
					if want := int32(time.Date(y, mo, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400); d != want {
						t.Errorf("label %d, want %d", d, want)
					}
				}
				prev = d
			}
			if changes != 6 {
				t.Errorf("start %v from %v: %d day changes in 6 days", start, span[0], changes)
			}
		}
	}
}

func BenchmarkDayOf(b *testing.B) {
	ny, _ := time.LoadLocation("America/New_York")
	c := newCalendar(ny, 17*time.Hour)
	ts := t0
	b.ReportAllocs()
	for b.Loop() {
		ts += 1000
		_ = c.dayOf(ts)
	}
}
