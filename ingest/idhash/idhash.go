// Package idhash hashes scope ids for the open-addressing indexes on the
// order path (the limits engine's keys, the router's killed and throttled
// scopes). Each id gets two independent 64-bit hashes: one places it in an
// index, the other, kept with the entry the index points to, confirms it,
// so a lookup never reads the id itself, which sits elsewhere in memory.
// Two ids share both hashes with negligible probability.
package idhash

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// Seed is an index's random seed: without it, nobody can choose ids that
// collide.
type Seed [4]uint64

// NewSeed returns a random seed.
func NewSeed() Seed {
	return Seed{rand.Uint64(), rand.Uint64(), rand.Uint64() | 1, rand.Uint64() | 1}
}

// Sum returns both hashes of id (place: where an index puts it; check:
// what confirms it) in one pass over the id, eight bytes at a time (the
// last eight overlapping the words before them; a shorter id in two
// overlapping halves, so that with the length every byte counts). Each word
// is mixed into two states by 128-bit multiplication with the seeds, as
// Go's runtime hashes map keys where it has no AES. It is a few
// multiplications for the ids of orders, far less than hash/maphash's call
// chain or a map lookup's.
func (s *Seed) Sum(id string) (place, check uint64) {
	b := unsafe.Slice(unsafe.StringData(id), len(id))
	n := len(b)
	// The length is mixed in first: XORed into a word, it could cancel a
	// difference in the bytes.
	h, c := mum(s[0]^uint64(n), s[2]), mum(s[1]^uint64(n), s[3])
	var w uint64
	switch {
	case n >= 8:
		for rest := b; len(rest) > 8; rest = rest[8:] {
			w := binary.LittleEndian.Uint64(rest)
			h, c = mum(h^w, s[2]), mum(c^w, s[3])
		}
		w = binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		w = uint64(binary.LittleEndian.Uint32(b))<<32 | uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n > 0:
		w = uint64(b[0])<<16 | uint64(b[n/2])<<8 | uint64(b[n-1])
	}
	h, c = mum(h^w, s[2]), mum(c^w, s[3])
	return mum(h, s[1]^0xa0761d6478bd642f), mum(c, s[0]^0xe7037ed1a0b428db)
}

// mum folds the 128-bit product of a and b.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
