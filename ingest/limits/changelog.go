package limits

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/riskgate/riskgate/domain"
)

// The engine's part of the router's changelog: records that, replayed in
// order for a partition (Restore), rebuild that partition's usage exactly.
//
// Two kinds. A changes record (AppendChanges) lists the orders a
// transaction allowed, as they were counted; it is written in that
// transaction, so it is durable exactly when the orders' decisions are. It
// is made while the order's data is in cache, at Commit, and costs about 25
// bytes per order. A checkpoint (Checkpoint) is every key's Usage in the
// partition; it lets a changelog with a time retention be replayed from any
// point after it, so the router writes one more often than the retention (a
// trading day's credit must outlive the changes that made it).
//
// Every record starts with its format byte and the engine's clock (the
// newest time counted, Unix ms, uvarint), so a replaying router counts
// later orders no earlier than what it restored.
//
//	changes:    2, clock, per order: second (gap from the order before,
//	            the first absolute), trading day (likewise), notional, then
//	            the account, symbol and strategy ids, each as a uvarint
//	            length and bytes (an empty strategy: length 0)
//	checkpoint: 1 (first record: the partition's usage is replaced) or 3
//	            (following records), clock, per key its scope type (0 GLOBAL,
//	            1 ACCOUNT, 2 SYMBOL, 3 STRATEGY), the length of its id, the
//	            id, and its Usage (see Usage); while the partition fails
//	            closed on unrestored usage (FailUsageClosed), the first
//	            record's first entry is 4 (5 once the day's credit was
//	            rebuilt, RebuildCredit) and that usage's latest time (Unix
//	            ms, uvarint) instead
const (
	formatCheckpoint     = 1
	formatChanges        = 2
	formatCheckpointMore = 3
)

// changeLog is the changes of one partition not yet taken by AppendChanges.
type changeLog struct {
	buf     []byte
	prevSec int64
	prevDay int32
	// Where the open transaction began, for RollbackTxn.
	mark     int
	markSec  int64
	markDay  int32
	recorded bool // changed since BeginTxn
}

func (e *Engine) changeLog(part int32) *changeLog {
	for int(part) >= len(e.changes) {
		e.changes = append(e.changes, changeLog{})
	}
	return &e.changes[part]
}

// record appends a committed order to its partition's changes.
func (e *Engine) record(r *Result) {
	cl := e.changeLog(r.part)
	if !cl.recorded {
		cl.recorded = true
		cl.mark, cl.markSec, cl.markDay = len(cl.buf), cl.prevSec, cl.prevDay
	}
	b := binary.AppendUvarint(cl.buf, uint64(int64(r.sec)-cl.prevSec))
	b = binary.AppendUvarint(b, uint64(r.day-cl.prevDay))
	b = binary.AppendUvarint(b, uint64(r.n))
	for _, id := range [...]string{r.o.AccountID, r.o.Symbol, r.o.Strategy} {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	cl.buf, cl.prevSec, cl.prevDay = b, int64(r.sec), r.day
}

// AppendChanges appends to dst a changes record of the orders partition
// part allowed since the last call, and forgets them; dst comes back
// unchanged when there were none. Commit records orders only inside a
// transaction (BeginTxn). It does not allocate when dst has room.
func (e *Engine) AppendChanges(dst []byte, part int32) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if part < 0 || int(part) >= len(e.changes) || len(e.changes[part].buf) == 0 {
		return dst
	}
	cl := &e.changes[part]
	dst = append(dst, formatChanges)
	dst = binary.AppendUvarint(dst, uint64(e.clock))
	dst = append(dst, cl.buf...)
	*cl = changeLog{buf: cl.buf[:0]}
	return dst
}

// rollbackChanges forgets the changes recorded since BeginTxn.
func (e *Engine) rollbackChanges() {
	for i := range e.changes {
		cl := &e.changes[i]
		if cl.recorded {
			cl.buf = cl.buf[:min(cl.mark, len(cl.buf))]
			cl.prevSec, cl.prevDay = cl.markSec, cl.markDay
			if len(cl.buf) == 0 {
				cl.prevSec, cl.prevDay = 0, 0
			}
		}
		cl.recorded = false
	}
}

// Checkpoint returns records holding every usage of partition part, each at
// most about maxBytes long (at least one key each); replayed in order they
// replace the partition's usage. They hold the changes not yet taken by
// AppendChanges, which are forgotten: write a checkpoint after the
// transaction's changes record, or outside a transaction.
func (e *Engine) Checkpoint(part int32, maxBytes int) [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(part) < len(e.changes) {
		cl := &e.changes[part]
		cl.buf, cl.prevSec, cl.prevDay = cl.buf[:0], 0, 0
	}
	var out [][]byte
	rec := e.checkpointHeader(formatCheckpoint)
	if u := e.unrestoredIn(part); u != nil && !u.expired(e.clock, e.today) {
		mark := byte(markUnrestored)
		if u.rebuilt {
			mark = markUnrestoredWindows
		}
		rec = append(rec, mark)
		rec = binary.AppendUvarint(rec, uint64(u.latest))
	}
	header := len(rec)
	sec := e.clock / 1000
	e.eachKey(func(k *key) {
		for _, c := range k.parts {
			if c.part != part {
				continue
			}
			u := k.usageIn(c)
			u.prune(sec - int64(k.lim.window))
			at := len(rec)
			rec = append(rec, byte(k.typ))
			rec = binary.AppendUvarint(rec, uint64(len(k.id)))
			rec = append(rec, k.id...)
			rec = appendUsage(rec, u)
			if len(rec) > maxBytes && at > header {
				out = append(out, rec[:at])
				rec = append(e.checkpointHeader(formatCheckpointMore), rec[at:]...)
			}
		}
	})
	return append(out, rec)
}

func (e *Engine) checkpointHeader(format byte) []byte {
	return binary.AppendUvarint([]byte{format}, uint64(e.clock))
}

// Restore applies a record of partition part's changelog (AppendChanges or
// Checkpoint), when the router replays the changelog on assignment or
// restart. Records must be applied in the order they were written. A
// malformed record changes nothing.
func (e *Engine) Restore(part int32, b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	part = max(part, 0)
	if err := readRecord(b, nil); err != nil {
		return fmt.Errorf("restore limits usage of partition %d: %w", part, err)
	}
	return readRecord(b, &restorer{e: e, part: part})
}

// RecordClock returns the clock a changelog record carries.
func RecordClock(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty record", ErrUsage)
	}
	r := reader{b: b, i: 1}
	clock := int64(r.uvarint(maxTS))
	return clock, r.err
}

// restorer applies what readRecord reads.
type restorer struct {
	e    *Engine
	part int32
	u    Usage
}

// readRecord parses a changelog record, applying it when to is not nil.
func readRecord(b []byte, to *restorer) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty record", ErrUsage)
	}
	format := b[0]
	r := reader{b: b, i: 1}
	clock := int64(r.uvarint(maxTS))
	if r.err != nil {
		return r.err
	}
	if to != nil {
		// Later orders must count no earlier than what was restored, and
		// what the record holds that is older than its windows then
		// counts only against credit.
		to.e.clock = max(to.e.clock, clock)
	}
	switch format {
	case formatChanges:
		var sec, day int64
		for r.i < len(b) {
			sec += int64(r.uvarint(math.MaxUint32))
			day += int64(r.uvarint(math.MaxInt32))
			n := int64(r.uvarint(math.MaxInt64))
			var ids [4]string
			for t := tAccount; t <= tStrategy; t++ {
				ids[t] = r.id(t)
			}
			if r.err != nil {
				return r.err
			}
			if sec > math.MaxUint32 || day > math.MaxInt32 || ids[tAccount] == "" || ids[tSymbol] == "" {
				return fmt.Errorf("%w: bad order at byte %d", ErrUsage, r.i)
			}
			if to != nil {
				to.change(&ids, uint32(sec), int32(day), n)
			}
		}
	case formatCheckpoint, formatCheckpointMore:
		if to != nil && format == formatCheckpoint {
			to.clear()
		}
		for r.i < len(b) {
			typ := int(b[r.i])
			r.i++
			if (typ == markUnrestored || typ == markUnrestoredWindows) && format == formatCheckpoint {
				latest := int64(r.uvarint(maxTS))
				if r.err != nil {
					return r.err
				}
				if to != nil {
					to.e.failUsage(to.part, latest, "carried by a checkpoint of a router that could not restore it", typ == markUnrestored)
				}
				continue
			}
			if typ > tStrategy {
				return fmt.Errorf("%w: scope type %d at byte %d", ErrUsage, typ, r.i-1)
			}
			id := r.id(typ)
			if r.err != nil {
				return r.err
			}
			if typ != tGlobal && id == "" {
				return fmt.Errorf("%w: %s without an id at byte %d", ErrUsage, domain.ScopeTypes[typ], r.i)
			}
			var u Usage
			su := &u
			if to != nil {
				su = &to.u
			}
			m, err := DecodeUsage(b[r.i:], su)
			if err != nil {
				return fmt.Errorf("usage of %s %q: %w", domain.ScopeTypes[typ], id, err)
			}
			r.i += m
			if to != nil {
				to.load(typ, id, su)
			}
		}
	default:
		return fmt.Errorf("%w: unknown record format %d", ErrUsage, format)
	}
	return nil
}

// id reads an id of scope type typ: empty for GLOBAL and for a missing
// strategy, else valid.
func (r *reader) id(typ int) string {
	l := r.uvarint(domain.MaxIDLen)
	if r.err != nil {
		return ""
	}
	if int(l) > len(r.b)-r.i || typ == tGlobal && l != 0 {
		r.err = fmt.Errorf("%w: bad id length at byte %d", ErrUsage, r.i)
		return ""
	}
	id := r.b[r.i : r.i+int(l)]
	r.i += int(l)
	if l > 0 {
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				r.err = fmt.Errorf("%w: id %q is not a valid %s id", ErrUsage, id, domain.ScopeTypes[typ])
				return ""
			}
		}
	}
	return string(id)
}

// change counts one order of a changes record, as Commit did.
func (to *restorer) change(ids *[4]string, sec uint32, day int32, n int64) {
	e := to.e
	for t := tGlobal; t <= tStrategy; t++ {
		if t == tStrategy && ids[t] == "" {
			break
		}
		e.count(e.keyFor(t, ids[t]), to.part, sec, day, n)
	}
	e.clock = max(e.clock, int64(sec)*1000)
	e.today = max(e.today, day)
}

// clear forgets the partition's usage before a checkpoint replaces it.
func (to *restorer) clear() {
	to.e.eachKey(func(k *key) {
		for _, c := range k.parts {
			if c.part == to.part {
				k.unmerge(c)
				c.u.load(&Usage{}, 0)
			}
		}
	})
}

// load replaces a key's usage in the partition with a checkpoint's.
func (to *restorer) load(typ int, id string, s *Usage) {
	k := to.e.keyFor(typ, id)
	c := k.contrib(to.part)
	k.unmerge(c)
	c.u.load(s, to.e.clock/1000-int64(k.lim.window))
	k.merge(c)
	if s.Credit > 0 {
		to.e.today = max(to.e.today, s.Day)
	}
}
