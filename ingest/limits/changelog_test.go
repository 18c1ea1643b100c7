package limits

import (
	"errors"
	"fmt"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// FuzzRestore checks that a changelog record, however damaged, never panics
// the engine, and that a malformed one changes nothing.
func FuzzRestore(f *testing.F) {
	e := newEngine(f, Default())
	e.BeginTxn()
	for i := range 3 {
		o := ord(fmt.Sprint("a", i), "AAPL", []string{"VWAP", ""}[i%2], 10, 190, t0+int64(i)*1000)
		e.Decide(&o, 0, 0)
	}
	f.Add(e.AppendChanges(nil, 0))
	for _, rec := range e.Checkpoint(0, 30) {
		f.Add(rec)
	}
	e.FailUsageClosed(0, t0, "seed") // a checkpoint carrying unrestored usage
	f.Add(e.Checkpoint(0, 1<<10)[0])
	f.Add([]byte{formatChanges, 0})
	f.Add([]byte{formatCheckpoint, 0, markUnrestored, 0x80})
	f.Add([]byte{formatCheckpoint, 0, markUnrestoredWindows, 0x80, 0x01})
	f.Add([]byte{formatCheckpoint, 0, 1, 1, 'a', 0, 0, 0})
	f.Add([]byte{formatCheckpointMore, 0, 0, 1, 'a', 0, 0, 0})
	f.Add([]byte{formatChanges, 0, 5, 5, 5, 1, 'a', 1, 'b', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := newEngine(t, Default())
		err := e.Restore(0, b)
		if err != nil {
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("error %v does not wrap ErrUsage", err)
			}
			if s := e.Stats(); s.Keys != 1 {
				t.Fatalf("a malformed record left keys: %+v", s)
			}
			return
		}
		o := ord("a", "AAPL", "VWAP", 1, 190, t0)
		r := e.Check(&o, 0, 0)
		e.Commit(&r)
		e.Revoke(0)
		if c, n, _, _ := snapshot(e, tGlobal, ""); c != 0 || n != 0 {
			t.Fatalf("after revoking the only partition GLOBAL holds %d orders, %d notional", c, n)
		}
	})
}

// snapshot is a test's view of a key's whole usage.
func snapshot(e *Engine, typ int, id string) (count, notional int64, credit int64, parts int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.lookup(typ, id)
	if k == nil {
		return 0, 0, 0, 0
	}
	c, n := k.agg.sums(e.clock/1000 - int64(k.lim.window))
	return c, n, k.agg.creditOn(e.today), len(k.parts)
}

// changelog is what a router writes: per partition, the records of the
// transactions that committed.
type changelog [3][][]byte

// txn decides orders in one transaction and writes its changes.
func (l *changelog) txn(e *Engine, orders []domain.Order, parts []int32) {
	e.BeginTxn()
	for i := range orders {
		r := e.Check(&orders[i], parts[i], 0)
		e.Commit(&r)
	}
	for p := range int32(3) {
		if rec := e.AppendChanges(nil, p); len(rec) > 0 {
			l[p] = append(l[p], rec)
		}
	}
	e.EndTxn()
}

func (l *changelog) restore(t *testing.T, e *Engine) {
	t.Helper()
	for p := range int32(3) {
		for _, rec := range l[p] {
			if err := e.Restore(p, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A router that restores the changelog of its partitions decides the next
// orders exactly as the router that wrote it would have, whether the
// changelog holds changes only or starts with a checkpoint.
func TestRestoreContinuesTheBudget(t *testing.T) {
	for _, checkpoint := range []bool{false, true} {
		t.Run(fmt.Sprint("checkpoint=", checkpoint), func(t *testing.T) {
			c := Default()
			a := newEngine(t, c)
			var log changelog
			ts := t0
			for txn := range 20 {
				var orders []domain.Order
				var parts []int32
				for i := range 8 {
					ts += 100
					orders = append(orders, ord(fmt.Sprint("acct", i%3), "AAPL", []string{"VWAP", ""}[i%2], 10, 190, ts))
					parts = append(parts, int32(i%3))
				}
				log.txn(a, orders, parts)
				if checkpoint && txn == 10 {
					for p := range int32(3) {
						log[p] = append(log[p][:0], a.Checkpoint(p, 50)...)
					}
				}
			}
			b := newEngine(t, c)
			log.restore(t, b)
			for _, k := range []struct {
				typ int
				id  string
			}{{tGlobal, ""}, {tAccount, "acct0"}, {tAccount, "acct2"}, {tSymbol, "AAPL"}, {tStrategy, "VWAP"}} {
				ac, an, acr, _ := snapshot(a, k.typ, k.id)
				bc, bn, bcr, _ := snapshot(b, k.typ, k.id)
				if ac != bc || an != bn || acr != bcr {
					t.Errorf("%s %s: restored %d/%d/%d, written %d/%d/%d", domain.ScopeTypes[k.typ], k.id, bc, bn, bcr, ac, an, acr)
				}
			}
			for i := range 200 {
				ts += 100
				o := ord(fmt.Sprint("acct", i%4), "AAPL", "VWAP", 10, 190, ts)
				ra, _ := a.Decide(&o, int32(i%3), 0)
				rb, _ := b.Decide(&o, int32(i%3), 0)
				if ra.Blocked != rb.Blocked || ra.LimitName() != rb.LimitName() {
					t.Fatalf("order %d: writer %q, restored %q", i, ra.LimitName(), rb.LimitName())
				}
			}
		})
	}
}

// A changes record costs a few bytes per order, and taking it allocates
// nothing.
func TestChangesRecordSize(t *testing.T) {
	e := newEngine(t, Default())
	buf := make([]byte, 0, 1<<16)
	e.BeginTxn()
	for i := range 100 {
		o := ord(fmt.Sprint(10000+i), "AAPL", "MOMENTUM", 10, 190, t0+int64(i)*10)
		e.Decide(&o, 0, t0)
	}
	if n := testing.AllocsPerRun(1, func() { buf = e.AppendChanges(buf[:0], 0) }); n != 0 {
		t.Errorf("AppendChanges allocates %v", n)
	}
	e.EndTxn()
	if len(buf) > 100*30 {
		t.Errorf("%d bytes for 100 orders", len(buf))
	}
	t.Logf("%d bytes for 100 orders", len(buf))
}

// A partition moving to another router takes its usage with it: the old
// owner forgets it, the new one restores it, and no scope's usage is lost
// or counted twice.
func TestRevokeMovesUsage(t *testing.T) {
	c := bare()
	c.Defaults.Symbol.MaxOrders = 100
	c.Defaults.Account.CreditLimit = 1e6
	a, b := newEngine(t, c), newEngine(t, c)
	var log changelog
	var orders []domain.Order
	var parts []int32
	for i := range 30 {
		orders = append(orders, ord(fmt.Sprint("acct", i%3), "S", "", 1, 10, t0+int64(i)))
		parts = append(parts, int32(i%3))
	}
	log.txn(a, orders, parts)
	if cnt, _, _, parts := snapshot(a, tSymbol, "S"); cnt != 30 || parts != 3 {
		t.Fatalf("symbol count %d over %d partitions", cnt, parts)
	}
	a.Revoke(1)
	for _, rec := range log[1] {
		if err := b.Restore(1, rec); err != nil {
			t.Fatal(err)
		}
	}
	ac, an, _, _ := snapshot(a, tSymbol, "S")
	bc, bn, _, _ := snapshot(b, tSymbol, "S")
	if ac != 20 || bc != 10 || an+bn != 30*10*Scale {
		t.Fatalf("after the move: %d + %d orders, %d + %d notional", ac, bc, an, bn)
	}
	if _, _, cr, _ := snapshot(a, tAccount, "acct1"); cr != 0 {
		t.Errorf("old owner still holds acct1's credit %d", cr)
	}
	if _, _, cr, _ := snapshot(b, tAccount, "acct1"); cr != 10*10*Scale {
		t.Errorf("new owner holds acct1's credit %d, want %d", cr, 100*Scale)
	}
	// A checkpoint replayed on top replaces, never adds.
	for _, rec := range b.Checkpoint(1, 1<<20) {
		if err := b.Restore(1, rec); err != nil {
			t.Fatal(err)
		}
	}
	if bc2, _, _, _ := snapshot(b, tSymbol, "S"); bc2 != 10 {
		t.Fatalf("replaying a checkpoint counts %d", bc2)
	}
}

// An aborted transaction's orders are taken back, and so are its changes;
// an earlier transaction's stay.
func TestRollbackTxn(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrders = 5
	c.Defaults.Account.CreditLimit = 100
	e := newEngine(t, c)
	e.BeginTxn()
	for range 2 {
		wantPass(t, decide(e, ord("a", "S", "", 1, 10, t0)))
	}
	e.EndTxn()
	e.BeginTxn()
	for i := range 3 {
		wantPass(t, decide(e, ord("a", "S", "", 1, 10, t0+int64(i)*1000)))
	}
	wantBlock(t, decide(e, ord("a", "S", "", 1, 10, t0+3000)), KindMaxOrders, "ACCOUNT:a max_orders=5/60s", 6)
	e.RollbackTxn()
	if cnt, n, cr, _ := snapshot(e, tAccount, "a"); cnt != 2 || n != 20*Scale || cr != 20*Scale {
		t.Fatalf("after rollback: %d orders, %d notional, %d credit", cnt, n, cr)
	}
	// The changes left are those of the committed transaction.
	rec := e.AppendChanges(nil, 0)
	fresh := newEngine(t, c)
	if err := fresh.Restore(0, rec); err != nil {
		t.Fatal(err)
	}
	if cnt, _, _, _ := snapshot(fresh, tAccount, "a"); cnt != 2 {
		t.Fatalf("the changes hold %d orders, want 2", cnt)
	}
	for range 3 {
		wantPass(t, decide(e, ord("a", "S", "", 1, 10, t0+4000)))
	}
	wantBlock(t, decide(e, ord("a", "S", "", 1, 10, t0+4000)), KindMaxOrders, "ACCOUNT:a max_orders=5/60s", 6)
}

func TestEvict(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrders = 5
	c.Defaults.Account.CreditLimit = 100
	e := newEngine(t, c)
	ref(t, e, "R", 1, t0)
	wantPass(t, decide(e, ord("a", "S", "x", 1, 1, t0)))
	if n := e.Evict(); n != 0 {
		t.Fatalf("evicted %d keys with usage", n)
	}
	// A day later: the window is empty and the credit was yesterday's.
	o := ord("b", "R", "", 1, 1, t0+86_400_000)
	e.Check(&o, 0, 0)
	if n := e.Evict(); n != 3 { // ACCOUNT:a, SYMBOL:S, STRATEGY:x
		t.Fatalf("evicted %d keys, want 3", n)
	}
	if s := e.Stats(); s.Keys != 2 || s.References != 1 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := e.ApplyLimits(domain.LimitsRecord{Scope: "ACCOUNT:z", Version: 1}); err != nil {
		t.Fatal(err)
	}
	if n := e.Evict(); n != 0 {
		t.Fatalf("evicted a scope with an override")
	}
}
