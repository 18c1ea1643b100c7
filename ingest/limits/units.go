package limits

import (
	"math"
	"math/bits"
)

// Scale is the fixed point of prices and notionals: 1/10,000 of a currency
// unit, as in the detector. qty × price is rounded once per order and summed
// as an integer, so sums never drift. Sums saturate at math.MaxInt64 (about
// 922 trillion in currency) instead of wrapping, so an absurd order can only
// ever look bigger, never smaller.
const Scale = 10_000

// collarScale is the fixed point of collar percentages: 1/10,000 of a
// percent.
const collarScale = 10_000

// none marks a limit that is not set: no order or sum can exceed it.
const none = math.MaxInt64

// toUnits converts an amount in currency (or a price) to Scale units,
// saturating; NaN saturates too, so a broken number fails closed.
func toUnits(f float64) int64 {
	v := f * Scale
	if !(v < 9.223372036854775e18) {
		return none
	}
	if v <= 0 {
		return 0
	}
	return int64(math.Round(v))
}

// notionalUnits is qty × price in Scale units, computed as the detector's
// NotionalUnits does.
func notionalUnits(qty, price float64) int64 { return toUnits(qty * price) }

// fromUnits converts Scale units back to currency, for reports.
func fromUnits(u int64) float64 { return float64(u) / Scale }

// satAdd adds two non-negative amounts, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return none
}

// scaleShare returns floor(c × owned / total) for 0 ≤ owned ≤ total, exact
// in 128 bits; a limit that is not set stays unset.
func scaleShare(c int64, owned, total uint64) int64 {
	if c == none || owned >= total {
		return c
	}
	hi, lo := bits.Mul64(uint64(c), owned)
	q, _ := bits.Div64(hi, lo, total) // hi < total because owned < total
	return int64(q)
}

// lessProduct reports whether a × b < c × d for non-negative operands,
// exactly.
func lessProduct(a, b, c, d int64) bool {
	h1, l1 := bits.Mul64(uint64(a), uint64(b))
	h2, l2 := bits.Mul64(uint64(c), uint64(d))
	return h1 < h2 || h1 == h2 && l1 < l2
}

// outsideCollar reports whether price p is more than collar (in collarScale
// units of a percent) away from reference ref, both in Scale units:
// |p − ref| × 100 × collarScale > collar × ref.
func outsideCollar(p, ref, collar int64) bool {
	d := p - ref
	if d < 0 {
		d = -d
	}
	return lessProduct(collar, ref, d, 100*collarScale)
}

// deviationPct is |p − ref| / ref in percent, for reports.
func deviationPct(p, ref int64) float64 {
	if ref <= 0 {
		return math.Inf(1)
	}
	return math.Abs(float64(p-ref)) / float64(ref) * 100
}

// creditThresholds are the shares of a credit limit whose crossing is
// reported, highest first.
var creditThresholds = [...]int64{90, 75, 50}

// crossedThreshold returns the highest threshold (in percent of limit) that
// used crossed on its way from before to after, or 0.
func crossedThreshold(before, after, limit int64) int {
	if limit == none || limit <= 0 {
		return 0
	}
	for _, t := range creditThresholds {
		// after × 100 ≥ t × limit > before × 100
		if !lessProduct(after, 100, t, limit) && lessProduct(before, 100, t, limit) {
			return int(t)
		}
	}
	return 0
}
