package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
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

// labelledValue is the value of a counter or gauge series with the label.
func labelledValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not found", name, label, value)
	return 0
}

// TestUnreadableLimitsRecordsFailClosed: a risk.limits.v1 record that
// cannot be read (or names another scope than its key) BLOCKs every order
// of the scope its key names, and an unreadable marketdata.ref.v1 record
// every order in its symbol (which has a collar), until a readable record
// arrives — whether read at bootstrap or while following; a CANCEL passes,
// other scopes are untouched, and /readyz and the metrics say which.
func TestUnreadableLimitsRecordsFailClosed(t *testing.T) {
	kc := newCluster(t)
	now := time.Now().UnixMilli()
	raw := func(topic, key, value string) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}
	}
	limitsRec := func(scope domain.Scope, version int64) string {
		qty := 1e6
		b, _ := json.Marshal(domain.LimitsRecord{Scope: scope, Limits: domain.LimitValues{MaxOrderQty: &qty},
			Version: version, UpdatedTS: now, UpdatedBy: "test", Reason: "test"})
		return string(b)
	}
	refRec := func(sym string, price float64) string {
		b, _ := json.Marshal(domain.RefPrice{Symbol: sym, Price: price, TS: time.Now().UnixMilli()})
		return string(b)
	}
	produce(t, kc,
		raw(domain.TopicLimits, "ACCOUNT:U1", `{"scope":"ACCOUNT:U1","limits":{"max_orders":"lots"},"version":3}`),
		raw(domain.TopicLimits, "ACCOUNT:U2", limitsRec("ACCOUNT:U3", 1)), // under another scope's key
		raw(domain.TopicLimits, "no scope", `{oops`),                      // nothing to fail closed
		raw(domain.TopicRefPrices, "MSFT", `{"symbol":"MSFT","price":-5,"ts":1}`),
		raw(domain.TopicRefPrices, "AAPL", refRec("AAPL", 100)),
	)
	reg := prometheus.NewRegistry()
	r := startRouter(t, Config{Kafka: kc, Registerer: reg})
	if got := labelledValue(t, reg, "riskgate_router_limits_unreadable_total", "topic", domain.TopicLimits); got != 3 {
		t.Errorf("unreadable %s records = %v, want 3", domain.TopicLimits, got)
	}
	if got := labelledValue(t, reg, "riskgate_router_limits_unreadable_total", "topic", domain.TopicRefPrices); got != 1 {
		t.Errorf("unreadable %s records = %v, want 1", domain.TopicRefPrices, got)
	}
	if got := metricValue(t, reg, "riskgate_router_limits_failed_closed_scopes"); got != 3 {
		t.Errorf("riskgate_router_limits_failed_closed_scopes = %v, want 3", got)
	}
	detail := r.ReadyDetail()
	for _, want := range []string{"ready;", "3 unreadable risk.limits.v1 records", "1 unreadable marketdata.ref.v1 records",
		"failing closed (BLOCK) until a readable record: marketdata.ref.v1 SYMBOL:MSFT (unreadable record:",
		"risk.limits.v1 ACCOUNT:U1 (unreadable record:", "risk.limits.v1 ACCOUNT:U2 (unreadable record: a record of ACCOUNT:U3 under the key ACCOUNT:U2)"} {
		if !strings.Contains(detail, want) {
			t.Errorf("ReadyDetail %q does not say %q", detail, want)
		}
	}

	mk := func(id, acct, sym string) *kgo.Record {
		o := newOrder(id, acct, sym)
		o.TS, o.Price = time.Now().UnixMilli(), 100
		return orderRecord(t, o)
	}
	cancel := newOrder("f-cancel", "U1", "AAPL")
	cancel.Type, cancel.TS, cancel.Price = domain.OrderCancel, time.Now().UnixMilli(), 100
	produce(t, kc, mk("f-u1", "U1", "AAPL"), mk("f-u2", "U2", "AAPL"), mk("f-u3", "U3", "AAPL"), mk("f-msft", "U3", "MSFT"),
		orderRecord(t, cancel))
	want := map[string]string{"f-u1": "ACCOUNT:U1 unreadable_limits", "f-u2": "ACCOUNT:U2 unreadable_limits", "f-u3": "",
		"f-msft": "SYMBOL:MSFT unreadable_reference", "f-cancel": ""}
	checkLimits := func(got map[string][]domain.AuditRecord, want map[string]string) {
		t.Helper()
		for id, limit := range want {
			as := got[id]
			if len(as) != 1 {
				t.Fatalf("%s: %d audits", id, len(as))
			}
			if a := as[0]; (limit == "") != (a.Decision == domain.DecisionAllow) || a.Limit != limit {
				t.Errorf("%s: %s limit %q, want limit %q", id, a.Decision, a.Limit, limit)
			}
		}
	}
	checkLimits(audits(t, consumeN(t, kc, domain.TopicAudit, 5)), want)

	// Readable records lift it; one read while following fails closed.
	produce(t, kc,
		raw(domain.TopicLimits, "ACCOUNT:U1", limitsRec("ACCOUNT:U1", 4)),
		raw(domain.TopicRefPrices, "MSFT", refRec("MSFT", 100)),
		raw(domain.TopicLimits, "ACCOUNT:U4", `not json`),
	)
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, reg, "riskgate_router_limits_failed_closed_scopes") != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("failed closed: %q, want ACCOUNT:U2 and ACCOUNT:U4", r.lim.FailedClosed())
		}
	}
	produce(t, kc, mk("g-u1", "U1", "AAPL"), mk("g-msft", "U3", "MSFT"), mk("g-u4", "U4", "AAPL"))
	checkLimits(audits(t, consumeN(t, kc, domain.TopicAudit, 8)), map[string]string{"g-u1": "", "g-msft": "",
		"g-u4": "ACCOUNT:U4 unreadable_limits"})
}

// TestUnrestoredUsageFailsClosed starts a router on a changelog holding a
// limits usage record it cannot restore (a damaged log, a later release's
// format): the usage that record held is unknown, so the router BLOCKs
// what it could count against (with the default limits, every order while
// the windows reach back to it, and accounts' orders for the trading day)
// and says so, instead of handing that budget back. A CANCEL passes.
func TestUnrestoredUsageFailsClosed(t *testing.T) {
	kc := newCluster(t)
	damageUsage(t, kc, 1, time.Now())
	reg := prometheus.NewRegistry()
	r := startRouter(t, Config{Kafka: kc, Registerer: reg})
	// The router replays the partitions it is assigned without waiting
	// for orders.
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, reg, "riskgate_router_limits_unrestored_partitions") != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("riskgate_router_limits_unrestored_partitions is not 1 before any order")
		}
	}
	o := newOrder("u-new", "U1", "AAPL")
	o.TS = time.Now().UnixMilli()
	cancel := newOrder("u-cancel", "U1", "AAPL")
	cancel.Type, cancel.TS = domain.OrderCancel, time.Now().UnixMilli()
	produce(t, kc, orderRecord(t, o), orderRecord(t, cancel))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 2))
	if a := got["u-new"]; len(a) != 1 || a[0].Decision != domain.DecisionBlock || a[0].Limit != "GLOBAL unrestored_usage" {
		t.Errorf("order: %+v, want BLOCK GLOBAL unrestored_usage", a)
	}
	if a := got["u-cancel"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
		t.Errorf("CANCEL: %+v, want ALLOW", a)
	}
	if d := r.ReadyDetail(); !strings.Contains(d, "failing closed (BLOCK) while the usage it held can count: changelog partition 1 usage not restored (offset 0: ") {
		t.Errorf("ReadyDetail %q does not name the record", d)
	}
}

// damageUsage writes to partition p of the router's changelog, stamped at,
// a usage record the router cannot restore (of an unknown format).
func damageUsage(t *testing.T, kc kafka.Config, p int32, at time.Time) {
	t.Helper()
	cl, err := kc.NewClient(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bad := &kgo.Record{Topic: domain.TopicDedup, Partition: p, Value: []byte{changelogUsage, 9, 0}, Timestamp: at}
	if err := cl.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// midDayLimits is the default limits on a trading day (UTC) that began
// twelve hours before now, so that now and the last hours are one day.
func midDayLimits(now time.Time) limits.Config {
	lc := limits.Default()
	lc.TimeZone = "UTC"
	tod := now.UTC().Sub(now.UTC().Truncate(24 * time.Hour))
	lc.DayStart = ((tod + 12*time.Hour) % (24 * time.Hour)).Truncate(time.Minute)
	return lc
}

// TestUnrestoredCreditRebuiltFromGated: a usage record of the changelog
// that does not restore, written ten minutes ago (its windows are over, its
// trading day is not): the router rebuilds the day's credit from
// orders.gated.v1, after which an account's orders are held to the credit
// its gated orders of the day used, not blocked for the rest of the day,
// and gated orders of the day before do not count.
func TestUnrestoredCreditRebuiltFromGated(t *testing.T) {
	kc := newCluster(t)
	now := time.Now()
	lc := midDayLimits(now)
	lc.Defaults.Account.CreditLimit = 1500
	gated := func(id, acct string, qty float64, at time.Time) *kgo.Record {
		o := newOrder(id, acct, "AAPL")
		o.TS, o.Qty, o.Price = at.UnixMilli(), qty, 10
		rec := orderRecord(t, o)
		rec.Topic, rec.Timestamp = domain.TopicGated, at
		return rec
	}
	produce(t, kc,
		gated("g-1", "R1", 50, now.Add(-20*time.Minute)),
		gated("g-2", "R1", 50, now.Add(-15*time.Minute)), // R1 used $1,000 today
		gated("g-3", "R2", 140, now.Add(-13*time.Hour)),  // R2 used $1,400 the day before
	)
	damageUsage(t, kc, 1, now.Add(-10*time.Minute))
	reg := prometheus.NewRegistry()
	r := startRouter(t, Config{Kafka: kc, Limits: &lc, Registerer: reg})
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(r.ReadyDetail(), "the day's credit rebuilt from orders.gated.v1, window caps only"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("credit not rebuilt: %q", r.ReadyDetail())
		}
	}
	if n := labelledValue(t, reg, "riskgate_router_limits_credit_rebuilds_total", "outcome", "rebuilt"); n != 1 {
		t.Errorf("%v rebuilds counted, want 1", n)
	}
	order := func(id, acct string, qty float64) *kgo.Record {
		o := newOrder(id, acct, "AAPL")
		o.Qty, o.Price = qty, 10
		return orderRecord(t, o)
	}
	produce(t, kc, order("r1-600", "R1", 60), order("r1-400", "R1", 40), order("r2-1400", "R2", 140))
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 3))
	if a := got["r1-600"]; len(a) != 1 || a[0].Decision != domain.DecisionBlock || a[0].Limit != "ACCOUNT:R1 credit_limit=1500/day" || a[0].LimitValue != 1600 {
		t.Errorf("R1's $600 order: %+v, want BLOCK ACCOUNT:R1 credit_limit=1500/day at 1600", a)
	}
	for _, id := range []string{"r1-400", "r2-1400"} {
		if a := got[id]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
			t.Errorf("%s: %+v, want ALLOW", id, a)
		}
	}
}

// TestCreditRebuildFailsClosed: a gated order that does not decode leaves
// the credit unknown, so the block on credit holds (and is counted as a
// failed rebuild).
func TestCreditRebuildFailsClosed(t *testing.T) {
	kc := newCluster(t)
	now := time.Now()
	lc := midDayLimits(now)
	produce(t, kc, &kgo.Record{Topic: domain.TopicGated, Key: []byte("F1"), Value: []byte("{not json"), Timestamp: now.Add(-20 * time.Minute)})
	damageUsage(t, kc, 0, now.Add(-10*time.Minute))
	reg := prometheus.NewRegistry()
	startRouter(t, Config{Kafka: kc, Limits: &lc, Registerer: reg})
	for deadline := time.Now().Add(15 * time.Second); labelledValue(t, reg, "riskgate_router_limits_credit_rebuilds_total", "outcome", "failed") != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed rebuild counted")
		}
	}
	produce(t, kc, orderRecord(t, newOrder("f-1", "F1", "AAPL")))
	if a := audits(t, consumeN(t, kc, domain.TopicAudit, 1))["f-1"]; len(a) != 1 || a[0].Decision != domain.DecisionBlock || a[0].Limit != "ACCOUNT:F1 unrestored_usage" {
		t.Fatalf("order after a failed rebuild: %+v, want BLOCK ACCOUNT:F1 unrestored_usage", a)
	}
}

// TestIdleRouterCheckpointsUsage: a router whose partitions all fall idle
// still checkpoints their usage, so a credit used early in the day outlives
// the changelog's retention and a later replay (which reads only the last
// usageReplay of it) restores it. Here the dedup window is 2 s: a
// checkpoint is due every second and a replay reads 3.5 s back.
func TestIdleRouterCheckpointsUsage(t *testing.T) {
	kc := newCluster(t)
	lc := limits.Default()
	lc.Defaults.Account.CreditLimit = 1500 // two orders of 100 × 10 cross it
	cfg := Config{Kafka: kc, DedupWindow: 2 * time.Second, Limits: &lc}
	_, stop := startRouterStop(t, cfg)
	o := newOrder("idle-1", "I1", "AAPL")
	o.TS, o.Qty, o.Price = time.Now().UnixMilli(), 100, 10
	produce(t, kc, orderRecord(t, o))
	if a := audits(t, consumeN(t, kc, domain.TopicAudit, 1))["idle-1"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
		t.Fatalf("first order: %+v, want ALLOW", a)
	}
	time.Sleep(5 * time.Second) // idle past the replay's reach
	stop()

	startRouter(t, cfg)
	o2 := newOrder("idle-2", "I1", "AAPL")
	o2.TS, o2.Qty, o2.Price = time.Now().UnixMilli(), 100, 10
	produce(t, kc, orderRecord(t, o2))
	a := audits(t, consumeN(t, kc, domain.TopicAudit, 2))["idle-2"]
	if len(a) != 1 || a[0].Decision != domain.DecisionBlock || a[0].Limit != "ACCOUNT:I1 credit_limit=1500/day" {
		t.Fatalf("order after the idle time and a restart: %+v, want BLOCK on the credit the first one used", a)
	}
}
