package router

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
)

// The dedup window remembers, per orders.v1 partition, every order identity
// (order_id, and whether it is a CANCEL, so a CANCEL that carries the id of
// the order it cancels is not a duplicate of it) decided within the window.
// Identities are held as 128-bit hashes so a check allocates nothing; the
// changelog carries the ids themselves, so a replay in another process (with
// other hash seeds) rebuilds the same set.

// dedupKey is the 128-bit hash of an order identity.
type dedupKey [2]uint64

// hasher hashes order identities with per-process random seeds.
type hasher struct{ a, b maphash.Seed }

func newHasher() hasher { return hasher{maphash.MakeSeed(), maphash.MakeSeed()} }

func (h hasher) key(id string, cancel bool) dedupKey {
	k := dedupKey{maphash.String(h.a, id), maphash.String(h.b, id)}
	if cancel {
		k[1] ^= 0x9e3779b97f4a7c15
	}
	return k
}

type dedupItem struct {
	key  dedupKey
	seen int64 // Unix ms
}

// dedupStore is one partition's window: a set with first-seen times and a
// FIFO of insertions for expiry. Insertions since mark can be rolled back
// when the transaction that made them aborts.
type dedupStore struct {
	seen  map[dedupKey]int64
	queue []dedupItem
	head  int
	mark  int
}

func newDedupStore() *dedupStore { return &dedupStore{seen: make(map[dedupKey]int64)} }

// has reports whether k was seen at or after cutoff (Unix ms).
func (s *dedupStore) has(k dedupKey, cutoff int64) bool {
	t, ok := s.seen[k]
	return ok && t >= cutoff
}

// add records k as seen at ms.
func (s *dedupStore) add(k dedupKey, ms int64) {
	s.seen[k] = ms
	s.queue = append(s.queue, dedupItem{k, ms})
}

// expire forgets identities seen before cutoff and compacts the queue.
func (s *dedupStore) expire(cutoff int64) {
	for s.head < len(s.queue) && s.queue[s.head].seen < cutoff {
		it := s.queue[s.head]
		if t, ok := s.seen[it.key]; ok && t == it.seen {
			delete(s.seen, it.key)
		}
		s.head++
	}
	if s.head > 0 && s.head >= len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.head = 0
	}
}

// begin marks the start of a transaction's insertions.
func (s *dedupStore) begin() { s.mark = len(s.queue) }

// rollback undoes the insertions since begin.
func (s *dedupStore) rollback() {
	for _, it := range s.queue[s.mark:] {
		if t, ok := s.seen[it.key]; ok && t == it.seen {
			delete(s.seen, it.key)
		}
	}
	clear(s.queue[s.mark:])
	s.queue = s.queue[:s.mark]
}

func (s *dedupStore) len() int { return len(s.seen) }

// Changelog record value: a version byte, the Unix ms the identities were
// first seen, then per identity a flags byte (1 = CANCEL), a uvarint length
// and the order_id bytes. One record holds one transaction's identities of
// one partition.
const (
	changelogVersion  = 1
	changelogMaxBytes = 256 << 10
)

func beginChangelog(buf []byte, ms int64) []byte {
	buf = append(buf, changelogVersion)
	return binary.AppendVarint(buf, ms)
}

func appendChangelogID(buf []byte, id string, cancel bool) []byte {
	var flags byte
	if cancel {
		flags = 1
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, uint64(len(id)))
	return append(buf, id...)
}

var errChangelog = errors.New("malformed dedup changelog record")

// readChangelog calls fn for every identity of a changelog record value.
func readChangelog(b []byte, fn func(ms int64, id []byte, cancel bool)) error {
	if len(b) < 1 || b[0] != changelogVersion {
		return errChangelog
	}
	ms, n := binary.Varint(b[1:])
	if n <= 0 {
		return errChangelog
	}
	b = b[1+n:]
	for len(b) > 0 {
		flags := b[0]
		l, n := binary.Uvarint(b[1:])
		if n <= 0 || flags > 1 || l > uint64(len(b)-1-n) {
			return errChangelog
		}
		b = b[1+n:]
		fn(ms, b[:l], flags == 1)
		b = b[l:]
	}
	return nil
}
