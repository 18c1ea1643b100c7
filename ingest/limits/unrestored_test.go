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
