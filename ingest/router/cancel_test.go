package router

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// TestCancelPassesOnlyForAnAllowedOrder: a CANCEL passes a kill or a
// throttle only when its order_id was ALLOWed as a NEW order within the
// dedup window, also after a restart (the dedup changelog remembers which
// ids were ALLOWed). Any other CANCEL under a kill or a throttle is
// REJECTed with a reason naming the scope; where no kill or throttle
// applies, a CANCEL passes whatever its id.
func TestCancelPassesOnlyForAnAllowedOrder(t *testing.T) {
	kc := newCluster(t)
	cancelOf := func(id, acct, sym string, qty float64) *kgo.Record {
		o := newOrder(id, acct, sym)
		o.Type = domain.OrderCancel
		o.Qty = qty
		return orderRecord(t, o)
	}

	r, stop := startRouterStop(t, Config{Kafka: kc, InstanceID: "r1"})
	produce(t, kc,
		orderRecord(t, newOrder("n1", "K1", "AAPL")),
		orderRecord(t, newOrder("n2", "K1", "AAPL")),
		cancelOf("free", "A1", "AAPL", 5), // nothing killed: passes
	)
	consumeN(t, kc, domain.TopicAudit, 3)
	produce(t, kc,
		stateRecord(t, domain.State{Scope: "ACCOUNT:K1", Status: domain.StatusKilled, Version: 1, CorrID: "kill-k1", Reason: "runaway"}),
		stateRecord(t, domain.State{Scope: "SYMBOL:SLOW", Status: domain.StatusThrottled, MaxRatePerSecond: 0.001, Version: 1, CorrID: "thr-slow"}),
	)
	waitState(t, r, "ACCOUNT:K1", 1)
	waitState(t, r, "SYMBOL:SLOW", 1)
	produce(t, kc,
		orderRecord(t, newOrder("d1", "K1", "AAPL")), // DROPped: never went out
		cancelOf("n1", "K1", "AAPL", 10),
		cancelOf("ghost", "K1", "AAPL", 1e6),
		cancelOf("d1", "K1", "AAPL", 10),
		cancelOf("slow-ghost", "A3", "SLOW", 10),
	)
	consumeN(t, kc, domain.TopicAudit, 8)
	stop()

	// A fresh router rebuilds which ids were ALLOWed from the changelog.
	startRouter(t, Config{Kafka: kc, InstanceID: "r2"})
	produce(t, kc, cancelOf("n2", "K1", "AAPL", 10), cancelOf("ghost2", "K1", "AAPL", 10))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 10))

	type want struct {
		decision domain.Decision
		reason   string // a part of the reason
	}
	wants := map[string][]want{
		"n1":         {{domain.DecisionAllow, ""}, {domain.DecisionAllow, "CANCEL"}},
		"n2":         {{domain.DecisionAllow, ""}, {domain.DecisionAllow, "CANCEL"}},
		"free":       {{domain.DecisionAllow, ""}},
		"d1":         {{domain.DecisionDrop, "ACCOUNT:K1"}, {domain.DecisionReject, "ACCOUNT:K1"}},
		"ghost":      {{domain.DecisionReject, "ACCOUNT:K1"}},
		"ghost2":     {{domain.DecisionReject, "ACCOUNT:K1"}},
		"slow-ghost": {{domain.DecisionReject, "SYMBOL:SLOW"}},
	}
	for id, ws := range wants {
		as := got[id]
		if len(as) != len(ws) {
			t.Errorf("%s: %d audit records, want %d: %+v", id, len(as), len(ws), as)
			continue
		}
		for i, w := range ws {
			if as[i].Decision != w.decision || !strings.Contains(as[i].Reason, w.reason) {
				t.Errorf("%s audit %d: %s %q, want %s with %q", id, i, as[i].Decision, as[i].Reason, w.decision, w.reason)
			}
		}
	}
	if a := got["ghost"]; len(a) == 1 && (a[0].CorrID != "kill-k1" || a[0].KillswitchStatus != domain.StatusKilled ||
		!strings.Contains(a[0].Reason, "CANCEL")) {
		t.Errorf("REJECT of an unknown CANCEL does not trace to the kill: %+v", a[0])
	}

	gated := map[string]int{}
	for _, g := range consumeN(t, kc, domain.TopicGated, 5) {
		o, err := domain.DecodeOrder(g.Value)
		if err != nil {
			t.Fatal(err)
		}
		kind := "NEW "
		if o.IsCancel() {
			kind = "CANCEL "
		}
		gated[kind+o.OrderID]++
	}
	wantGated := map[string]int{"NEW n1": 1, "NEW n2": 1, "CANCEL free": 1, "CANCEL n1": 1, "CANCEL n2": 1}
	if len(gated) != len(wantGated) {
		t.Errorf("gated %v, want %v", gated, wantGated)
	}
	for k, n := range wantGated {
		if gated[k] != n {
			t.Errorf("gated %v, want %v", gated, wantGated)
			break
		}
	}
	// A CANCEL of an unknown order is a well-formed record: audited, not a
	// DLQ entry to repair and resend.
	if dlq := consumeN(t, kc, domain.TopicDLQ, 0); len(dlq) != 0 {
		t.Errorf("%d DLQ records, want none", len(dlq))
	}
}
