package limits

import (
	"strings"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// A changelog record that does not restore fails the router closed on the
// usage it held: the orders of accounts with a credit limit through the
// trading day, and every order while a window cap could still hold the lost
// usage; CANCELs pass; a checkpoint of the partition carries it to a
// restart; revoking the partition or the passing of its time lifts it.
func TestUnrestoredUsageFailsClosed(t *testing.T) {
	c := bare()
	c.Defaults.Account = Limits{MaxOrders: 100, WindowSeconds: 60, CreditLimit: 1e6}
	c.Defaults.Symbol = Limits{MaxOrders: 1000, WindowSeconds: 30}
	c.FutureSkew = 2000 * 1e6 // 2 s, in ns
	e := newEngine(t, c)
	if err := e.Restore(0, []byte{formatChanges, 0, 5}); err == nil {
		t.Fatal("a truncated changes record restored")
	}
	// The router fails the partition closed: the record was written at
	// t0, within a transaction timeout of 10 s.
	e.FailUsageClosed(0, t0+10_000, "offset 7: bad order")
	latest := t0 + 12_000 // with the skew
	at := func(acct string, ts int64, part int32) Result {
		o := ord(acct, "AAPL", "", 1, 10, ts)
		r, _ := e.Decide(&o, part, 0)
		return r
	}
	if s := e.Stats(); s.Unrestored != 1 {
		t.Fatalf("stats %+v", s)
	}
	if fc := e.Unrestored(); len(fc) != 1 || !strings.HasPrefix(fc[0], "changelog partition 0 usage not restored (offset 7: bad order;") {
		t.Fatalf("failed closed %q", fc)
	}

	// The partition's own accounts: credit, the whole trading day.
	wantBlock(t, at("a", t0, 0), KindUnrestoredUsage, "ACCOUNT:a unrestored_usage", 0)
	wantBlock(t, at("a", t0+3_600_000, 0), KindUnrestoredUsage, "ACCOUNT:a unrestored_usage", 0)
	cancel := ord("a", "AAPL", "", 1, 10, t0)
	cancel.Type = domain.OrderCancel
	if r, _ := e.Decide(&cancel, 0, 0); r.Blocked {
		t.Fatal("a CANCEL was blocked")
	}
	// Whatever the partition: a client's partitioner may have put the
	// account's orders anywhere.
	wantBlock(t, at("b", t0+3_600_000, 1), KindUnrestoredUsage, "ACCOUNT:b unrestored_usage", 0)
	// Without a credit limit: while a window cap still reaches back to the
	// latest lost order, the most general such scope named.
	c2 := c
	c2.Defaults.Account.CreditLimit = 0
	e2 := newEngine(t, c2)
	e2.FailUsageClosed(0, t0+10_000, "offset 7")
	for _, tc := range []struct {
		ts    int64
		limit string
	}{
		{latest + 29_999, "ACCOUNT:b unrestored_usage"},
		{latest + 59_999, "ACCOUNT:b unrestored_usage"}, // the account's window is 60 s
		{latest + 61_000, ""},
	} {
		o := ord("b", "AAPL", "", 1, 10, tc.ts)
		if r, _ := e2.Decide(&o, 1, 0); r.LimitName() != tc.limit {
			t.Fatalf("%d ms after the latest lost order: %q, want %q", tc.ts-latest, r.LimitName(), tc.limit)
		}
	}
	c3 := c2
	c3.Defaults.Account = Limits{}
	e3 := newEngine(t, c3)
	e3.FailUsageClosed(0, t0+10_000, "offset 7")
	for _, tc := range []struct {
		ts    int64
		limit string
	}{
		{latest + 29_999, "SYMBOL:AAPL unrestored_usage"}, // the symbol's window is 30 s
		{latest + 31_000, ""},
	} {
		o := ord("b", "AAPL", "", 1, 10, tc.ts)
		if r, _ := e3.Decide(&o, 0, 0); r.LimitName() != tc.limit {
			t.Fatalf("no account caps, %d ms after: %q, want %q", tc.ts-latest, r.LimitName(), tc.limit)
		}
	}

	// A checkpoint carries it: a router restoring the partition from it
	// fails closed too.
	recs := e.Checkpoint(0, 1<<10)
	fresh := newEngine(t, c)
	for _, rec := range recs {
		if err := fresh.Restore(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	o := ord("a", "AAPL", "", 1, 10, t0+3_600_000)
	if r, _ := fresh.Decide(&o, 0, 0); r.LimitName() != "ACCOUNT:a unrestored_usage" {
		t.Fatalf("restored from the checkpoint: %q", r.LimitName())
	}
	// Revoking the partition lifts it (its next owner replays the record).
	fresh.Revoke(0)
	if r, _ := fresh.Decide(&o, 0, 0); r.Blocked {
		t.Fatalf("after revoke: %q", r.LimitName())
	}

	// The next trading day (UTC midnight after t0), more than the longest
	// window allowed after the record: orders pass, Evict forgets it, and
	// checkpoints no longer carry it.
	next := int64(1_700_006_400_000)
	if latest+domain.MaxLimitWindowSeconds*1000 > next {
		t.Fatal("the test's next day is within the longest window")
	}
	wantPass(t, at("a", next, 0))
	e.Evict()
	if s := e.Stats(); s.Unrestored != 0 || len(e.Unrestored()) != 0 {
		t.Fatalf("after its day: stats %+v, %q", s, e.Unrestored())
	}
	fresh = newEngine(t, c)
	for _, rec := range e.Checkpoint(0, 1<<10) {
		if err := fresh.Restore(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	if fresh.Stats().Unrestored != 0 {
		t.Fatal("a checkpoint after its day carried the unrestored usage")
	}
}

// Two records that do not restore: the later latest time holds.
func TestUnrestoredUsageKeepsTheLatest(t *testing.T) {
	c := bare()
	c.Defaults.Global = Limits{MaxOrders: 1000, WindowSeconds: 10}
	e := newEngine(t, c)
	e.FailUsageClosed(2, t0+20_000, "later")
	e.FailUsageClosed(2, t0, "earlier")
	o := ord("a", "S", "", 1, 1, t0+29_000)
	if r, _ := e.Decide(&o, 0, 0); r.LimitName() != "GLOBAL unrestored_usage" {
		t.Fatalf("%q", r.LimitName())
	}
	if fc := e.Unrestored(); len(fc) != 1 || !strings.Contains(fc[0], "(later;") {
		t.Fatalf("%q", fc)
	}
}

// The day's credit rebuilt from the gated orders ends the credit part of an
// unrestored partition's block: each account's credit of the day rises to
// the gated sum (never falls), orders within the credit pass once the
// windows part has run out, orders beyond it are blocked by credit_limit; a
// checkpoint carries the rebuilt credit and the windows-only block, and a
// record lost after the rebuild fails the credit closed again.
func TestRebuiltCreditEndsTheCreditBlock(t *testing.T) {
	c := bare()
	c.Defaults.Account = Limits{MaxOrders: 100, WindowSeconds: 60, CreditLimit: 1500}
	c.FutureSkew = 2000 * 1e6 // 2 s, in ns
	e := newEngine(t, c)
	at := func(e *Engine, acct string, notional float64, ts int64) Result {
		o := ord(acct, "AAPL", "", 1, notional, ts)
		r, _ := e.Decide(&o, 0, 0)
		return r
	}
	// Usage the replay did restore, before the lost record.
	wantPass(t, at(e, "a", 200, t0-1000))
	wantPass(t, at(e, "f", 900, t0-1000))
	e.FailUsageClosed(0, t0+10_000, "offset 7")
	latest := t0 + 12_000 // with the skew
	after := latest + 61_000
	wantBlock(t, at(e, "a", 1, latest+30_000), KindUnrestoredUsage, "ACCOUNT:a unrestored_usage", 0)

	rbs := e.CreditRebuilds()
	if len(rbs) != 1 {
		t.Fatalf("%d rebuilds, want 1", len(rbs))
	}
	rb := rbs[0]
	dayStart := int64(1_699_920_000_000) // t0's UTC midnight
	if rb.Part != 0 || rb.FromMS != dayStart-2000 {
		t.Fatalf("rebuild of partition %d from %d, want 0 from %d", rb.Part, rb.FromMS, dayStart-2000)
	}
	gated := func(acct string, notional float64, ts, recordMS int64) {
		o := ord(acct, "AAPL", "", 1, notional, ts)
		rb.Add(&o, recordMS)
	}
	gated("a", 1000, t0, t0)                                   // holds the restored 200
	gated("b", 1400, t0+5000, t0+5000)                         // only in the lost record
	gated("c", 1000, dayStart-9000, dayStart-5000)             // the day before
	gated("c", 100, dayStart-3000, dayStart-1000)              // decided a skew before the day: may count in it
	gated("d", 100, dayStart+5000, dayStart+86_400_000)        // decided after the day, its ts in it
	gated("d", 100, dayStart-60_000, dayStart+86_400_000)      // decided after the day, stamped before it: counted at the clock
	gated("f", 300, t0, t0)                                    // less than the restored 900
	gated("g", 5000, dayStart+86_400_000, dayStart+86_400_000) // the next day
	cancel := ord("a", "AAPL", "", 1, 1e6, t0)
	cancel.Type = domain.OrderCancel
	rb.Add(&cancel, t0)
	if rb.Orders != 9 || rb.Counted != 6 {
		t.Fatalf("added %d, counted %d; want 9, 6", rb.Orders, rb.Counted)
	}
	if raised, ok := e.RebuildCredit(rb); !ok || raised != 4 {
		t.Fatalf("RebuildCredit: raised %d, ok %v; want 4 (a, b, c, d), true", raised, ok)
	}
	if _, ok := e.RebuildCredit(rb); ok {
		t.Fatal("a rebuild applied twice")
	}
	if len(e.CreditRebuilds()) != 0 {
		t.Fatal("a rebuild still wanted after RebuildCredit")
	}
	if fc := e.Unrestored(); len(fc) != 1 || !strings.Contains(fc[0], "; the day's credit rebuilt from orders.gated.v1, window caps only)") {
		t.Fatalf("failed closed %q", fc)
	}
	// The windows part still holds.
	wantBlock(t, at(e, "e", 1, latest+40_000), KindUnrestoredUsage, "ACCOUNT:e unrestored_usage", 0)
	check := func(e *Engine, fresh string) {
		t.Helper()
		wantBlock(t, at(e, "b", 200, after), KindCreditLimit, "ACCOUNT:b credit_limit=1500/day", 1600)
		wantBlock(t, at(e, "f", 700, after), KindCreditLimit, "ACCOUNT:f credit_limit=1500/day", 1600)
		wantPass(t, at(e, fresh, 1000, after)) // nothing gated today
	}
	check(e, "e")
	wantPass(t, at(e, "a", 500, after))
	wantBlock(t, at(e, "a", 1, after), KindCreditLimit, "ACCOUNT:a credit_limit=1500/day", 1501)

	// A checkpoint carries the rebuilt credit and the windows-only block.
	fresh := newEngine(t, c)
	for _, rec := range e.Checkpoint(0, 1<<10) {
		if err := fresh.Restore(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	if fc := fresh.Unrestored(); len(fc) != 1 || !strings.Contains(fc[0], "rebuilt from orders.gated.v1") || len(fresh.CreditRebuilds()) != 0 {
		t.Fatalf("restored from a checkpoint after the rebuild: %q, %d rebuilds wanted", fc, len(fresh.CreditRebuilds()))
	}
	check(fresh, "e2")
	// A record lost after the rebuild: the credit fails closed again.
	fresh.FailUsageClosed(0, t0+20_000, "offset 9")
	wantBlock(t, at(fresh, "h", 1, t0+20_000+2000+61_000), KindUnrestoredUsage, "ACCOUNT:h unrestored_usage", 0)
	if len(fresh.CreditRebuilds()) != 1 {
		t.Fatal("no rebuild wanted after a later record was lost")
	}

	// Once the longest window allowed has passed, the rebuilt block is
	// over within its day: Evict forgets it.
	wantPass(t, at(e, "z", 1, latest+domain.MaxLimitWindowSeconds*1000+1000))
	e.Evict()
	if fc := e.Unrestored(); len(fc) != 0 {
		t.Fatalf("an hour after a rebuild: %q", fc)
	}

	// Before the rebuild the credit part held past the windows.
	e2 := newEngine(t, c)
	e2.FailUsageClosed(0, t0+10_000, "offset 7")
	wantBlock(t, at(e2, "e", 1, after), KindUnrestoredUsage, "ACCOUNT:e unrestored_usage", 0)

	// A rebuild whose block changed since it began does nothing: a later
	// record lost, or the partition revoked.
	e2 = newEngine(t, c)
	e2.FailUsageClosed(0, t0, "offset 1")
	rb = e2.CreditRebuilds()[0]
	e2.FailUsageClosed(0, t0+1000, "offset 2")
	if _, ok := e2.RebuildCredit(rb); ok {
		t.Fatal("a rebuild begun before a later record was lost applied")
	}
	rb = e2.CreditRebuilds()[0]
	e2.Revoke(0)
	if _, ok := e2.RebuildCredit(rb); ok {
		t.Fatal("a rebuild of a revoked partition applied")
	}
}

// The rebuild covers the day of the latest lost order. The engine's day
// moves to it, so a later order stamped before it counts in it too; an
// engine restored from a checkpoint of the rebuild that holds no credit
// (whose day is still the one before) blocks an order of that earlier day
// for credit, as the lost usage counted in it.
func TestRebuiltCreditCoversItsDayOnly(t *testing.T) {
	c := bare()
	c.Defaults.Account = Limits{CreditLimit: 1500}
	c.FutureSkew = 2000 * 1e6
	e := newEngine(t, c)
	midnight := int64(1_700_006_400_000)            // after t0, UTC
	e.FailUsageClosed(0, midnight-1000, "offset 3") // latest, with the skew: a second into the next day
	rb := e.CreditRebuilds()[0]
	if _, ok := e.RebuildCredit(rb); !ok {
		t.Fatal("not applied")
	}
	fresh := newEngine(t, c)
	for _, rec := range e.Checkpoint(0, 1<<10) {
		if err := fresh.Restore(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	at := func(e *Engine, ts int64) Result {
		o := ord("a", "AAPL", "", 1, 10, ts)
		r, _ := e.Decide(&o, 0, 0)
		return r
	}
	wantPass(t, at(e, midnight-500))
	wantBlock(t, at(fresh, midnight-500), KindUnrestoredUsage, "ACCOUNT:a unrestored_usage", 0)
	wantPass(t, at(fresh, midnight+500))
}
