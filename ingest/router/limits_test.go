package router

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

func TestDecideLimitedPrecedence(t *testing.T) {
	const acct = domain.Scope("ACCOUNT:A1")
	now := time.Now().UnixNano()

	// DROP before BLOCK: the kill is the larger incident.
	tb := NewTable(time.Now)
	tb.ApplyState(state(acct, domain.StatusKilled, 1))
	o := order("A1", "AAPL", "")
	if v := tb.DecideLimited(&o, now, false, true); v.Decision != domain.DecisionDrop {
		t.Errorf("killed and over a limit: %s, want DROP", v.Decision)
	}

	// A CANCEL is never BLOCKed.
	c := o
	c.Type = domain.OrderCancel
	tb = NewTable(time.Now)
	if v := tb.DecideLimited(&c, now, true, true); v.Decision != domain.DecisionAllow {
		t.Errorf("CANCEL over a limit: %s, want ALLOW", v.Decision)
	}

	// BLOCK before THROTTLE, and the BLOCK takes no token: after an idle
	// minute a 2/s throttle holds two tokens, and they are still there
	// after three BLOCKs.
	start := time.Unix(1_700_000_000, 0)
	tb = NewTable(func() time.Time { return start })
	st := state(acct, domain.StatusThrottled, 1)
	st.MaxRatePerSecond = 2
	tb.ApplyState(st)
	at := start.Add(time.Minute).UnixNano()
	for range 3 {
		if v := tb.DecideLimited(&o, at, false, true); v.Decision != domain.DecisionBlock || v.Reason != ReasonLimit {
			t.Fatalf("throttled and over a limit: %s (%s), want BLOCK", v.Decision, v.Reason)
		}
	}
	for i := range 2 {
		if v := tb.DecideLimited(&o, at, false, false); v.Decision != domain.DecisionAllow {
			t.Errorf("order %d under the limits after BLOCKs: %s, want ALLOW (a BLOCK took a token)", i, v.Decision)
		}
	}
	if v := tb.DecideLimited(&o, at, false, false); v.Decision != domain.DecisionThrottle {
		t.Errorf("third order under the limits: %s, want THROTTLE", v.Decision)
	}
}

// TestRouterBlocksAtTheCap routes a one-account burst past its max_orders:
// the orders under the cap pass, the crossing one and the rest are BLOCKed,
// audited with the limit and not gated, and a restarted router (replaying
// the changelog) keeps blocking.
func TestRouterBlocksAtTheCap(t *testing.T) {
	kc := newCluster(t)
	lc := limits.Default()
	lc.Defaults.Account.MaxOrders = 10
	cfg := Config{Kafka: kc, Limits: &lc, InstanceID: "r1"}
	_, stop := startRouterStop(t, cfg)

	burst := func(from, n int) {
		recs := make([]*kgo.Record, 0, n)
		for i := from; i < from+n; i++ {
			o := newOrder(fmt.Sprintf("o%03d", i), "ACC1", "AAPL")
			o.TS = time.Now().UnixMilli()
			recs = append(recs, orderRecord(t, o))
		}
		produce(t, kc, recs...)
	}
	burst(0, 15)
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 15))
	allowed, blocked := 0, 0
	for id, as := range got {
		a := as[0]
		switch a.Decision {
		case domain.DecisionAllow:
			allowed++
		case domain.DecisionBlock:
			blocked++
			if a.Limit != "ACCOUNT:ACC1 max_orders=10/60s" || a.LimitValue != 11 || a.Reason != ReasonLimit {
				t.Errorf("%s: BLOCK audited with limit %q value %v reason %q", id, a.Limit, a.LimitValue, a.Reason)
			}
		default:
			t.Errorf("%s: %s", id, a.Decision)
		}
	}
	if allowed != 10 || blocked != 5 {
		t.Fatalf("ALLOW %d BLOCK %d, want 10 and 5", allowed, blocked)
	}
	if n := len(consumeN(t, kc, domain.TopicGated, 10)); n != 10 {
		t.Fatalf("gated %d, want 10", n)
	}

	// A new router (same instance id) replays the usage: still blocked.
	stop()
	startRouter(t, Config{Kafka: kc, Limits: &lc, InstanceID: "r1"})
	burst(100, 3)
	got = audits(t, consumeN(t, kc, domain.TopicAudit, 18))
	for i := 100; i < 103; i++ {
		id := fmt.Sprintf("o%03d", i)
		if as := got[id]; len(as) != 1 || as[0].Decision != domain.DecisionBlock {
			t.Errorf("%s after restart: %+v, want one BLOCK", id, as)
		}
	}
}

// TestRouterReadsLimitsTopics bootstraps an override on risk.limits.v1 and
// a reference price on marketdata.ref.v1 written before the router starts:
// the override's max_order_qty and the collar around the reference decide
// from the first order.
func TestRouterReadsLimitsTopics(t *testing.T) {
	kc := newCluster(t)
	now := time.Now().UnixMilli()
	qty := 5.0
	lrec, _ := json.Marshal(domain.LimitsRecord{Scope: "ACCOUNT:ACC2", Limits: domain.LimitValues{MaxOrderQty: &qty},
		Version: 7, UpdatedTS: now, UpdatedBy: "test", Reason: "test"})
	ref, _ := json.Marshal(domain.RefPrice{Symbol: "MSFT", Price: 100, TS: now})
	produce(t, kc, &kgo.Record{Topic: domain.TopicLimits, Key: []byte("ACCOUNT:ACC2"), Value: lrec},
		&kgo.Record{Topic: domain.TopicRefPrices, Key: []byte("MSFT"), Value: ref})
	startRouter(t, Config{Kafka: kc})

	mk := func(id, acct string, qty, price float64) *kgo.Record {
		o := newOrder(id, acct, "MSFT")
		o.TS, o.Qty, o.Price = time.Now().UnixMilli(), qty, price
		return orderRecord(t, o)
	}
	produce(t, kc, mk("q-ok", "ACC2", 5, 100), mk("q-big", "ACC2", 6, 100),
		mk("c-ok", "ACC3", 1, 105), mk("c-far", "ACC3", 1, 150))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 4))
	want := map[string]string{"q-ok": "", "q-big": "ACCOUNT:ACC2 max_order_qty=5", "c-ok": "", "c-far": "SYMBOL:MSFT collar_pct=10"}
	for id, limit := range want {
		as := got[id]
		if len(as) != 1 {
			t.Fatalf("%s: %d audits", id, len(as))
		}
		a := as[0]
		if (limit == "") != (a.Decision == domain.DecisionAllow) || a.Limit != limit {
			t.Errorf("%s: %s limit %q, want limit %q", id, a.Decision, a.Limit, limit)
		}
		if id == "q-big" && a.LimitsVersion != 7 {
			t.Errorf("q-big: limits_version %d, want 7", a.LimitsVersion)
		}
	}
}
