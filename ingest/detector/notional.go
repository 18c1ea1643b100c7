package detector

import "math"

// Notional sums are int64 fixed point. An order's notional is bounded by
// order validation (qty and price maxima), but a window sums thousands of
// orders, and a sum that wraps turns a fat-finger order into a large
// negative notional that hides every order after it. So sums saturate at
// MaxInt64 ($922 trillion) instead, which still reads as a breach of any
// notional rule, and a saturated window is summed again from its buckets
// when orders leave it, so it is exact again as soon as it fits.

// maxUnits is MaxInt64 as a float64 (2^63): the first value that no longer
// converts to an int64.
const maxUnits = float64(math.MaxInt64)

// NotionalUnits converts qty × price to fixed-point units, saturating: a
// product past the int64 range, or one that is not a number, counts as the
// largest notional, never as a negative one.
func NotionalUnits(qty, price float64) int64 {
	v := math.Round(qty * price * NotionalScale)
	switch {
	case !(v < maxUnits): // also NaN
		return math.MaxInt64
	case v < 0:
		return 0
	}
	return int64(v)
}

// OrderNotional is an order's notional as the notional rules count it:
// qty × price in units (NotionalUnits), at most Rules.MaxOrderNotional.
func (e *Engine) OrderNotional(qty, price float64) int64 {
	return min(NotionalUnits(qty, price), e.maxNotional)
}

// addUnits adds non-negative notionals, saturating at MaxInt64.
func addUnits(sum, v int64) int64 {
	if s := sum + v; s >= sum {
		return s
	}
	return math.MaxInt64
}

// saturated reports whether a window's notional hit the int64 bound: it is
// then no longer exact, and is summed again when orders leave the window.
func saturated(sum int64) bool { return sum == math.MaxInt64 }

// sumBuckets is the saturating notional of the key's buckets from position
// i to the newest.
func (k *key) sumBuckets(i int) int64 {
	var s int64
	for n := k.buckets.len(); i < n && !saturated(s); i++ {
		s = addUnits(s, k.buckets.at(i).notional)
	}
	return s
}
