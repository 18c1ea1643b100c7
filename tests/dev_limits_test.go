package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
)

// End-to-end pre-trade limits on the real `riskgate dev` (DESIGN §9), with
// kcat as the client: the router BLOCKs the order that would cross a limit,
// synchronously, however fast the orders come, while the orders before it
// pass. Default limits are those of deploy/limits.yaml (ACCOUNT: 100 orders
// and $1,000,000 per 60 s, max_order_qty 100,000; SYMBOL: collar 10 %). The
// tests publish their own reference prices to marketdata.ref.v1.

// limitsDev is a running `riskgate dev --no-gen` and kcat pointed at it.
type limitsDev struct {
	kcat, broker string
	api, token   string // the dev API's URL and its dev token
	proc         *devProcess
	bin          string
	args         []string // riskgate dev's, for restart
}

// restart stops riskgate dev with Ctrl-C and starts it again on the same
// data directory and ports.
func (d *limitsDev) restart(t *testing.T) {
	t.Helper()
	d.proc.interrupt(t)
	d.proc = startDev(t, d.bin, d.args...)
}

func startLimitsDev(t *testing.T) limitsDev {
	t.Helper()
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (Debian package kcat; .ci/run installs it)")
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 4)
	data := t.TempDir()
	args := []string{"--data", data, "--no-gen",
		"--kafka-port", fmt.Sprint(ports[0]), "--temporal-port", fmt.Sprint(ports[1]),
		"--ui-port", fmt.Sprint(ports[2]), "--api-addr", fmt.Sprintf("127.0.0.1:%d", ports[3])}
	proc := startDev(t, bin, args...)
	token, err := os.ReadFile(filepath.Join(data, "dev-token"))
	if err != nil {
		t.Fatal(err)
	}
	return limitsDev{kcat: kcat, broker: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		api: fmt.Sprintf("http://127.0.0.1:%d", ports[3]), token: strings.TrimSpace(string(token)),
		proc: proc, bin: bin, args: args}
}

// searched waits until the API's audit search of account lists n records
// and returns their order ids in the order listed, page after page.
func (d limitsDev) searched(t *testing.T, account string, n int) []string {
	t.Helper()
	var ids []string
	eventually(t, 60*time.Second, fmt.Sprintf("%d audit records of account %s in the index", n, account), func() bool {
		ids = ids[:0]
		cursor := ""
		for {
			status, _, body := httpDo(t, "GET", d.api+"/v1/audit?limit=1000&account="+account+"&cursor="+cursor, d.token, nil)
			var page struct {
				Records []domain.AuditRecord `json:"records"`
				Next    string               `json:"next"`
			}
			if status != 200 || json.Unmarshal(body, &page) != nil {
				return false
			}
			for _, r := range page.Records {
				ids = append(ids, r.OrderID)
			}
			if cursor = page.Next; cursor == "" {
				return len(ids) >= n
			}
		}
	})
	return ids
}

// produce sends key|value lines to topic with kcat, in order (idempotent
// producer: a retry never reorders a partition).
func (d limitsDev) produce(t *testing.T, topic string, lines []string) {
	t.Helper()
	cmd := exec.Command(d.kcat, "-P", "-b", d.broker, "-t", topic, "-K", "|", "-X", "enable.idempotence=true")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P -t %s: %v\n%s", topic, err, out)
	}
}

// refs publishes reference prices, stamped now.
func (d limitsDev) refs(t *testing.T, prices map[string]float64) {
	t.Helper()
	var lines []string
	for sym, p := range prices {
		b, _ := json.Marshal(domain.RefPrice{Symbol: sym, Price: p, TS: time.Now().UnixMilli()})
		lines = append(lines, sym+"|"+string(b))
	}
	d.produce(t, domain.TopicRefPrices, lines)
}

// orders sends n orders with ids prefix-00000…, made by mk, keyed by account.
func (d limitsDev) orders(t *testing.T, prefix string, n int, mk func(i int) domain.Order) {
	t.Helper()
	lines := make([]string, n)
	for i := range n {
		o := mk(i)
		o.OrderID = fmt.Sprintf("%s-%05d", prefix, i)
		o.TS = time.Now().UnixMilli()
		if o.Side == "" {
			o.Side = domain.Buy
		}
		if o.Strategy == "" {
			o.Strategy = "VWAP"
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = o.AccountID + "|" + string(b)
	}
	d.produce(t, domain.TopicOrders, lines)
}

// audit waits until kcat, reading audit.v1 read_committed, sees a decision
// for each of the n orders of prefix, and returns them in order id order.
func (d limitsDev) audit(t *testing.T, prefix string, n int) []domain.AuditRecord {
	t.Helper()
	var got map[string]domain.AuditRecord
	eventually(t, 120*time.Second, fmt.Sprintf("the audit of %d orders %s-*", n, prefix), func() bool {
		out, err := exec.Command(d.kcat, "-C", "-b", d.broker, "-t", domain.TopicAudit, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level=read_committed").Output()
		if err != nil {
			return false
		}
		got = map[string]domain.AuditRecord{}
		for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			var a domain.AuditRecord
			if json.Unmarshal(line, &a) == nil && strings.HasPrefix(a.OrderID, prefix+"-") {
				if prev, dup := got[a.OrderID]; dup {
					t.Fatalf("order %s decided twice: %+v and %+v", a.OrderID, prev, a)
				}
				got[a.OrderID] = a
			}
		}
		return len(got) >= n
	})
	recs := make([]domain.AuditRecord, 0, len(got))
	for _, a := range got {
		recs = append(recs, a)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].OrderID < recs[j].OrderID })
	return recs
}

// wantCap checks a burst's decisions: exactly the first allowed orders are
// ALLOWed, the next one is BLOCKed naming limit with the value it would have
// produced, and no later order is ALLOWed (each is BLOCKed, or DROPped once
// the detector's kill lands).
//
// The detector sees the crossing order when the router does and kills the
// account for it; should that kill reach a router lagging behind before it
// has decided the crossing order, every order from there on is DROPped and
// none BLOCKed. That is accepted, and logged, only when the orders before
// are all ALLOWed and all after are DROPped: no order passes the cap either
// way.
func wantCap(t *testing.T, recs []domain.AuditRecord, allowed int, limit string, value float64) {
	t.Helper()
	if first := slices.IndexFunc(recs, func(a domain.AuditRecord) bool { return a.Decision != domain.DecisionAllow }); first >= 0 && first <= allowed &&
		!slices.ContainsFunc(recs[first:], func(a domain.AuditRecord) bool { return a.Decision != domain.DecisionDrop }) {
		t.Logf("the detector's kill reached the router before the crossing order: orders %d–%d ALLOWed, every later one DROPped", 1, first)
		return
	}
	counts := map[domain.Decision]int{}
	bad := 0
	for i, a := range recs {
		counts[a.Decision]++
		var why string
		switch {
		case i < allowed && a.Decision != domain.DecisionAllow:
			why = "before the cap: want ALLOW"
		case i >= allowed && a.Decision == domain.DecisionAllow:
			why = fmt.Sprintf("ALLOWed beyond the cap of %d", allowed)
		case i >= allowed && a.Decision != domain.DecisionBlock && a.Decision != domain.DecisionDrop:
			why = "beyond the cap: want BLOCK or DROP"
		}
		if why != "" {
			if bad++; bad <= 5 {
				t.Errorf("order %d (%s): %s %q %s", i, a.OrderID, a.Decision, a.Limit, why)
			}
		}
	}
	if counts[domain.DecisionAllow] != allowed || bad > 0 {
		t.Errorf("%d orders ALLOWed, want exactly the first %d; %d orders decided wrongly (decisions %v)", counts[domain.DecisionAllow], allowed, bad, counts)
	}
	if len(recs) <= allowed {
		t.Fatalf("only %d decisions", len(recs))
	}
	if c := recs[allowed]; c.Decision != domain.DecisionBlock || c.Limit != limit || c.LimitValue != value {
		t.Errorf("the crossing order %s: %s limit %q value %v, want BLOCK %q %v", c.OrderID, c.Decision, c.Limit, c.LimitValue, limit, value)
	}
}

// TestDevLimitsBlock: on `riskgate dev` with the default limits, an order
// 50 % above its reference is BLOCKed by the collar, a 5,000-order burst of
// one account gets exactly 100 orders through (its max_orders), a burst of
// $30,000 orders exactly 33 ($990,000 of its $1,000,000 max_notional), and a
// fat-finger qty of 1e9 is BLOCKed by max_order_qty.
//
// The detector sees every order on orders.v1, blocked or not, and kills
// what a burst breaches (the account, its symbols, its strategy); DROP comes
// before BLOCK, so each case trades its own account, symbols and strategy.
// The fat finger comes last: it counts in the notional rules as the rules'
// max_order_notional ($5,000,000), which kills its account only.
// A burst is spread over six symbols of its own (without reference prices,
// so not collared): in one symbol the account's top-symbol-share rule (70 %
// of at least 20 orders) would kill it at its 20th order, long before the
// cap, and the test would depend on the router deciding the next 80 orders
// before that kill lands.
func TestDevLimitsBlock(t *testing.T) {
	d := startLimitsDev(t)
	d.refs(t, map[string]float64{"AAPL": 200, "NVDA": 120})

	t.Run("collar", func(t *testing.T) {
		d.orders(t, "clr", 2, func(i int) domain.Order {
			return domain.Order{AccountID: "50004", Symbol: "AAPL", Strategy: "CLR", Qty: 10, Price: []float64{300, 204}[i]}
		})
		recs := d.audit(t, "clr", 2)
		if a := recs[0]; a.Decision != domain.DecisionBlock || a.Limit != "SYMBOL:AAPL collar_pct=10" || a.LimitValue != 50 {
			t.Errorf("price 300 against 200: %s limit %q value %v, want BLOCK by SYMBOL:AAPL collar_pct=10 at 50", a.Decision, a.Limit, a.LimitValue)
		}
		if a := recs[1]; a.Decision != domain.DecisionAllow {
			t.Errorf("price 204 against 200: %s %q, want ALLOW", a.Decision, a.Limit)
		}
	})
	t.Run("max_orders burst", func(t *testing.T) {
		d.orders(t, "cnt", 5000, func(i int) domain.Order {
			return domain.Order{AccountID: "50001", Symbol: fmt.Sprintf("CNT%c", 'A'+i%6), Strategy: "CNT", Qty: 1, Price: 200}
		})
		recs := d.audit(t, "cnt", 5000)
		wantCap(t, recs, 100, "ACCOUNT:50001 max_orders=100/60s", 101)
		// The audit search lists them newest first, those of one
		// millisecond in the order the router decided them: ALLOW up to
		// the cap, the crossing BLOCK, then the rest.
		want := make([]string, len(recs))
		for i, r := range recs {
			want[len(recs)-1-i] = r.OrderID
		}
		if got := d.searched(t, "50001", len(recs)); !slices.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Errorf("the audit search lists %d records out of the order they were decided in, first at %d: %v, want %v",
				len(got), i, got[i:min(i+5, len(got))], want[i:min(i+5, len(want))])
		}
	})
	t.Run("max_notional burst", func(t *testing.T) {
		d.orders(t, "ntl", 5000, func(i int) domain.Order {
			return domain.Order{AccountID: "50002", Symbol: fmt.Sprintf("NTL%c", 'A'+i%6), Strategy: "NTL", Qty: 75, Price: 400} // $30,000 each
		})
		wantCap(t, d.audit(t, "ntl", 5000), 33, "ACCOUNT:50002 max_notional=1000000/60s", 1_020_000)
	})
	t.Run("unreadable limits record", func(t *testing.T) {
		// A record of risk.limits.v1 the router cannot read (max_orders
		// out of range) fails its scope closed: every order BLOCKed,
		// whatever the record meant, until a readable one.
		d.produce(t, domain.TopicLimits, []string{
			`ACCOUNT:50005|{"scope":"ACCOUNT:50005","limits":{"max_orders":-3},"version":1,"updated_ts":1,"updated_by":"x","reason":"x"}`})
		eventually(t, 30*time.Second, "the router failing ACCOUNT:50005 closed", func() bool {
			status, _, body := httpDo(t, "GET", d.api+"/metrics", "", nil)
			return status == 200 && bytes.Contains(body, []byte("\nriskgate_router_limits_failed_closed_scopes 1\n"))
		})
		d.orders(t, "unr", 1, func(int) domain.Order {
			return domain.Order{AccountID: "50005", Symbol: "UNRA", Strategy: "UNR", Qty: 1, Price: 10}
		})
		if a := d.audit(t, "unr", 1)[0]; a.Decision != domain.DecisionBlock || a.Limit != "ACCOUNT:50005 unreadable_limits" {
			t.Errorf("under an unreadable limits record: %s limit %q, want BLOCK by ACCOUNT:50005 unreadable_limits", a.Decision, a.Limit)
		}
	})
	t.Run("fat finger", func(t *testing.T) {
		d.orders(t, "fat", 1, func(int) domain.Order {
			return domain.Order{AccountID: "50003", Symbol: "NVDA", Strategy: "FAT", Qty: 1e9, Price: 120}
		})
		a := d.audit(t, "fat", 1)[0]
		if a.Decision != domain.DecisionBlock || a.Limit != "ACCOUNT:50003 max_order_qty=100000" || a.LimitValue != 1e9 {
			t.Errorf("qty 1e9: %s limit %q value %v, want BLOCK by ACCOUNT:50003 max_order_qty=100000", a.Decision, a.Limit, a.LimitValue)
		}
	})
}

// TestDevLimitsGlobalCap: a GLOBAL max_orders set by an override on
// risk.limits.v1 holds a 5,000-order burst spread over 100 accounts and 8
// symbols (no account or symbol near its own caps or rules) to exactly the
// cap.
func TestDevLimitsGlobalCap(t *testing.T) {
	d := startLimitsDev(t)
	ref := map[string]float64{"AAPL": 200, "MSFT": 400, "JPM": 200, "NVDA": 120, "TSLA": 250, "META": 500, "AMZN": 185, "GOOGL": 170}
	syms := []string{"AAPL", "MSFT", "JPM", "NVDA", "TSLA", "META", "AMZN", "GOOGL"}
	d.refs(t, ref)
	const capOrders = 250
	// max_order_qty 50 makes the override visible without spending the
	// window: a probe of qty 60 is BLOCKed by it once the router has it.
	maxQty, maxOrders := 50.0, int64(capOrders)
	rec, err := json.Marshal(domain.LimitsRecord{Scope: domain.Scope("GLOBAL"), Version: 1, UpdatedTS: time.Now().UnixMilli(),
		UpdatedBy: "e2e", Reason: "global cap test", Limits: domain.LimitValues{MaxOrderQty: &maxQty, MaxOrders: &maxOrders}})
	if err != nil {
		t.Fatal(err)
	}
	d.produce(t, domain.TopicLimits, []string{"GLOBAL|" + string(rec)})
	for i := 0; ; i++ {
		prefix := fmt.Sprintf("probe%02d", i)
		d.orders(t, prefix, 1, func(int) domain.Order { return domain.Order{AccountID: "59999", Symbol: "AAPL", Qty: 60, Price: 200} })
		a := d.audit(t, prefix, 1)[0]
		if a.Decision == domain.DecisionBlock && a.Limit == "GLOBAL max_order_qty=50" {
			break
		}
		if a.Decision == domain.DecisionAllow {
			t.Fatalf("probe %s ALLOWed before the override applied: it would spend the GLOBAL window", a.OrderID)
		}
		if i == 30 {
			t.Fatalf("the GLOBAL override on %s never applied: last probe %+v", domain.TopicLimits, a)
		}
		time.Sleep(time.Second)
	}
	d.orders(t, "glb", 5000, func(i int) domain.Order {
		sym := syms[i%len(syms)]
		return domain.Order{AccountID: fmt.Sprintf("6%04d", i%100), Symbol: sym, Qty: 1, Price: ref[sym]}
	})
	recs := d.audit(t, "glb", 5000)
	// Orders of 100 accounts spread over the topic's partitions: which
	// orders pass depends on the order the router reads its partitions in,
	// so only the count and the limit are fixed.
	// Repeated BLOCKs escalate to a kill of GLOBAL (trigger limit), so the
	// orders after it lands are DROPped by that kill instead.
	counts := map[domain.Decision]int{}
	for _, a := range recs {
		counts[a.Decision]++
		if a.Decision == domain.DecisionBlock && a.Limit != fmt.Sprintf("GLOBAL max_orders=%d/60s", capOrders) {
			t.Errorf("order %s BLOCKed by %q, want the GLOBAL cap", a.OrderID, a.Limit)
		}
		if a.Decision == domain.DecisionDrop && !strings.Contains(a.Reason, "GLOBAL") {
			t.Errorf("order %s DROPped for %q, want the GLOBAL kill", a.OrderID, a.Reason)
		}
	}
	if counts[domain.DecisionAllow] != capOrders || counts[domain.DecisionBlock] == 0 ||
		counts[domain.DecisionBlock]+counts[domain.DecisionDrop] != len(recs)-capOrders {
		t.Errorf("decisions %v, want exactly %d ALLOW and every other order BLOCKed by the GLOBAL cap or DROPped by its kill", counts, capOrders)
	}
}

// TestDevUnrestoredUsageFailsClosed damages a limits usage record of the
// router's changelog with kcat and restarts riskgate dev: the router cannot
// know the usage that record held, so it fails closed on it (DESIGN §9: a
// crash never resets a budget) — a new order is BLOCKed naming
// unrestored_usage, a CANCEL passes, and its gauge says so — where it used
// to skip the record and hand that budget back; then it rebuilds the day's
// credit from orders.gated.v1, so that only the windows keep blocking. A
// damaged dedup record beside it makes the router rebuild that partition's
// dedup window from audit.v1.
func TestDevUnrestoredUsageFailsClosed(t *testing.T) {
	d := startLimitsDev(t)
	mk := func(acct string, typ domain.OrderType) func(int) domain.Order {
		return func(int) domain.Order {
			return domain.Order{AccountID: acct, Symbol: "ZZZ", Qty: 10, Price: 100, Type: typ}
		}
	}
	d.orders(t, "ur-before", 1, mk("81001", domain.OrderNew))
	if a := d.audit(t, "ur-before", 1); a[0].Decision != domain.DecisionAllow {
		t.Fatalf("order before: %+v, want ALLOW", a[0])
	}
	// A usage record of an unknown format, and a dedup record with an
	// unknown flags byte, in files of their own (kcat -P sends a file
	// as one message).
	for i, rec := range [][]byte{{0x10, 9, 0}, {1, 2, 0xff, 1, 'x'}} {
		bad := filepath.Join(t.TempDir(), fmt.Sprint("bad", i))
		if err := os.WriteFile(bad, rec, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(d.kcat, "-P", "-b", d.broker, "-t", domain.TopicDedup, "-p", "0", bad).CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
	}
	d.restart(t)
	eventually(t, 60*time.Second, "riskgate_router_limits_unrestored_partitions 1 on /metrics", func() bool {
		status, _, body := httpDo(t, "GET", d.api+"/metrics", "", nil)
		return status == 200 && strings.Contains(string(body), "\nriskgate_router_limits_unrestored_partitions 1\n")
	})
	d.orders(t, "ur-after", 1, mk("81002", domain.OrderNew))
	d.orders(t, "ur-cancel", 1, mk("81001", domain.OrderCancel))
	if a := d.audit(t, "ur-after", 1)[0]; a.Decision != domain.DecisionBlock || a.Limit != "GLOBAL unrestored_usage" {
		t.Errorf("order after the restart: %s %q, want BLOCK GLOBAL unrestored_usage", a.Decision, a.Limit)
	}
	if a := d.audit(t, "ur-cancel", 1)[0]; a.Decision != domain.DecisionAllow {
		t.Errorf("CANCEL after the restart: %s %q, want ALLOW", a.Decision, a.Reason)
	}
	// The day's credit is rebuilt from orders.gated.v1 (which holds the
	// order allowed before), so only the windows keep blocking.
	eventually(t, 30*time.Second, "a credit rebuild counted on /metrics", func() bool {
		status, _, body := httpDo(t, "GET", d.api+"/metrics", "", nil)
		return status == 200 && strings.Contains(string(body), "\nriskgate_router_limits_credit_rebuilds_total{outcome=\"rebuilt\"} 1\n")
	})
	// The damaged dedup record: the window was rebuilt from audit.v1
	// (here the intact records hold the same identities), and the order
	// decided before the restart, sent again, is still a DUPLICATE.
	if status, _, body := httpDo(t, "GET", d.api+"/metrics", "", nil); status != 200 || !strings.Contains(string(body), "\nriskgate_router_dedup_rebuilds_total 1\n") {
		t.Errorf("no dedup window rebuild counted on /metrics")
	}
	d.orders(t, "ur-before", 1, mk("81001", domain.OrderNew))
	eventually(t, 60*time.Second, "the order sent again after the restart audited DUPLICATE", func() bool {
		out, err := exec.Command(d.kcat, "-C", "-b", d.broker, "-t", domain.TopicAudit, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level=read_committed").Output()
		if err != nil {
			return false
		}
		var decisions []domain.Decision
		for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			var a domain.AuditRecord
			if json.Unmarshal(line, &a) == nil && a.OrderID == "ur-before-00000" {
				decisions = append(decisions, a.Decision)
			}
		}
		if len(decisions) > 1 && decisions[1] != domain.DecisionDuplicate {
			t.Fatalf("order sent again after the restart: decisions %v, want ALLOW then DUPLICATE", decisions)
		}
		return len(decisions) == 2
	})
}
