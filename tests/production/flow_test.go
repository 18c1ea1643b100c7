package production

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/router"
	"github.com/riskgate/riskgate/tests/production/harness"
)

// flow streams orders through the stack while a test disturbs it, and
// checks afterwards the invariants that must hold whatever happened: every
// order audited exactly once (riskgate reconcile), and no order of a scope
// killed before it was produced ALLOWed. A flow kills an account and a
// symbol of its own before it starts; a tenth of its orders hit each.
type flow struct {
	s      *harness.Stack
	name   string
	cl     *kgo.Client
	audits *auditWatch
	start  time.Time

	mu   sync.Mutex
	want map[string]domain.Decision // order id → the decision it must get; "" any
	seq  int

	stop chan struct{}
	done chan error
}

// Orders a second of the steady flow, spread over flowAccounts accounts:
// each account stays far under the detector's 100 orders a minute.
const (
	flowRate     = 100
	flowAccounts = 150
)

var flowSymbols = []string{"AAA", "BBB", "CCC", "DDD"}

func (f *flow) killedAccount() string { return f.name + "-killed" }
func (f *flow) haltedSymbol() string  { return strings.ToUpper(f.name) + "HALT" }

// startFlow kills the flow's account and symbol through the API, waits
// until the routers enforce both, and starts the steady flow.
func startFlow(t *testing.T, s *harness.Stack, name string) *flow {
	t.Helper()
	cl, err := s.KafkaConfig("test-flow-" + name).NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	f := &flow{s: s, name: name, cl: cl, want: map[string]domain.Decision{},
		stop: make(chan struct{}), done: make(chan error, 1)}
	f.start = time.Now().Add(-time.Second)
	f.audits = watchAudits(t, s, name+"-")
	for _, scope := range []string{"ACCOUNT:" + f.killedAccount(), "SYMBOL:" + f.haltedSymbol()} {
		if st := operate(t, s, "/v1/kill", map[string]any{"scope": scope, "reason": "flow " + name}); st.Status != domain.StatusKilled {
			t.Fatalf("kill %s: %+v", scope, st)
		}
	}
	// Both routers follow the state topic; enforcement is proven by DROPs
	// of probes, not assumed: 24 accounts miss one of the three partitions
	// with a chance of 3·(2/3)^24 ≈ 0.02 %.
	for i := range 24 {
		f.dropped(t, f.order(fmt.Sprintf("%s-a%d", name, i), f.haltedSymbol()))
	}
	f.dropped(t, f.order(f.killedAccount(), flowSymbols[0]))
	go f.run()
	t.Cleanup(f.halt)
	return f
}

// order is the flow's next order.
func (f *flow) order(account, symbol string) domain.Order {
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("%s-%07d", f.name, f.seq)
	f.mu.Unlock()
	return domain.Order{OrderID: id, TS: time.Now().UnixMilli(), AccountID: account, Symbol: symbol,
		Side: domain.Buy, Qty: 10, Price: 100, Strategy: "flow"}
}

// produce sends orders, each to be decided as want says ("" any).
func (f *flow) produce(want domain.Decision, orders ...domain.Order) error {
	recs := make([]*kgo.Record, len(orders))
	f.mu.Lock()
	for i, o := range orders {
		b, err := json.Marshal(o)
		if err != nil {
			f.mu.Unlock()
			return err
		}
		recs[i] = &kgo.Record{Topic: domain.TopicOrders, Key: []byte(o.AccountID), Value: b}
		f.want[o.OrderID] = want
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return f.cl.ProduceSync(ctx, recs...).FirstErr()
}

// dropped produces o until a DROP of it is audited: a probe of enforcement.
func (f *flow) dropped(t *testing.T, o domain.Order) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if err := f.produce("", o); err != nil {
			t.Fatal(err)
		}
		if d := f.audits.wait(o.OrderID, 30*time.Second); d == domain.DecisionDrop {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders of %s in %s are not DROPped", o.AccountID, o.Symbol)
		}
		time.Sleep(200 * time.Millisecond)
		o = f.order(o.AccountID, o.Symbol)
	}
}

// run is the steady flow: every 20 ms two orders; of each ten, one for the
// killed account and one in the halted symbol (DROP), the rest ALLOW.
func (f *flow) run() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; {
		select {
		case <-f.stop:
			f.done <- nil
			return
		case <-tick.C:
		}
		for range flowRate / 50 {
			var err error
			switch acct := fmt.Sprintf("%s-a%d", f.name, i%flowAccounts); i % 10 {
			case 0:
				err = f.produce(domain.DecisionDrop, f.order(f.killedAccount(), flowSymbols[i%len(flowSymbols)]))
			case 1:
				err = f.produce(domain.DecisionDrop, f.order(acct, f.haltedSymbol()))
			default:
				err = f.produce(domain.DecisionAllow, f.order(acct, flowSymbols[i%len(flowSymbols)]))
			}
			if err != nil {
				f.done <- fmt.Errorf("produce: %w", err)
				return
			}
			i++
		}
	}
}

// produced is how many orders the flow has sent.
func (f *flow) produced() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.want)
}

// waitProduced lets n more orders flow.
func (f *flow) waitProduced(t *testing.T, n int) {
	t.Helper()
	target := f.produced() + n
	eventually(t, 2*time.Minute, fmt.Sprintf("%d more orders of flow %s", n, f.name), func() bool { return f.produced() >= target })
}

// breach makes account cross the detector's 100 orders a minute, then
// waits until the detector's kill is enforced: it returns the kill.
func (f *flow) breach(t *testing.T, account string, limit time.Duration) domain.State {
	t.Helper()
	f.burst(t, account, 150)
	d := waitScope(t, f.s, "ACCOUNT:"+account, limit, "KILLED by the detector", func(st domain.State) bool {
		return st.Status == domain.StatusKilled && st.UpdatedBy == string(domain.TriggerDetector)
	})
	f.dropped(t, f.order(account, flowSymbols[1]))
	return *d.State
}

// burst sends n orders for account at once, each decided as may be.
func (f *flow) burst(t *testing.T, account string, n int) {
	t.Helper()
	orders := make([]domain.Order, n)
	for i := range orders {
		orders[i] = f.order(account, flowSymbols[i%len(flowSymbols)])
	}
	if err := f.produce("", orders...); err != nil {
		t.Fatal(err)
	}
}

func (f *flow) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
		<-f.done
	}
}

// finish stops the flow, waits until the routers have decided every order,
// and checks every order: exactly one audit record, the decision it must
// have; then `riskgate reconcile` over the flow's time range must pass.
func (f *flow) finish(t *testing.T) {
	t.Helper()
	close(f.stop)
	if err := <-f.done; err != nil {
		t.Fatalf("flow %s: %v", f.name, err)
	}
	end := time.Now().Add(time.Second)
	if err := caughtUp(f.s, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	want := f.want
	f.mu.Unlock()
	eventually(t, 2*time.Minute, fmt.Sprintf("audit records of the %d orders of flow %s", len(want), f.name), func() bool {
		return f.audits.count() >= len(want)
	})
	counts := map[domain.Decision]int{}
	bad := 0
	for id, w := range want {
		ds := f.audits.decisions(id)
		if len(ds) != 1 {
			t.Errorf("order %s has %d audit records %v, want exactly 1", id, len(ds), ds)
			bad++
		} else if w != "" && ds[0] != w {
			t.Errorf("order %s was %s, want %s", id, ds[0], w)
			bad++
		}
		if len(ds) > 0 {
			counts[ds[0]]++
		}
		if bad > 20 {
			t.Fatal("too many wrong decisions")
		}
	}
	t.Logf("flow %s: %d orders over %v, decisions %v", f.name, len(want), time.Since(f.start).Round(time.Second), counts)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rec := f.s.Riskgate(ctx, "reconcile", "--from", fmt.Sprint(f.start.UnixMilli()), "--to", fmt.Sprint(end.UnixMilli()))
	rec.Stdout, rec.Stderr = &out, &out
	if err := rec.Run(); err != nil {
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		t.Fatalf("riskgate reconcile exited %d (%v):\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), "reconcile: OK") {
		t.Fatalf("riskgate reconcile did not say OK:\n%s", out.String())
	}
}

// caughtUp waits until the routers' group has committed every order.
func caughtUp(s *harness.Stack, limit time.Duration) error {
	cl, err := s.KafkaConfig("test-lag").NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(limit)
	var lag int64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lag, err = groupLag(ctx, adm, router.DefaultGroup)
		cancel()
		if err == nil && lag == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("routers still %d orders behind after %v (%v)", lag, limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func groupLag(ctx context.Context, adm *kadm.Client, group string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, domain.TopicOrders)
	if err != nil {
		return 0, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok {
			at = c.At
		}
		lag += max(o.Offset-at, 0)
	})
	return lag, nil
}

// auditWatch reads audit.v1 (committed records) and keeps the decisions
// of the orders whose id has its prefix.
type auditWatch struct {
	prefix string
	mu     sync.Mutex
	by     map[string][]domain.Decision
	n      int
}

func watchAudits(t *testing.T, s *harness.Stack, prefix string) *auditWatch {
	t.Helper()
	cl, err := s.KafkaConfig("test-audit-"+prefix).NewClient(
		kgo.ConsumeTopics(domain.TopicAudit),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	w := &auditWatch{prefix: prefix, by: map[string][]domain.Decision{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cl.Close()
		var a struct {
			OrderID  string          `json:"order_id"`
			Decision domain.Decision `json:"decision"`
		}
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			w.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if !bytes.Contains(r.Value, []byte(`"`+prefix)) {
					return
				}
				a.OrderID, a.Decision = "", ""
				if json.Unmarshal(r.Value, &a) == nil && strings.HasPrefix(a.OrderID, prefix) {
					if len(w.by[a.OrderID]) == 0 {
						w.n++
					}
					w.by[a.OrderID] = append(w.by[a.OrderID], a.Decision)
				}
			})
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *auditWatch) decisions(id string) []domain.Decision {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]domain.Decision(nil), w.by[id]...)
}

// count is how many distinct orders have an audit record.
func (w *auditWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// wait returns the order's first decision, "" if none within limit.
func (w *auditWatch) wait(id string, limit time.Duration) domain.Decision {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if ds := w.decisions(id); len(ds) > 0 {
			return ds[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ""
}
