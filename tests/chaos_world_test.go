package tests

// The system under chaos as every experiment sees it, whether role
// processes or the dev stack: Kafka to send orders to and read decisions
// and kill states from, the API, steady traffic that keeps sending orders
// of a scope killed before the first experiment, and the checks that must
// hold whatever was broken.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/router"
)

// The detector rules of the chaos runs: a burst of burstOrders orders of
// one account is a breach; the steady traffic, about one order per account
// per second, stays far under it. A scope is normal 5 s after its window
// empties, so a 20 s cooldown is what decides when its kill ends.
const (
	chaosRules = `normal_after: 5s
rules:
  - name: chaos_account_count_10s
    dimension: ACCOUNT
    window: 10s
    metric: count
    threshold: 30
    action: KILL
`
	burstOrders    = 60
	chaosCooldown  = "20s"
	steadyAccounts = 40
	heldAccount    = "held"
)

// writeChaosRules writes the rules file into dir.
func writeChaosRules(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "chaos-rules.yaml")
	if err := os.WriteFile(p, []byte(chaosRules), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// chaosWorld is one system under chaos.
type chaosWorld struct {
	name    string // "roles" or "dev", the prefix of its experiments' rows
	bin     string
	kc      kafka.Config
	apiURL  string
	token   string
	start   time.Time
	reader  *topicReader
	cl      *kgo.Client
	seq     atomic.Int64
	phase   atomic.Pointer[string] // the running experiment, in order ids
	traffic func() error           // stops the steady traffic
	results []*chaosResult
}

// chaosResult is what an experiment measured, for its row once the final
// checks have read every decision.
type chaosResult struct {
	row             chaosRow
	phase           string
	broke, recovery time.Time
	scopes          []string // accounts killed by the experiment's breaches
	// dueInOutage is the account whose cooldown fell due during the outage.
	dueInOutage string
}

// newChaosWorld reads the world's topics, kills the held account through
// the API as an operator would, and starts steady traffic once the kill is
// enforced.
func newChaosWorld(t *testing.T, name, bin string, kc kafka.Config, apiURL, token string) *chaosWorld {
	t.Helper()
	w := &chaosWorld{name: name, bin: bin, kc: kc, apiURL: apiURL, token: token, start: time.Now().Add(-time.Second)}
	w.setPhase("setup")
	w.reader = readKafka(t, kc, domain.TopicAudit, domain.TopicState)
	cl, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	w.cl = cl

	status, _, body := httpDo(t, "POST", apiURL+"/v1/kill", token, map[string]any{
		"scope": "ACCOUNT:" + heldAccount, "reason": "chaos: a kill in force through every experiment", "cooldown_seconds": 86400,
	})
	if status != 200 {
		t.Fatalf("kill ACCOUNT:%s: %d %s", heldAccount, status, body)
	}
	w.enforced(t, heldAccount)
	w.startTraffic()
	t.Cleanup(func() { _ = w.traffic() })
	return w
}

func (w *chaosWorld) setPhase(p string) { w.phase.Store(&p) }

// orderRecord is a fresh order of an account, its id naming the running
// experiment and what the order is for.
func (w *chaosWorld) orderRecord(account, kind string) (*kgo.Record, string) {
	n := w.seq.Add(1)
	o := domain.Order{OrderID: fmt.Sprintf("%s-%s-%s-%07d", w.name, *w.phase.Load(), kind, n),
		TS: time.Now().UnixMilli(), AccountID: account, Symbol: fmt.Sprintf("SYM%d", n%8),
		Side: domain.Buy, Qty: 1, Price: 10, Strategy: "chaos"}
	b, _ := json.Marshal(o) // plain strings and numbers: cannot fail
	return &kgo.Record{Topic: domain.TopicOrders, Key: []byte(account), Value: b}, o.OrderID
}

// startTraffic sends 40 orders a second over the steady accounts and one
// a second of the held account, until w.traffic is called.
func (w *chaosWorld) startTraffic() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-tick.C:
			}
			var recs []*kgo.Record
			for j := range 2 {
				r, _ := w.orderRecord(fmt.Sprintf("steady-%02d", (2*i+j)%steadyAccounts), "steady")
				recs = append(recs, r)
			}
			if i%20 == 0 {
				r, _ := w.orderRecord(heldAccount, "held")
				recs = append(recs, r)
			}
			if err := w.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil && ctx.Err() == nil {
				done <- fmt.Errorf("steady traffic: %w", err)
				return
			}
		}
	}()
	var once atomic.Bool
	w.traffic = func() error {
		if !once.CompareAndSwap(false, true) {
			return nil
		}
		cancel()
		return <-done
	}
}

// breach sends a burst of one account's orders, over the detector's limit,
// and returns their ids.
func (w *chaosWorld) breach(t *testing.T, account string) []string {
	t.Helper()
	recs := make([]*kgo.Record, burstOrders)
	ids := make([]string, burstOrders)
	for i := range recs {
		recs[i], ids[i] = w.orderRecord(account, "burst")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("burst of %s: %v", account, err)
	}
	return ids
}

// states is every published state of an account's scope, with when it was
// published.
func (w *chaosWorld) states(account string) ([]domain.State, []time.Time) {
	key := "ACCOUNT:" + account
	var sts []domain.State
	var at []time.Time
	for _, r := range w.reader.find(domain.TopicState, func(r *kgo.Record) bool { return string(r.Key) == key }) {
		if st, err := domain.DecodeState(r.Value); err == nil {
			sts, at = append(sts, st), append(at, r.Timestamp)
		}
	}
	return sts, at
}

// killed returns when the account's scope was first published KILLED.
func (w *chaosWorld) killed(account string) (domain.State, time.Time, bool) {
	sts, at := w.states(account)
	for i, st := range sts {
		if st.Status == domain.StatusKilled {
			return st, at[i], true
		}
	}
	return domain.State{}, time.Time{}, false
}

// waitKilled waits for the breach of an account to end as a kill.
func (w *chaosWorld) waitKilled(t *testing.T, account string, limit time.Duration) (domain.State, time.Time) {
	t.Helper()
	var st domain.State
	var at time.Time
	eventually(t, limit, "ACCOUNT:"+account+" KILLED on "+domain.TopicState, func() bool {
		var ok bool
		st, at, ok = w.killed(account)
		return ok
	})
	return st, at
}

// enforced sends orders of a killed account until the router drops one,
// and returns that order's id: from its offset on, every order of the
// account must be dropped.
func (w *chaosWorld) enforced(t *testing.T, account string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		rec, id := w.orderRecord(account, "probe")
		if err := w.cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatalf("probe of %s: %v", account, err)
		}
		if a := w.reader.audit(t, id); a.Decision == domain.DecisionDrop {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("ACCOUNT:%s is killed but its orders are still not dropped after 90 s", account)
		}
	}
}

// audits returns the audit records that match.
func (w *chaosWorld) audits(match func(a domain.AuditRecord) bool) []domain.AuditRecord {
	w.reader.mu.Lock()
	defer w.reader.mu.Unlock()
	var out []domain.AuditRecord
	for _, as := range w.reader.audits {
		for _, a := range as {
			if match(a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// leaks counts the ALLOWs of a killed account (orders of the running
// experiment only, if phase is not empty) after the router first dropped
// one of its orders: the account's orders share one orders.v1 partition,
// so those are the orders decided after the kill was enforced.
func (w *chaosWorld) leaks(account, phase string) int {
	as := w.audits(func(a domain.AuditRecord) bool { return a.AccountID == account })
	first := int64(-1)
	for _, a := range as {
		if a.Decision == domain.DecisionDrop && (first < 0 || a.Offset < first) {
			first = a.Offset
		}
	}
	n := 0
	for _, a := range as {
		if first >= 0 && a.Offset > first && a.Decision == domain.DecisionAllow &&
			(phase == "" || strings.HasPrefix(a.OrderID, w.name+"-"+phase+"-")) {
			n++
		}
	}
	return n
}

// auditCount counts the decisions made between two times.
func (w *chaosWorld) auditCount(from, to time.Time) int {
	return len(w.audits(func(a domain.AuditRecord) bool {
		return a.TS >= from.UnixMilli() && a.TS <= to.UnixMilli()
	}))
}

// chaosExperiment is one part of the system broken and brought back.
type chaosExperiment struct {
	name string
	// note goes into the row; empty notes how long the part took to be
	// ready once restarted.
	note string
	// timerDue keeps the part down until the pending cooldown timer has
	// fallen due, for parts the timer needs: it must fire once they are back.
	timerDue bool
	// breaks SIGKILLs the part.
	breaks func(t *testing.T)
	// outage waits, with the part down and the burst sent, for what shows
	// the outage had its effect and that what must go on, goes on. It gives
	// up by failing.
	outage func(t *testing.T, burst string)
	// restart brings the part back and returns when it is ready again.
	restart func(t *testing.T) time.Time
	// after checks that the part does its job again.
	after func(t *testing.T, b chaosBurst)
}

// chaosBurst is the breach sent while a part was down.
type chaosBurst struct {
	account string
	sent    []string // the ids of its orders
	dropped string   // an order of the account dropped once its kill was enforced
}

// minRouted is how many orders of the steady traffic an outage lasts for
// at least: routing must go on whatever part is down.
const minRouted = 80

// run is one experiment. Steady state: the held kill and a fresh detector
// kill (its cooldown timer pending) are enforced. Then the part is
// SIGKILLed, a burst with a breach is sent, the part comes back, and the
// breach must end as a kill that the routers enforce.
func (w *chaosWorld) run(t *testing.T, e chaosExperiment) {
	res := &chaosResult{phase: e.name, row: chaosRow{experiment: w.name + ": " + e.name}}
	w.results = append(w.results, res)
	defer func() { res.row.failed = t.Failed() }()
	w.setPhase(e.name)
	armed, burst := "armed-"+e.name, "burst-"+e.name
	res.scopes = []string{armed, burst}

	w.breach(t, armed)
	armedKill, _ := w.waitKilled(t, armed, 90*time.Second)
	w.enforced(t, armed)
	w.enforced(t, heldAccount)

	res.broke = time.Now()
	e.breaks(t)
	b := chaosBurst{account: burst, sent: w.breach(t, burst)}
	e.outage(t, burst)
	eventually(t, time.Minute, fmt.Sprintf("%d steady orders routed while %s is down", minRouted, e.name), func() bool {
		return len(w.audits(func(a domain.AuditRecord) bool {
			return a.TS >= res.broke.UnixMilli() && strings.HasPrefix(a.AccountID, "steady-")
		})) >= minRouted
	})
	if e.timerDue {
		due := time.UnixMilli(armedKill.CooldownUntil)
		eventually(t, 2*time.Minute, "the cooldown of ACCOUNT:"+armed+" to fall due during the outage", func() bool {
			return time.Now().After(due)
		})
		res.dueInOutage = armed
	}
	restarted := time.Now()
	res.recovery = e.restart(t)
	res.row.downtime = res.recovery.Sub(res.broke)
	res.row.note = e.note
	if e.note == "" {
		res.row.note = fmt.Sprintf("ready %v after its restart", res.recovery.Sub(restarted).Round(100*time.Millisecond))
	}
	if e.timerDue {
		res.row.note += "; a cooldown fell due during the outage"
	}

	_, killedAt := w.waitKilled(t, burst, 2*time.Minute)
	res.row.killAfter = killedAt.Sub(res.recovery)
	b.dropped = w.enforced(t, burst)
	if e.after != nil {
		e.after(t, b)
	}
}

// burstRouted waits until every order of the burst has its decision:
// routing went on through the outage.
func (w *chaosWorld) burstRouted(t *testing.T, burst string) {
	t.Helper()
	eventually(t, time.Minute, "the burst of "+burst+" routed during the outage", func() bool {
		return w.decided(burst) >= burstOrders
	})
}

// decided counts the decisions on an account's orders.
func (w *chaosWorld) decided(account string) int {
	return len(w.audits(func(a domain.AuditRecord) bool { return a.AccountID == account }))
}

// finish ends a world's experiments with the checks that need every
// decision: each breach's kill ends when its cooldown timer fires, every
// order is audited exactly once (riskgate reconcile), no killed scope let
// an order through; then the rows are complete.
func (w *chaosWorld) finish(t *testing.T) {
	t.Helper()
	w.setPhase("end")
	deadline := time.Now().Add(2 * time.Minute)
	for _, res := range w.results {
		for _, account := range res.scopes {
			kill, _, ok := w.killed(account)
			if !ok {
				continue // its experiment failed before the kill
			}
			ended := w.unkilled(account, kill.Version)
			for ended.IsZero() && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				ended = w.unkilled(account, kill.Version)
			}
			switch until := time.UnixMilli(kill.CooldownUntil); {
			case ended.IsZero():
				t.Errorf("%s: the kill of ACCOUNT:%s did not end: its cooldown timer never fired", res.row.experiment, account)
				res.row.failed = true
			case ended.Before(until):
				t.Errorf("%s: the kill of ACCOUNT:%s ended at %v, before its cooldown until %v", res.row.experiment, account, ended, until)
				res.row.failed = true
			case account == res.dueInOutage && ended.Before(res.recovery):
				t.Errorf("%s: the kill of ACCOUNT:%s ended at %v, while the part was down", res.row.experiment, account, ended)
				res.row.failed = true
			}
		}
	}
	if err := w.traffic(); err != nil {
		t.Error(err)
	}
	if err := caughtUp(w.kc, router.DefaultGroup, 2*time.Minute); err != nil {
		t.Fatalf("routers: %v", err)
	}
	var out bytes.Buffer
	rec := exec.Command(w.bin, "reconcile", "--brokers", strings.Join(w.kc.Brokers, ","),
		"--from", fmt.Sprint(w.start.UnixMilli()), "--to", fmt.Sprint(time.Now().UnixMilli()))
	rec.Stdout, rec.Stderr = &out, &out
	if err := rec.Run(); err != nil || !strings.Contains(out.String(), "reconcile: OK") {
		t.Errorf("riskgate reconcile (%v): not every order was audited exactly once:\n%s", err, out.String())
	} else {
		t.Logf("riskgate reconcile:\n%s", out.String())
	}
	if sts, _ := w.states(heldAccount); len(sts) == 0 || sts[len(sts)-1].Status != domain.StatusKilled {
		t.Errorf("the held kill ended: %+v", sts)
	}
	if n := w.leaks(heldAccount, ""); n > 0 {
		t.Errorf("%d orders of the held kill were allowed", n)
	}
	for _, res := range w.results {
		res.row.leaks = w.leaks(heldAccount, res.phase)
		for _, account := range res.scopes {
			res.row.leaks += w.leaks(account, "")
		}
		if res.row.leaks > 0 {
			t.Errorf("%s: %d orders of killed scopes were allowed", res.row.experiment, res.row.leaks)
			res.row.failed = true
		}
		if !res.recovery.IsZero() {
			res.row.routed = w.auditCount(res.broke, res.recovery)
		}
	}
}

// unkilled returns when the scope was first published out of KILLED after
// the kill's version, or the zero time.
func (w *chaosWorld) unkilled(account string, killVersion int64) time.Time {
	sts, at := w.states(account)
	for i, st := range sts {
		if st.Version > killVersion && st.Status != domain.StatusKilled {
			return at[i]
		}
	}
	return time.Time{}
}

// report adds the world's rows to the chaos table.
func (w *chaosWorld) report(t *testing.T) {
	for _, res := range w.results {
		addChaosRow(t, res.row)
	}
}
