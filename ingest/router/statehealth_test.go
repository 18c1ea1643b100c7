package router

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riskgate/riskgate/domain"
)

// TestUndecodableStateFailsClosed: a state record that cannot be decoded
// makes the scope its key names fail closed (KILLED, the reason naming the
// record) until a newer decodable record for the scope arrives, whether it
// is read at bootstrap or while following.
func TestUndecodableStateFailsClosed(t *testing.T) {
	kc := newCluster(t)
	raw := func(key, value string) *kgo.Record {
		return &kgo.Record{Topic: domain.TopicState, Key: []byte(key), Value: []byte(value)}
	}
	produce(t, kc,
		stateRecord(t, domain.State{Scope: "ACCOUNT:B1", Status: domain.StatusActive, Version: 5}),
		// A kill whose version is written as a float.
		raw("ACCOUNT:B1", `{"scope":"ACCOUNT:B1","status":"KILLED","version":6.0,"corr_id":"k"}`),
		// A kill with a lowercase status.
		raw("SYMBOL:LOW", `{"scope":"SYMBOL:LOW","status":"killed","version":1,"corr_id":"k"}`),
		// Neither key nor value readable: counted, nothing to fail closed.
		raw("no scope", `{oops`),
	)
	reg := prometheus.NewRegistry()
	r := startRouter(t, Config{Kafka: kc, Registerer: reg})
	if got := metricValue(t, reg, "riskgate_router_state_undecodable_total"); got != 3 {
		t.Errorf("riskgate_router_state_undecodable_total = %v, want 3", got)
	}
	if got := metricValue(t, reg, "riskgate_router_state_failed_closed_scopes"); got != 2 {
		t.Errorf("riskgate_router_state_failed_closed_scopes = %v, want 2", got)
	}
	detail := r.ReadyDetail()
	for _, want := range []string{"ready;", "3 undecodable state records", "ACCOUNT:B1 (undecodable state record at", "SYMBOL:LOW (undecodable state record at"} {
		if !strings.Contains(detail, want) {
			t.Errorf("ReadyDetail %q does not say %q", detail, want)
		}
	}
	produce(t, kc,
		orderRecord(t, newOrder("u1", "B1", "AAPL")),
		orderRecord(t, newOrder("u2", "A9", "LOW")),
		orderRecord(t, newOrder("u3", "A9", "AAPL")),
	)
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 3))
	for _, c := range []struct{ id, scope string }{{"u1", "ACCOUNT:B1"}, {"u2", "SYMBOL:LOW"}} {
		a := got[c.id]
		if len(a) != 1 || a[0].Decision != domain.DecisionDrop || !strings.HasPrefix(a[0].Reason, c.scope+" KILLED") ||
			!strings.Contains(a[0].Reason, "undecodable state record at") {
			t.Errorf("%s under an undecodable record of %s: %+v, want DROP naming the record", c.id, c.scope, a)
		}
	}
	if a := got["u3"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
		t.Errorf("u3 touches no bad scope: %+v, want ALLOW", a)
	}

	// Read while following: the same.
	produce(t, kc, raw("ACCOUNT:B2", `{"scope":"ACCOUNT:B2","status":"KILLED","version":"7"}`))
	waitState(t, r, "ACCOUNT:B2", 0)
	produce(t, kc, orderRecord(t, newOrder("u4", "B2", "AAPL")))
	if a := audits(t, consumeN(t, kc, domain.TopicAudit, 4))["u4"]; len(a) != 1 || a[0].Decision != domain.DecisionDrop {
		t.Errorf("u4 under an undecodable record read while following: %+v, want DROP", a)
	}

	// A newer decodable record lifts it; an older one does not.
	produce(t, kc,
		stateRecord(t, domain.State{Scope: "ACCOUNT:B1", Status: domain.StatusActive, Version: 5}),
		stateRecord(t, domain.State{Scope: "ACCOUNT:B2", Status: domain.StatusActive, Version: 8}),
	)
	waitState(t, r, "ACCOUNT:B2", 8)
	for deadline := time.Now().Add(10 * time.Second); r.Table().Stale() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the older record of ACCOUNT:B1 was never offered")
		}
	}
	produce(t, kc, orderRecord(t, newOrder("u5", "B1", "AAPL")), orderRecord(t, newOrder("u6", "B2", "AAPL")))
	got = audits(t, consumeN(t, kc, domain.TopicAudit, 6))
	if a := got["u5"]; len(a) != 1 || a[0].Decision != domain.DecisionDrop {
		t.Errorf("u5 after a record no newer than the one held: %+v, want DROP", a)
	}
	if a := got["u6"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
		t.Errorf("u6 after a newer decodable record: %+v, want ALLOW", a)
	}
	if detail := r.ReadyDetail(); strings.Contains(detail, "ACCOUNT:B2") || !strings.Contains(detail, "ACCOUNT:B1") {
		t.Errorf("ReadyDetail %q: want ACCOUNT:B1 still failing closed, ACCOUNT:B2 no more", detail)
	}
}

// metricValue is the value of an unlabelled counter or gauge.
func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestRouterStopsWhileStateUnreadable: when the router cannot confirm for
// longer than MaxStateAge that it has read a topic it follows to its end
// (here the brokers refuse to list its offsets) — the kill state, or either
// of the limits' topics — it stops routing and is not ready, naming the
// topic; once it can again, it resumes and decides what waited.
func TestRouterStopsWhileStateUnreadable(t *testing.T) {
	for _, topic := range []string{domain.TopicState, domain.TopicLimits, domain.TopicRefPrices} {
		t.Run(topic, func(t *testing.T) { stopsWhileUnreadable(t, topic) })
	}
}

func stopsWhileUnreadable(t *testing.T, topic string) {
	c, kc := newKfake(t)
	var blocked atomic.Bool
	c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		lreq := req.(*kmsg.ListOffsetsRequest)
		if !blocked.Load() || !slices.ContainsFunc(lreq.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return t.Topic == topic }) {
			return nil, nil, false
		}
		resp := lreq.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range lreq.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	reg := prometheus.NewRegistry()
	r := startRouter(t, Config{Kafka: kc, Registerer: reg, MaxStateAge: time.Second})
	produce(t, kc, orderRecord(t, newOrder("before", "A1", "AAPL")))
	consumeN(t, kc, domain.TopicAudit, 1)

	blocked.Store(true)
	for deadline := time.Now().Add(10 * time.Second); r.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("router still ready 10 s after %s became unreadable", topic)
		}
	}
	if d := r.ReadyDetail(); !strings.Contains(d, "routing stopped") || !strings.Contains(d, topic) {
		t.Errorf("ReadyDetail %q does not say routing stopped on %s", d, topic)
	}
	if got := metricValue(t, reg, "riskgate_router_ready"); got != 0 {
		t.Errorf("riskgate_router_ready = %v while %s is too old", got, topic)
	}
	produce(t, kc, orderRecord(t, newOrder("during", "A1", "AAPL")))
	if n := len(consumeN(t, kc, domain.TopicAudit, 1)); n != 1 {
		t.Fatalf("%d audit records while %s was too old, want only the one before", n, topic)
	}
	time.Sleep(time.Second)
	if n := len(consumeN(t, kc, domain.TopicAudit, 1)); n != 1 {
		t.Fatalf("%d audit records while %s was too old, want only the one before", n, topic)
	}

	blocked.Store(false)
	got := audits(t, consumeN(t, kc, domain.TopicAudit, 2))
	if a := got["during"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
		t.Fatalf("order that waited: %+v, want one ALLOW once %s was current", a, topic)
	}
	for deadline := time.Now().Add(10 * time.Second); !r.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("router not ready again")
		}
	}
}

// TestNotReadyWhileReplaying: while the router replays the changelog of the
// partitions it was assigned (here held up at its first request), their
// orders wait, and it is not ready: a rolling restart must not take the
// next instance down meanwhile. Once the replay ends it is.
func TestNotReadyWhileReplaying(t *testing.T) {
	c, kc := newKfake(t)
	release := make(chan struct{})
	var held atomic.Bool
	c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		lreq := req.(*kmsg.ListOffsetsRequest)
		if slices.ContainsFunc(lreq.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return t.Topic == domain.TopicDedup }) &&
			held.CompareAndSwap(false, true) {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	reg := prometheus.NewRegistry()
	r, err := New(Config{Kafka: kc, Log: quietLog(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); !held.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replay began")
		}
	}
	time.Sleep(300 * time.Millisecond)
	if r.Ready() || metricValue(t, reg, "riskgate_router_ready") != 0 {
		t.Fatal("ready while replaying")
	}
	if d := r.ReadyDetail(); !strings.Contains(d, "not ready: replaying the changelog of orders.v1 partitions [") {
		t.Errorf("ReadyDetail %q does not say it is replaying", d)
	}
	close(release)
	for deadline := time.Now().Add(10 * time.Second); !r.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after the replay: %q", r.ReadyDetail())
		}
	}
}
