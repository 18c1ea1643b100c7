package router

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestDedupStore(t *testing.T) {
	h := newHasher()
	s := newDedupStore()
	const window = 1000
	k := func(id string) dedupKey { return h.key(id, false) }

	s.add(k("a"), 100, true)
	s.add(k("b"), 500, false)
	if !s.has(k("a"), 100-window) || !s.has(k("b"), 0) {
		t.Fatal("fresh identities not found")
	}
	if s.has(h.key("a", true), 0) {
		t.Error("a CANCEL shares the identity of its NEW")
	}
	// Which NEW orders were ALLOWed: what a CANCEL of them may pass.
	if !s.allowedNew(cancelled(h.key("a", true)), 0) || s.allowedNew(k("b"), 0) || s.allowedNew(k("zzz"), 0) {
		t.Error("allowedNew does not tell the ALLOWed order a from b (not ALLOWed) and an unknown one")
	}
	if s.allowedNew(k("a"), 101) {
		t.Error("an ALLOWed order older than the window still lets its CANCEL pass")
	}
	// At 1200 the window starts at 200: "a" is out, even before expire.
	if s.has(k("a"), 1200-window) {
		t.Error("identity older than the window still counts")
	}
	s.expire(1200 - window)
	if s.len() != 1 {
		t.Errorf("after expiry %d identities, want 1", s.len())
	}

	// Rollback forgets what an aborted transaction added, nothing else.
	s.begin()
	s.add(k("c"), 1300, false)
	s.add(k("d"), 1300, true)
	s.rollback()
	if s.has(k("c"), 0) || s.has(k("d"), 0) || !s.has(k("b"), 0) || s.len() != 1 {
		t.Errorf("rollback: c=%v d=%v b=%v len=%d", s.has(k("c"), 0), s.has(k("d"), 0), s.has(k("b"), 0), s.len())
	}
	// Expiry keeps the queue compact.
	for i := range 10_000 {
		s.add(k(fmt.Sprint(i)), int64(2000+i), i%2 == 0)
		s.expire(int64(2000 + i - 10))
	}
	if s.len() > 12 || len(s.queue) > 64 {
		t.Errorf("after sliding: %d identities, queue %d", s.len(), len(s.queue))
	}
}

func TestChangelogRoundTrip(t *testing.T) {
	type id struct {
		s       string
		cancel  bool
		allowed bool
	}
	ids := []id{{"o1", false, true}, {"o1", true, false}, {"", false, false}, {string(make([]byte, 300)), false, true}, {"ü", true, false}}
	b := beginChangelog(nil, 1_700_000_000_123)
	for _, x := range ids {
		b = appendChangelogID(b, x.s, x.cancel, x.allowed)
	}
	var got []id
	err := readChangelog(b, func(ms int64, raw []byte, cancel, allowed bool) {
		if ms != 1_700_000_000_123 {
			t.Errorf("ms = %d", ms)
		}
		got = append(got, id{string(raw), cancel, allowed})
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("read %v, want %v", got, ids)
	}
	for _, bad := range [][]byte{nil, {9}, {1}, {1, 2, 3}, {1, 2, 0, 5, 'a'}, {1, 2, 4, 1, 'a'}} {
		if readChangelog(bad, func(int64, []byte, bool, bool) {}) == nil {
			t.Errorf("readChangelog(%v) accepted a malformed record", bad)
		}
	}
}

func FuzzReadChangelog(f *testing.F) {
	f.Add(appendChangelogID(beginChangelog(nil, 5), "x", true, false))
	f.Add(appendChangelogID(beginChangelog(nil, 5), "x", false, true))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readChangelog(b, func(_ int64, id []byte, _, _ bool) {
			if len(id) > len(b) {
				t.Fatal("id longer than the record")
			}
		})
	})
}

// TestDedupStoreAgainstMap drives the open-addressing set and a plain map
// with the same random operations, including expiry and rollbacks, with
// keys crowded into few home slots so probe runs wrap and shift.
func TestDedupStoreAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	s := newDedupStore()
	type seen struct {
		ms      int64
		allowed bool
	}
	ref := map[dedupKey]seen{}
	type ins struct {
		k    dedupKey
		ms   int64
		prev seen
		had  bool
	}
	var txn []ins
	now := int64(1000)
	const window = 50
	key := func() dedupKey { return dedupKey{uint64(rng.IntN(64)) << 58 >> 58 * 977, uint64(rng.IntN(4000))} }
	for step := range 200_000 {
		switch op := rng.IntN(100); {
		case op < 70:
			k := key()
			cutoff := now - window
			prev, had := ref[k]
			wantDup := had && prev.ms >= cutoff
			pos, got := s.check(k, cutoff)
			if got != wantDup {
				t.Fatalf("step %d: check(%v) = %v, want %v", step, k, got, wantDup)
			}
			if !wantDup {
				allowed := step%3 == 0
				s.record(pos, now, allowed)
				ref[k] = seen{now, allowed}
				txn = append(txn, ins{k, now, prev, had})
			}
		case op < 80:
			now += int64(rng.IntN(5))
		case op < 85:
			cutoff := now - window
			s.expire(cutoff)
			for k, v := range ref {
				if v.ms < cutoff {
					delete(ref, k)
				}
			}
			s.begin()
			txn = txn[:0]
		case op < 88:
			s.rollback()
			for i := len(txn) - 1; i >= 0; i-- {
				delete(ref, txn[i].k)
			}
			txn = txn[:0]
			s.begin()
		default:
			k := key()
			prev, had := ref[k]
			if got := s.has(k, now-window); got != (had && prev.ms >= now-window) {
				t.Fatalf("step %d: has(%v) = %v", step, k, got)
			}
			if got := s.allowedNew(k, now-window); got != (had && prev.ms >= now-window && prev.allowed) {
				t.Fatalf("step %d: allowedNew(%v) = %v", step, k, got)
			}
		}
		if step%10_000 == 0 {
			for k, v := range ref {
				if !s.has(k, v.ms) || s.allowedNew(k, v.ms) != v.allowed {
					t.Fatalf("step %d: %v missing", step, k)
				}
			}
			if s.len() != len(ref) {
				t.Fatalf("step %d: len %d, want %d", step, s.len(), len(ref))
			}
		}
	}
}
