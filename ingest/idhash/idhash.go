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
// what confirms it) in one pass over the id, sixteen bytes at a time as two
// words (the last sixteen overlapping the block before them; a shorter id
// in two overlapping halves, or for fewer than four bytes its first, middle
// and last, so that with the length every byte counts). Each block is mixed
// into two states, one per hash, by one 128-bit multiplication of its two
// words with the state and the seeds (as wyhash does), and the length at
// the end. An order's ids are at most sixteen bytes: two multiplications a
// hash, far less than hash/maphash's call chain or a map lookup's.
func (s *Seed) Sum(id string) (place, check uint64) {
	b := unsafe.Slice(unsafe.StringData(id), len(id))
	n := len(b)
	h, c := s[0], s[1]
	var w0, w1 uint64
	switch {
	case n > 16:
		for rest := b; len(rest) > 16; rest = rest[16:] {
			w0, w1 := binary.LittleEndian.Uint64(rest), binary.LittleEndian.Uint64(rest[8:])
			h, c = mum(w0^h, w1^s[2]), mum(w0^c, w1^s[3])
		}
		w0, w1 = binary.LittleEndian.Uint64(b[n-16:]), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 8:
		w0, w1 = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		w0, w1 = uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n > 0:
		w0 = uint64(b[0])<<16 | uint64(b[n/2])<<8 | uint64(b[n-1])
	}
	h, c = mum(w0^h, w1^s[2]), mum(w0^c, w1^s[3])
	return mum(h^0xa0761d6478bd642f, s[2]^uint64(n)), mum(c^0xe7037ed1a0b428db, s[3]^uint64(n))
}

// mum folds the 128-bit product of a and b.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// Shifts reports whether backward-shift deletion in a linear-probing table
// of power-of-two size moves the member at slot j, whose home slot is home,
// into the hole at slot i: it does unless home lies cyclically in (i, j].
// Every open-addressing table of ids in ingest deletes this way.
func Shifts(i, j, home int) bool {
	return (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)
}

// Hash is an id's two hashes under one seed (see Sum).
type Hash struct{ Place, Check uint64 }

// Hash returns both hashes of id as a Hash.
func (s *Seed) Hash(id string) Hash {
	place, check := s.Sum(id)
	return Hash{place, check}
}

// The scope types whose ids the order path indexes, in the order of Scopes.
const (
	Account = iota
	Symbol
	Strategy
)

// Scopes is an order's account, symbol and strategy ids, each hashed with
// its type's ScopeSeed; an empty id (an order without a strategy) is the
// zero Hash.
type Scopes [3]Hash

// scopeSeeds are the process's seeds of scope ids, random at start.
var scopeSeeds = [3]Seed{NewSeed(), NewSeed(), NewSeed()}

// ScopeSeed returns the process's seed of scope type typ (Account, Symbol
// or Strategy). Every index of scope ids on the order path hashes with it,
// so that an order's ids are hashed once (OfScopes) for all of them: the
// limits engine's keys and the router's killed and throttled scopes.
func ScopeSeed(typ int) *Seed { return &scopeSeeds[typ] }

// OfScopes hashes an order's account, symbol and strategy ids.
func OfScopes(account, symbol, strategy string) (s Scopes) {
	s[Account] = scopeSeeds[Account].Hash(account)
	s[Symbol] = scopeSeeds[Symbol].Hash(symbol)
	if strategy != "" {
		s[Strategy] = scopeSeeds[Strategy].Hash(strategy)
	}
	return s
}
