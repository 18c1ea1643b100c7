package limits

import (
	"slices"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// TestUnreadableLimitsFailClosed: a scope whose latest risk.limits.v1
// record could not be read blocks every order of the scope, before any
// other limit, naming the scope and the version it held; a CANCEL passes;
// other scopes are not touched; a record no newer than the one held leaves
// it failing, a newer one or a tombstone lifts it.
func TestUnreadableLimitsFailClosed(t *testing.T) {
	c := bare()
	c.Defaults.Account.MaxOrderQty = 1 // an order the unreadable limits block first
	e := newEngine(t, c)
	override(t, e, "ACCOUNT:a", 4, domain.LimitValues{MaxOrders: i64(1000)})
	e.FailLimitsClosed("ACCOUNT:a", "undecodable record at 0/7")
	e.FailLimitsClosed("STRATEGY:algo", "undecodable record at 1/2")

	// Evicting the scopes that hold nothing keeps those failing closed
	// (STRATEGY:algo has no override, no usage, no reference).
	e.Evict()
	r := decide(e, ord("a", "S", "", 5, 1, t0))
	wantBlock(t, r, KindUnreadableLimits, "ACCOUNT:a unreadable_limits", 0)
	if r.Version != 4 {
		t.Errorf("version %d, want the one held (4)", r.Version)
	}
	wantBlock(t, decide(e, ord("b", "S", "algo", 1, 1, t0)), KindUnreadableLimits, "STRATEGY:algo unreadable_limits", 0)
	wantPass(t, decide(e, ord("b", "S", "other", 1, 1, t0)))
	cancel := ord("a", "S", "algo", 5, 1, t0)
	cancel.Type = domain.OrderCancel
	wantPass(t, decide(e, cancel))
	if got, want := e.FailedClosed(), []string{
		"risk.limits.v1 ACCOUNT:a (undecodable record at 0/7)",
		"risk.limits.v1 STRATEGY:algo (undecodable record at 1/2)",
	}; !slices.Equal(got, want) {
		t.Errorf("FailedClosed() = %q, want %q", got, want)
	}

	if ok, _ := e.ApplyLimits(domain.LimitsRecord{Scope: "ACCOUNT:a", Version: 4}); ok {
		t.Fatal("a record no newer than the one held was applied")
	}
	wantBlock(t, decide(e, ord("a", "S", "", 1, 1, t0)), KindUnreadableLimits, "ACCOUNT:a unreadable_limits", 0)
	override(t, e, "ACCOUNT:a", 5, domain.LimitValues{MaxOrderQty: f64(10)})
	wantPass(t, decide(e, ord("a", "S", "", 5, 1, t0)))
	e.DeleteLimits("STRATEGY:algo")
	wantPass(t, decide(e, ord("b", "S", "algo", 1, 1, t0)))
	if got := e.FailedClosed(); len(got) != 0 {
		t.Errorf("FailedClosed() = %q after both were lifted", got)
	}

	// GLOBAL fails closed alike: every order.
	e.FailLimitsClosed(domain.Global, "why")
	wantBlock(t, decide(e, ord("z", "Q", "", 1, 1, t0)), KindUnreadableLimits, "GLOBAL unreadable_limits", 0)
	e.DeleteLimits(domain.Global)
	wantPass(t, decide(e, ord("z", "Q", "", 1, 1, t0)))
}

// TestUnreadableReferenceFailsClosed: a symbol whose latest
// marketdata.ref.v1 record could not be read blocks its orders as a stale
// reference does (wherever a collar applies), until a readable record or a
// tombstone.
func TestUnreadableReferenceFailsClosed(t *testing.T) {
	c := bare()
	c.Defaults.Symbol.CollarPct = 10
	e := newEngine(t, c)
	ref(t, e, "AAPL", 100, t0)
	e.FailReferenceClosed("AAPL", "undecodable record at 2/9")
	e.FailReferenceClosed("NEW", "undecodable record at 0/1")
	wantBlock(t, decide(e, ord("a", "AAPL", "", 1, 100, t0)), KindUnreadableReference, "SYMBOL:AAPL unreadable_reference", 0)
	wantBlock(t, decide(e, ord("a", "NEW", "", 1, 100, t0)), KindUnreadableReference, "SYMBOL:NEW unreadable_reference", 0)
	wantPass(t, decide(e, ord("a", "MSFT", "", 1, 100, t0)))
	if got := e.FailedClosed(); len(got) != 2 || got[0] != "marketdata.ref.v1 SYMBOL:AAPL (undecodable record at 2/9)" {
		t.Errorf("FailedClosed() = %q", got)
	}
	if s := e.Stats(); s.References != 2 {
		t.Errorf("%d references held, want 2 (the unreadable ones)", s.References)
	}
	ref(t, e, "AAPL", 100, t0-1) // readable, even if older: the latest record is what counts
	wantPass(t, decide(e, ord("a", "AAPL", "", 1, 100, t0)))
	e.DeleteReference("NEW")
	wantPass(t, decide(e, ord("a", "NEW", "", 1, 100, t0)))
	if got, s := e.FailedClosed(), e.Stats(); len(got) != 0 || s.References != 1 {
		t.Errorf("FailedClosed() = %q, %d references, want none failing and 1", got, s.References)
	}

	// Without a collar the reference is not read, as for a stale one.
	e2 := newEngine(t, bare())
	e2.FailReferenceClosed("AAPL", "why")
	wantPass(t, decide(e2, ord("a", "AAPL", "", 1, 100, t0)))
}
