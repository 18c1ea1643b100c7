package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// cluster starts kfake on a TCP port with riskgate's topics.
func cluster(t *testing.T) (kafka.Config, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc := kafka.Config{Brokers: c.ListenAddrs(), ClientID: "replay-test"}
	cl, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kafka.CreateTopics(ctx, kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	return kc, cl
}

func produce(t *testing.T, cl *kgo.Client, topic, key string, ts int64, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Timestamp: time.UnixMilli(ts)}
	if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// recordBaseline puts the known flow on orders.v1 and, as the live system
// running the base rules would have written them, the kills of ACCOUNT:R1
// (on r1-11) and SYMBOL:PILE (on pile-31) with their drops, plus an
// operator's kill of ACCOUNT:Q3.
func recordBaseline(t *testing.T, cl *kgo.Client) map[string]domain.Order {
	t.Helper()
	byID := map[string]domain.Order{}
	for _, o := range knownFlow() {
		produce(t, cl, domain.TopicOrders, o.AccountID, o.TS, o)
		byID[o.OrderID] = o
	}
	kill := func(scope domain.Scope, rule, orderID string, value, threshold float64, version int64) {
		o := byID[orderID]
		corr := "det:" + string(scope) + ":" + orderID
		at := o.TS + 40 // the kill path's latency
		produce(t, cl, domain.TopicCommands, string(scope), at, domain.Command{CmdID: corr, TS: at, Scope: scope,
			Action: domain.ActionKill, TriggeredBy: domain.TriggerDetector, Metric: "count", Value: value, Threshold: threshold,
			Window: "1m", CorrID: corr, StateVersion: version,
			Reason: fmt.Sprintf("%s: count %v > %v over 1m at order %s", rule, value, threshold, orderID)})
		produce(t, cl, domain.TopicState, string(scope), at, domain.State{Scope: scope, Status: domain.StatusKilled,
			UpdatedTS: at, Version: version, CorrID: corr, Trigger: domain.TriggerDetector, UpdatedBy: "detector"})
	}
	drop := func(scope domain.Scope, prefix string, from, to int) {
		for i := from; i <= to; i++ {
			o := byID[fmt.Sprint(prefix, i)]
			produce(t, cl, domain.TopicAudit, o.OrderID, o.TS+1, domain.AuditRecord{TS: o.TS + 1, OrderTS: o.TS,
				Decision: domain.DecisionDrop, OrderID: o.OrderID, AccountID: o.AccountID, Symbol: o.Symbol,
				KillswitchStatus: domain.StatusKilled, Reason: string(scope) + " KILLED: runaway", Service: "router"})
		}
	}
	kill("ACCOUNT:R1", "account_count_1m", "r1-11", 11, 10, 100)
	drop("ACCOUNT:R1", "r1-", 12, 40)
	kill("SYMBOL:PILE", "symbol_count_1m", "pile-31", 31, 30, 200)
	drop("SYMBOL:PILE", "pile-", 32, 50)
	// A scope killed and released long before the range: not part of it.
	old := t0 - 3_600_000
	produce(t, cl, domain.TopicState, "ACCOUNT:OLD", old, domain.State{Scope: "ACCOUNT:OLD", Status: domain.StatusActive,
		UpdatedTS: old, Version: 50, Trigger: domain.TriggerSystem})
	q3 := byID["q3-2"].TS + 500
	produce(t, cl, domain.TopicCommands, "ACCOUNT:Q3", q3, domain.Command{CmdID: "op-1", TS: q3, Scope: "ACCOUNT:Q3",
		Action: domain.ActionKill, TriggeredBy: domain.TriggerOperator, Operator: "olga", Reason: "desk asked", CorrID: "op-1",
		StateVersion: 300})
	return byID
}

func replayTopics(t *testing.T, kc kafka.Config, rules string) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	from, to := time.UnixMilli(t0-1_000), time.UnixMilli(t0+5*60_000)
	r, err := New(Config{Rules: parseRules(t, "rules", rules)})
	if err != nil {
		t.Fatal(err)
	}
	actual, err := ReadActual(ctx, kc, from, to)
	if err != nil {
		t.Fatal(err)
	}
	r.CompareWith(actual)
	if err := ReadTopics(ctx, kc, from, to, r, nil); err != nil {
		t.Fatal(err)
	}
	return r.Finish(to.UnixMilli())
}

// TestWhatIfTighterRules replays the recorded flow from the topics with a
// tighter account rule: the quiet account Q1 would have been killed (new),
// the runaway four orders earlier (earlier), the pile-in as before (same),
// and the operator's kill is one the replay does not model.
func TestWhatIfTighterRules(t *testing.T) {
	kc, cl := cluster(t)
	byID := recordBaseline(t, cl)

	base := replayTopics(t, kc, baseRules)
	for _, s := range []domain.Scope{"ACCOUNT:R1", "SYMBOL:PILE"} {
		if d := byScope(t, base, s).Diff; d.Kind != DiffSame {
			t.Errorf("base rules: %s differs from what happened: %s", s, d)
		}
	}
	if base.Totals.New != 0 || base.Totals.Gone != 0 {
		t.Errorf("base rules: totals %+v, want nothing new or gone", base.Totals)
	}

	res := replayTopics(t, kc, tightRules)
	if !res.Actual || res.Counts.Orders != int64(len(byID)) {
		t.Fatalf("actual %v, orders %d (want %d)", res.Actual, res.Counts.Orders, len(byID))
	}
	q1 := byScope(t, res, "ACCOUNT:Q1")
	if q1.Diff.Kind != DiffNew || q1.Candidate.FirstBreach == nil || q1.Candidate.FirstBreach.OrderID != "q1-7" ||
		q1.Candidate.Kills != 1 || q1.Candidate.Dropped != 1 || q1.Actual.Kills != 0 {
		t.Errorf("ACCOUNT:Q1: %+v diff %s; want a new kill on q1-7 dropping q1-8", q1.Candidate, q1.Diff)
	}
	r1 := byScope(t, res, "ACCOUNT:R1")
	wantBy := time.Duration(byID["r1-7"].TS-byID["r1-11"].TS) * time.Millisecond
	if r1.Diff.Kind != DiffEarlier || r1.Diff.By != wantBy || r1.Candidate.FirstBreach.OrderID != "r1-7" {
		t.Errorf("ACCOUNT:R1: diff %s (%v), first breach %+v; want earlier by %v on r1-7", r1.Diff, r1.Diff.By, r1.Candidate.FirstBreach, wantBy)
	}
	a := r1.Actual
	if a.FirstBreach == nil || a.FirstBreach.OrderID != "r1-11" || a.FirstBreach.Rule != "account_count_1m" ||
		a.FirstBreach.TS.UnixMilli() != byID["r1-11"].TS || a.Kills != 1 || a.Dropped != 29 {
		t.Errorf("ACCOUNT:R1 actual %+v first %+v; want the kill on r1-11 at its ts and 29 drops", a, a.FirstBreach)
	}
	if r1.Candidate.Dropped != 33 {
		t.Errorf("ACCOUNT:R1 would drop %d, want 33 (r1-8 … r1-40)", r1.Candidate.Dropped)
	}
	if p := byScope(t, res, "SYMBOL:PILE"); p.Diff.Kind != DiffSame || p.Actual.Dropped != 19 || p.Candidate.Dropped != 19 {
		t.Errorf("SYMBOL:PILE diff %s, dropped %d actual %d; want same, 19 and 19", p.Diff, p.Candidate.Dropped, p.Actual.Dropped)
	}
	if q3 := byScope(t, res, "ACCOUNT:Q3"); q3.Diff.Kind != DiffOperator || q3.Actual.FirstBreach.By != "olga" {
		t.Errorf("ACCOUNT:Q3 diff %s, actual %+v; want the operator's kill", q3.Diff, q3.Actual.FirstBreach)
	}
	if len(res.Scopes) != 4 {
		t.Errorf("scopes %v, want ACCOUNT:R1, ACCOUNT:Q3, ACCOUNT:Q1 and SYMBOL:PILE", scopeNames(res))
	}
	if tt := res.Totals; tt.New != 1 || tt.Earlier != 1 || tt.Gone != 0 || tt.ActualKills != 3 || tt.CandidateKills != 3 {
		t.Errorf("totals %+v; want 1 new, 1 earlier, 3 actual kills and 3 candidate kills", tt)
	}
}

// TestTopicsMatchFile: orders.v1 merged from its partitions by ts replays
// exactly as the same flow read from a file.
func TestTopicsMatchFile(t *testing.T) {
	kc, cl := cluster(t)
	recordBaseline(t, cl)
	fromTopics := replayTopics(t, kc, baseRules)
	fromFile := replayBytes(t, Config{Rules: parseRules(t, "base", baseRules)}, jsonl(t, knownFlow()), t0+5*60_000)
	for _, f := range fromFile.Scopes {
		k := byScope(t, fromTopics, f.Scope)
		if *k.Candidate.FirstBreach != *f.Candidate.FirstBreach || k.Candidate.Dropped != f.Candidate.Dropped {
			t.Errorf("%s: topics %+v, file %+v", f.Scope, k.Candidate, f.Candidate)
		}
	}
}
