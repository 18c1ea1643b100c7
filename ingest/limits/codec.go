package limits

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Usage is a snapshot of one key's usage in one partition, as the changelog
// carries it: the buckets of its window and, for an ACCOUNT, the credit used
// on its trading day.
//
// Encoding (all integers unsigned varints): day, credit, the number of
// buckets, then per bucket the second (the first absolute, each next as the
// gap from the one before, at least 1), the orders and the notional. An
// account with one order in its window takes about 15 bytes.
type Usage struct {
	// Day is the trading day of Credit, in days since 1970-01-01 (the date
	// on which the trading day begins); 0 with no credit.
	Day int32
	// Credit is the gross notional used on Day, in Scale units.
	Credit int64
	// Buckets are the seconds of the window that had allowed orders,
	// oldest first.
	Buckets []Bucket
}

// Bucket is one second of usage.
type Bucket struct {
	Sec      uint32 // Unix seconds
	Count    uint32
	Notional int64 // Scale units
}

// ErrUsage is wrapped by every usage decoding error.
var ErrUsage = errors.New("malformed limits usage")

// AppendUsage appends u's encoding to dst.
func AppendUsage(dst []byte, u *Usage) []byte {
	dst = binary.AppendUvarint(dst, uint64(max(u.Day, 0)))
	dst = binary.AppendUvarint(dst, uint64(max(u.Credit, 0)))
	dst = binary.AppendUvarint(dst, uint64(len(u.Buckets)))
	var prev uint32
	for _, b := range u.Buckets {
		dst = binary.AppendUvarint(dst, uint64(b.Sec-prev))
		dst = binary.AppendUvarint(dst, uint64(b.Count))
		dst = binary.AppendUvarint(dst, uint64(max(b.Notional, 0)))
		prev = b.Sec
	}
	return dst
}

// appendUsage appends the encoding of u without building a Usage.
func appendUsage(dst []byte, u *usage) []byte {
	day, credit := u.day, u.credit
	if credit == 0 {
		day = 0
	}
	dst = binary.AppendUvarint(dst, uint64(max(day, 0)))
	dst = binary.AppendUvarint(dst, uint64(credit))
	dst = binary.AppendUvarint(dst, uint64(u.b.len()))
	var prev uint32
	for i := 0; i < u.b.len(); i++ {
		b := u.b.at(i)
		dst = binary.AppendUvarint(dst, uint64(b.sec-prev))
		dst = binary.AppendUvarint(dst, uint64(b.count))
		dst = binary.AppendUvarint(dst, uint64(b.notional))
		prev = b.sec
	}
	return dst
}

// DecodeUsage decodes one usage from the start of b into u, reusing
// u.Buckets, and returns the bytes it read. Buckets must be in increasing
// seconds with at least one order each.
func DecodeUsage(b []byte, u *Usage) (int, error) {
	r := reader{b: b}
	day := r.uvarint(math.MaxInt32)
	credit := r.uvarint(math.MaxInt64)
	n := r.uvarint(uint64(len(b)) / 3) // a bucket takes at least 3 bytes
	if r.err != nil {
		return 0, r.err
	}
	u.Day, u.Credit, u.Buckets = int32(day), int64(credit), u.Buckets[:0]
	var sec uint64
	for i := uint64(0); i < n; i++ {
		gap := r.uvarint(math.MaxUint32)
		count := r.uvarint(math.MaxUint32)
		notional := r.uvarint(math.MaxInt64)
		if r.err != nil {
			return 0, r.err
		}
		if i > 0 && gap == 0 {
			return 0, fmt.Errorf("%w: bucket %d is not after the one before", ErrUsage, i)
		}
		if sec += gap; sec > math.MaxUint32 {
			return 0, fmt.Errorf("%w: bucket %d is past the last second a bucket holds", ErrUsage, i)
		}
		if count == 0 {
			return 0, fmt.Errorf("%w: bucket %d has no orders", ErrUsage, i)
		}
		u.Buckets = append(u.Buckets, Bucket{Sec: uint32(sec), Count: uint32(count), Notional: int64(notional)})
	}
	return r.i, nil
}

// reader reads bounded uvarints and keeps the first error.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) uvarint(most uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 || n != max(1, (bits.Len64(v)+6)/7) { // one encoding per number
		r.err = fmt.Errorf("%w: truncated or overlong number at byte %d", ErrUsage, r.i)
		return 0
	}
	if v > most {
		r.err = fmt.Errorf("%w: %d at byte %d is above %d", ErrUsage, v, r.i, most)
		return 0
	}
	r.i += n
	return v
}

// load replaces u's content with s, leaving out the buckets at or before
// cut (see Engine.count).
func (u *usage) load(s *Usage, cut int64) {
	*u = usage{b: u.b}
	u.b.dropFront(u.b.len())
	u.init()
	for _, b := range s.Buckets {
		if int64(b.Sec) > cut {
			u.add(b.Sec, b.Count, b.Notional)
		}
	}
	if s.Credit > 0 {
		u.day, u.credit = s.Day, s.Credit
	}
}
