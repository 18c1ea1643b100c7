package detector

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

type nopSignaler struct{}

func (nopSignaler) Breach(context.Context, domain.BreachSignal) error { return nil }
func (nopSignaler) Normal(context.Context, domain.NormalSignal) error { return nil }

func newTestDetector(t *testing.T, now time.Time) *Detector {
	t.Helper()
	d, err := New(Config{Kafka: kafka.Config{Brokers: []string{"127.0.0.1:1"}}, Signaler: nopSignaler{},
		Rules: oneRule(countRule(domain.ScopeAccount, time.Minute, 1e9)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func orderRecord(t *testing.T, off int64, o domain.Order) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: domain.TopicOrders, Partition: 0, Offset: off, Key: []byte(o.AccountID), Value: b}
}

// Lateness is judged against the partition's newest order; the future is
// clamped to the detector's clock.
func TestAdmission(t *testing.T) {
	now := time.UnixMilli(t0 + 3_600_000)
	nowMS := now.UnixMilli()
	tests := []struct {
		name        string
		ts          []int64
		wantCounted int64 // orders in the account's window at the end
		late, clamp int64
	}{
		{"in order", []int64{t0, t0 + 10, t0 + 20}, 3, 0, 0},
		{"out of order within 5 s", []int64{t0 + 5000, t0, t0 + 4000}, 3, 0, 0},
		{"exactly 5 s late is counted", []int64{t0 + 5000, t0}, 2, 0, 0},
		{"more than 5 s late is not", []int64{t0 + 5001, t0}, 1, 1, 0},
		{"late after the stream moved on", []int64{t0, t0 + 30_000, t0 + 1000, t0 + 29_000}, 3, 1, 0},
		{"2 s in the future is allowed", []int64{nowMS + 2000}, 1, 0, 0},
		{"further in the future is clamped to now", []int64{nowMS + 2001, nowMS + 86_400_000}, 2, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(t, now)
			for i, ts := range tc.ts {
				fw, live := d.processOrder(orderRecord(t, int64(i), domain.Order{OrderID: "o", TS: ts, AccountID: "A",
					Symbol: "X", Side: domain.Buy, Qty: 1, Price: 1}))
				if !live {
					t.Fatal("record not live without a rebuild")
				}
				if len(fw) != 0 {
					t.Fatal("forwarded with no rules on other dimensions")
				}
			}
			k := d.engine.lookup(dimAccount, "A", 0, false)
			if k.win[0].count != tc.wantCounted || d.late.Load() != tc.late || d.clamped.Load() != tc.clamp {
				t.Fatalf("counted %d late %d clamped %d, want %d %d %d", k.win[0].count, d.late.Load(), d.clamped.Load(),
					tc.wantCounted, tc.late, tc.clamp)
			}
			if k.late != tc.late || k.clamped != tc.clamp {
				t.Fatalf("key carries late %d clamped %d", k.late, k.clamped)
			}
			if tc.clamp > 0 && k.clock != nowMS {
				t.Fatalf("clamped clock %d, want %d", k.clock, nowMS)
			}
		})
	}
}

func TestForwardAndRebuildBoundary(t *testing.T) {
	d, err := New(Config{Kafka: kafka.Config{}, Signaler: nopSignaler{}, Now: func() time.Time { return time.UnixMilli(t0) }})
	if err != nil {
		t.Fatal(err)
	}
	d.parts[tp{domain.TopicOrders, 0}] = &partState{liveFrom: 2}
	d.rebuilds.Store(1)
	o := domain.Order{OrderID: "o1", TS: t0, AccountID: "A", Symbol: "AAPL", Side: domain.Buy, Qty: 1, Price: 1, Strategy: "ALGO_X"}
	for off := range int64(3) {
		fw, live := d.processOrder(orderRecord(t, off, o))
		switch {
		case off < 2 && (live || len(fw) != 0):
			t.Fatalf("offset %d: rebuilt records are neither live nor forwarded", off)
		case off == 2 && (!live || len(fw) != 3):
			t.Fatalf("offset 2: live %v, forwarded %d, want 3", live, len(fw))
		}
		if off == 1 && d.rebuilds.Load() != 0 {
			t.Fatal("rebuild not finished after its last record")
		}
	}
	fw, _ := d.processOrder(orderRecord(t, 3, o))
	keys := map[string]bool{}
	for _, r := range fw {
		keys[string(r.Key)] = true
		ob, part, off, err := decodeForward(r.Value)
		if err != nil || part != 0 || off != 3 || ob.Symbol != "AAPL" || ob.Strategy != "ALGO_X" || ob.Account != "A" ||
			ob.OrderID != "o1" || ob.TS != t0 || ob.Notional != NotionalScale {
			t.Fatalf("forwarded %+v part %d off %d err %v", ob, part, off, err)
		}
	}
	if !keys["SYMBOL:AAPL"] || !keys["STRATEGY:ALGO_X"] || !keys["GLOBAL"] {
		t.Fatalf("forwarded keys %v", keys)
	}
	// Re-forwarded records (after a rebalance) are counted once.
	for range 2 {
		for _, r := range fw {
			r.Topic, r.Partition, r.Offset = domain.TopicDetectorRepartition, 0, 0
			d.processRepartitioned(r)
		}
	}
	if k := d.engine.lookup(dimSymbol, "AAPL", 0, false); k == nil || k.win[0].count != 1 {
		t.Fatalf("repartitioned symbol key: %+v", k)
	}
	if got := d.m.duplicates; got == nil {
		t.Fatal("no duplicates counter")
	}
}

func FuzzDecodeForward(f *testing.F) {
	f.Add(encodeForward(&Observation{TS: 1, Notional: 2, Symbol: "A", Account: "B", Strategy: "C", OrderID: "D"}, 1, 2))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		ob, p, o, err := decodeForward(b)
		if err != nil {
			return
		}
		again, p2, o2, err := decodeForward(encodeForward(&ob, p, o))
		if err != nil || again != ob || p2 != p || o2 != o {
			t.Fatalf("round trip: %+v %v", again, err)
		}
	})
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte("rules:\n  - name: r\n    dimension: ACCOUNT\n    window: 1m\n    metric: count\n    threshold: 5\n"))
	f.Add([]byte("lateness: 5s\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRules("f.yaml", b)
		if err != nil {
			return
		}
		if _, err := NewEngine(r, &NopSink{}, nil); err != nil {
			t.Fatalf("parsed rules the engine refuses: %v", err)
		}
	})
}

// A CANCEL opens no exposure and a record keyed by anything but its
// account_id is REJECTed by the router: neither is counted in any window.
func TestCancelsAndMiskeyedOrdersNotCounted(t *testing.T) {
	symbolCount := countRule(domain.ScopeSymbol, time.Minute, 1e9)
	symbolCount.Name = "s"
	d, err := New(Config{Kafka: kafka.Config{}, Signaler: nopSignaler{}, Now: func() time.Time { return time.UnixMilli(t0) },
		Rules: Rules{Rules: []Rule{countRule(domain.ScopeAccount, time.Minute, 1e9), symbolCount}}})
	if err != nil {
		t.Fatal(err)
	}
	o := domain.Order{OrderID: "o1", TS: t0, AccountID: "A", Symbol: "AAPL", Side: domain.Buy, Qty: 1e6, Price: 100}
	cancel := o
	cancel.OrderID, cancel.Type = "c1", domain.OrderCancel
	fat := o
	fat.OrderID, fat.Qty, fat.Price = "f1", 1e6, 1e10
	tests := []struct {
		name    string
		rec     *kgo.Record
		counted bool
	}{
		{"a NEW order keyed by its account", orderRecord(t, 0, o), true},
		{"a CANCEL", orderRecord(t, 1, cancel), false},
		{"keyed by another account", withKey(orderRecord(t, 2, o), "B"), false},
		{"keyed by the symbol", withKey(orderRecord(t, 3, o), "AAPL"), false},
		{"no key", withKey(orderRecord(t, 4, o), ""), false},
		{"a CANCEL keyed by another account", withKey(orderRecord(t, 5, cancel), "B"), false},
		{"beyond the order bounds ($1e16)", orderRecord(t, 6, fat), false},
	}
	var want int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fw, _ := d.processOrder(tc.rec)
			if tc.counted {
				want++
			}
			if k := d.engine.lookup(dimAccount, "A", 0, false); k == nil || k.win[0].count != want {
				t.Fatalf("account A's window does not hold %d orders", want)
			}
			if k := d.engine.lookup(dimAccount, "B", 0, false); k != nil {
				t.Fatalf("a key for account B from a record keyed B: %d orders", k.win[0].count)
			}
			if tc.counted != (len(fw) == 1) {
				t.Fatalf("%d records forwarded to the symbol key", len(fw))
			}
		})
	}
	if got := counterValue(t, d.m.ignored.WithLabelValues(ignoredCancel)); got != 1 {
		t.Errorf("ignored cancels %v, want 1", got)
	}
	if got := counterValue(t, d.m.ignored.WithLabelValues(ignoredKey)); got != 4 {
		t.Errorf("ignored mis-keyed records %v, want 4", got)
	}
	if got := counterValue(t, d.m.invalid); got != 1 {
		t.Errorf("invalid records %v, want 1", got)
	}
}

// A fat-finger order read from orders.v1 counts at the rules'
// max_order_notional in its account's window and in what is forwarded to
// its symbol, strategy and GLOBAL keys; an ordinary order counts whole.
func TestOrderNotionalCappedOnAdmission(t *testing.T) {
	d, err := New(Config{Kafka: kafka.Config{}, Signaler: nopSignaler{}, Now: func() time.Time { return time.UnixMilli(t0) }})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		qty, price float64
		want       int64 // units
	}{
		{1e9, 120, DefaultMaxOrderNotional * NotionalScale},
		{10, 187.5, 1875 * NotionalScale},
	} {
		acct := fmt.Sprintf("A%d", i)
		fw, _ := d.processOrder(orderRecord(t, int64(i), domain.Order{OrderID: fmt.Sprintf("o%d", i), TS: t0, AccountID: acct,
			Symbol: "NVDA", Strategy: "S", Side: domain.Buy, Qty: c.qty, Price: c.price}))
		if k := d.engine.lookup(dimAccount, acct, 0, false); k == nil || k.win[0].notional != c.want {
			t.Fatalf("qty %v at %v: account window notional %+v, want %d units", c.qty, c.price, k, c.want)
		}
		if len(fw) != 3 {
			t.Fatalf("%d records forwarded, want the symbol's, the strategy's and GLOBAL's", len(fw))
		}
		for _, r := range fw {
			ob, _, _, err := decodeForward(r.Value)
			if err != nil || ob.Notional != c.want {
				t.Fatalf("forwarded to %s: notional %d (%v), want %d units", r.Key, ob.Notional, err, c.want)
			}
		}
	}
}

func withKey(r *kgo.Record, key string) *kgo.Record {
	r.Key = []byte(key)
	if key == "" {
		r.Key = nil
	}
	return r
}

// A cancel-all during a kill must not keep the scope from being reported
// normal: cancels are not orders.
func TestCancelsDoNotKeepAScopeInBreach(t *testing.T) {
	d, err := New(Config{Kafka: kafka.Config{}, Signaler: nopSignaler{}, Now: func() time.Time { return time.UnixMilli(t0 + 3_600_000) },
		Rules: oneRule(countRule(domain.ScopeAccount, time.Minute, 10))})
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	order := func(ts int64, typ domain.OrderType) {
		off++
		d.processOrder(orderRecord(t, off, domain.Order{OrderID: fmt.Sprint("o", off), TS: ts, AccountID: "A", Symbol: "X",
			Side: domain.Buy, Qty: 1, Price: 1, Type: typ}))
	}
	ts := t0
	for range 20 {
		ts += 100
		order(ts, domain.OrderNew)
	}
	if got := d.engine.Stats().Breaches; got != 1 {
		t.Fatalf("%d breaches, want 1", got)
	}
	d.table.ApplyState(domain.State{Scope: "ACCOUNT:A", Status: domain.StatusKilled, Version: 2})
	// Four minutes of cancels, 100 a minute, and ticks.
	for end := ts + 4*60_000; ts < end; {
		ts += 600
		order(ts, domain.OrderCancel)
		d.engine.Tick(ts, nil)
	}
	if got := d.engine.Stats().Normals; got != 1 {
		t.Fatalf("%d normals after four minutes of cancels only, want 1", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
