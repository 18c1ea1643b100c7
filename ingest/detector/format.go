// Number and window formatting for signals and reasons, without fmt.

package detector

import (
	"math"
	"time"
)

func windowName(sec int64) string {
	d := time.Duration(sec) * time.Second
	if d%time.Minute == 0 {
		return itoa(int64(d/time.Minute)) + "m"
	}
	return itoa(sec) + "s"
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return itoa(int64(f))
	}
	return itoa(int64(f)) + "." + fracDigits(f)
}

func fracDigits(f float64) string {
	fr := math.Abs(f - math.Trunc(f))
	d := int64(math.Round(fr * 1000))
	if d >= 1000 {
		d = 999
	}
	s := itoa(d)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}
