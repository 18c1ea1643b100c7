package limits

import "time"

// calendar maps a time to its trading day: the day that begins at start
// (a wall-clock time of day) in loc, labelled by the date on which it
// begins, as days since 1970-01-01. It caches the current day's bounds, so
// in steady state a lookup is two comparisons.
type calendar struct {
	loc    *time.Location
	start  time.Duration // since local midnight, under 24 h
	lo, hi int64         // the cached day's bounds, Unix ms, [lo, hi)
	day    int32
}

func newCalendar(loc *time.Location, start time.Duration) calendar {
	return calendar{loc: loc, start: start, lo: 1, hi: 0}
}

// dayOf returns the trading day of Unix ms t.
func (c *calendar) dayOf(t int64) int32 {
	if t >= c.lo && t < c.hi {
		return c.day
	}
	lt := time.UnixMilli(t).In(c.loc)
	y, m, d := lt.Date()
	h, mi, s := lt.Clock()
	if time.Duration(h)*time.Hour+time.Duration(mi)*time.Minute+time.Duration(s)*time.Second < c.start {
		d--
	}
	// Around a daylight-saving change the local clock can name a day whose
	// bounds do not hold t; step to the neighbour that does.
	for range 3 {
		lo, hi := c.bound(y, m, d), c.bound(y, m, d+1)
		switch {
		case t < lo:
			d--
		case t >= hi:
			d++
		default:
			c.lo, c.hi = lo, hi
			c.day = int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
			return c.day
		}
	}
	// Not reached for real zones; never cache a guess.
	c.lo, c.hi = 1, 0
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// bound is the Unix ms at which the trading day dated y-m-d begins: when
// the local clock first reads the start time that date, or, on a date when
// the clocks skip over it, when they jump past it.
func (c *calendar) bound(y int, m time.Month, d int) int64 {
	h := int(c.start / time.Hour)
	mi := int(c.start % time.Hour / time.Minute)
	t := time.Date(y, m, d, h, mi, 0, 0, c.loc)
	if lh, lm, _ := t.Clock(); lh != h || lm != mi {
		// time.Date picked an instant on one side of the gap; the day
		// begins where the gap ends.
		zs, ze := t.ZoneBounds()
		if lh*60+lm < h*60+mi {
			t = ze
		} else {
			t = zs
		}
	}
	return t.UnixMilli()
}
