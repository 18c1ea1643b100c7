package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// The Limits workflow end to end on the real `riskgate dev` (issue 13): a
// temporary raise lets an account trade up to its new cap, a restart of
// the worker (with the whole dev stack, on the same data) does not lose its
// revert, after which the router BLOCKs at the old cap again; and a burst
// of BLOCKs kills a scope with trigger limit, which stays KILLED after its
// cooldown until an operator unkills it. The limits file gives ACCOUNT
// scopes max_orders 20 per 10 s (so windows slide quickly) and nothing
// else; the worker and the router both load it.
const e2eLimits = `defaults:
  ACCOUNT:
    max_orders: 20
    window_seconds: 10
    max_order_qty: 100000
ceilings:
  ACCOUNT:
    max_orders: 1000
    max_order_qty: 1000000
`

func TestDevLimitsWorkflow(t *testing.T) {
	dir := t.TempDir()
	limitsFile := filepath.Join(dir, "limits.yaml")
	if err := os.WriteFile(limitsFile, []byte(e2eLimits), 0o644); err != nil {
		t.Fatal(err)
	}
	d, p, args := startLimitsDevWith(t, filepath.Join(dir, "data"), "--limits", limitsFile, "--cooldown", "5s")
	temporalPort := args[len(args)-1]
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + temporalPort, Logger: quietTemporalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// A raise for 45 s (room for a loaded machine to decide the burst
	// before the restart): max_orders 40, and max_order_qty 50 so that a
	// probe of qty 60 shows when the router has the raise without
	// spending the window.
	const acct = "71001"
	scope := domain.Scope("ACCOUNT:" + acct)
	qty := 50.0
	view, err := workflows.OperateLimits(ctx, c, workflows.LimitsUpdateRaise, workflows.LimitsRequest{
		Scope: scope, Operator: "olga", Reason: "desk rebalancing", DurationSeconds: 45,
		Limits: domain.LimitValues{MaxOrders: i64p(40), MaxOrderQty: &qty},
	})
	if err != nil {
		t.Fatalf("raise: %v", err)
	}
	raisedAt := time.Now()
	if !view.Applied || view.State != workflows.LimitStateTemporary || *view.Limits.MaxOrders != 40 || view.Source["max_orders"] != workflows.LimitSourceTemporary {
		t.Fatalf("raise returned %+v, want TEMPORARY max_orders 40", view)
	}
	d.probeUntil(t, "rse", acct, 60, func(a domain.AuditRecord) bool {
		return a.Decision == domain.DecisionBlock && a.Limit == "ACCOUNT:"+acct+" max_order_qty=50"
	})
	d.orders(t, "raised", 42, spread(acct))
	wantCap(t, d.audit(t, "raised", 42), 40, "ACCOUNT:"+acct+" max_orders=40/10s", 41)
	if time.Since(raisedAt) > 45*time.Second {
		t.Logf("the burst was decided %v after the raise, on a loaded machine", time.Since(raisedAt).Round(time.Second))
	}

	// The worker restarts with the whole dev stack, on the same data: the
	// raise's timer is Temporal's, and the revert is not lost.
	p.interrupt(t)
	stoppedAt := time.Now()
	p = startDev(t, mustBinary(t), args...)
	restartedAt := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("riskgate dev output after the restart:\n%s", p.output.String())
		}
	})
	eventually(t, 3*time.Minute, "the raise reverted", func() bool {
		v, err := workflows.QueryLimits(ctx, c, scope)
		if err != nil {
			return false
		}
		view = v
		return v.State == workflows.LimitStateDefault
	})
	if *view.Limits.MaxOrders != 20 || view.Source["max_orders"] != workflows.LimitSourceDefault {
		t.Fatalf("after the revert: %+v, want max_orders 20 from the worker's limits file", view)
	}
	cmds := d.limitCommands(t, scope, 2)
	if cmds[0].Action != domain.LimitsRaise || cmds[1].Action != domain.LimitsRevert || cmds[0].Operator != "olga" ||
		cmds[1].Old.MaxOrders == nil || *cmds[1].Old.MaxOrders != 40 || cmds[1].New.MaxOrders != nil {
		t.Fatalf("%s: %+v, want RAISE by olga then REVERT 40 → default", domain.TopicLimitsCommands, cmds)
	}
	if revertedAt := time.UnixMilli(cmds[1].TS); !revertedAt.After(stoppedAt) || cmds[1].TS < cmds[0].ExpiresAt {
		t.Fatalf("reverted at %s, want at its expiry %s by the restarted worker (the first stopped at %s)",
			revertedAt.Format(time.StampMilli), time.UnixMilli(cmds[0].ExpiresAt).Format(time.StampMilli), stoppedAt.Format(time.StampMilli))
	}
	t.Logf("raised at %s for 45 s; dev stopped at %s and running again at %s; reverted at %s",
		raisedAt.Format(time.TimeOnly), stoppedAt.Format(time.TimeOnly), restartedAt.Format(time.TimeOnly),
		time.UnixMilli(cmds[1].TS).Format(time.TimeOnly))
	// The router has the revert once a probe of qty 60 passes again; then
	// the window slides and the old cap holds.
	d.probeUntil(t, "rvt", acct, 60, func(a domain.AuditRecord) bool { return a.Decision == domain.DecisionAllow })
	time.Sleep(11 * time.Second)
	d.orders(t, "after", 22, spread(acct))
	wantCap(t, d.audit(t, "after", 22), 20, "ACCOUNT:"+acct+" max_orders=20/10s", 21)

	// A burst of BLOCKs: the detector escalates, the scope is KILLED with
	// trigger limit and stays so after its 5 s cooldown.
	burst := domain.Scope("ACCOUNT:72001")
	d.orders(t, "burst", 40, spread("72001"))
	var st domain.State
	eventually(t, 2*time.Minute, "ACCOUNT:72001 KILLED", func() bool {
		st = killState(ctx, c, burst)
		return st.Status == domain.StatusKilled
	})
	if st.Trigger != domain.TriggerLimit || st.AutoUnkillEnabled {
		t.Fatalf("after the burst: %+v, want KILLED by trigger limit, auto-unkill off", st)
	}
	time.Sleep(time.Until(time.UnixMilli(st.CooldownUntil)) + 10*time.Second)
	if st = killState(ctx, c, burst); st.Status != domain.StatusKilled || st.Trigger != domain.TriggerLimit {
		t.Fatalf("10 s after the cooldown: %+v, want still KILLED", st)
	}
	token, err := os.ReadFile(filepath.Join(dir, "data", "dev-token"))
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := httpDo(t, "POST", d.api+"/v1/unkill", strings.TrimSpace(string(token)),
		map[string]any{"scope": string(burst), "reason": "the desk fixed its algo"})
	if status != 200 {
		t.Fatalf("unkill: %d %s", status, body)
	}
	if st = killState(ctx, c, burst); st.Status != domain.StatusActive {
		t.Errorf("after the operator's unkill: %+v, want ACTIVE", st)
	}
}

func i64p(n int64) *int64 { return &n }

// spread makes an account's orders over five symbols, so that the
// detector's top-symbol-share rule (70 % of 20 orders) does not kill the
// account: every kill here comes from the limits.
func spread(acct string) func(int) domain.Order {
	syms := []string{"JPM", "AAPL", "MSFT", "NVDA", "TSLA"}
	return func(i int) domain.Order {
		return domain.Order{AccountID: acct, Symbol: syms[i%len(syms)], Qty: 1, Price: 10}
	}
}

func mustBinary(t *testing.T) string {
	t.Helper()
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// limitsDevProc is limitsDev with the API's address.
type limitsDevProc struct {
	limitsDev
	api string
}

// startLimitsDevWith starts `riskgate dev --no-gen` on data with extra
// flags, and returns its arguments (the Temporal port last) for a restart.
func startLimitsDevWith(t *testing.T, data string, extra ...string) (limitsDevProc, *devProcess, []string) {
	t.Helper()
	d := startLimitsDevSkip(t)
	ports := freePorts(t, 4)
	args := append([]string{"--data", data, "--no-gen",
		"--kafka-port", fmt.Sprint(ports[0]), "--ui-port", fmt.Sprint(ports[2]),
		"--api-addr", fmt.Sprintf("127.0.0.1:%d", ports[3])}, extra...)
	args = append(args, "--temporal-port", fmt.Sprint(ports[1]))
	p := startDev(t, mustBinary(t), args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("riskgate dev output:\n%s", p.output.String())
		}
	})
	d.broker = fmt.Sprintf("127.0.0.1:%d", ports[0])
	return limitsDevProc{limitsDev: d, api: fmt.Sprintf("http://127.0.0.1:%d", ports[3])}, p, args
}

// startLimitsDevSkip skips without the temporal CLI or kcat, and returns
// kcat's path.
func startLimitsDevSkip(t *testing.T) limitsDev {
	t.Helper()
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (Debian package kcat; .ci/run installs it)")
	}
	return limitsDev{kcat: kcat}
}

// probeUntil sends one order of qty at a time (ids prefix-00, -01, …) until
// its decision satisfies ok.
func (d limitsDevProc) probeUntil(t *testing.T, prefix, acct string, qty float64, ok func(domain.AuditRecord) bool) {
	t.Helper()
	for i := 0; ; i++ {
		p := fmt.Sprintf("%s%02d", prefix, i)
		d.orders(t, p, 1, func(int) domain.Order { return domain.Order{AccountID: acct, Symbol: "GS", Qty: qty, Price: 10} })
		a := d.audit(t, p, 1)[0]
		if ok(a) {
			return
		}
		if i == 60 {
			t.Fatalf("probe %s: still %s %q (%s) after a minute", p, a.Decision, a.Limit, a.Reason)
		}
		time.Sleep(time.Second)
	}
}

// limitCommands reads risk.limits.commands.v1 with kcat until it holds n
// commands of scope, and returns them in order.
func (d limitsDevProc) limitCommands(t *testing.T, scope domain.Scope, n int) []domain.LimitsCommand {
	t.Helper()
	var got []domain.LimitsCommand
	eventually(t, time.Minute, fmt.Sprintf("%d commands of %s", n, scope), func() bool {
		out, err := exec.Command(d.kcat, "-C", "-b", d.broker, "-t", domain.TopicLimitsCommands, "-o", "beginning", "-e", "-q").Output()
		if err != nil {
			return false
		}
		got = got[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var c domain.LimitsCommand
			if json.Unmarshal([]byte(line), &c) == nil && c.Scope == scope {
				got = append(got, c)
			}
		}
		return len(got) >= n
	})
	return got
}

// killState queries the scope's KillSwitch run; the zero State when it has
// none open.
func killState(ctx context.Context, c client.Client, s domain.Scope) domain.State {
	var st domain.State
	v, err := c.QueryWorkflow(ctx, s.WorkflowID(), "", workflows.QueryState)
	if err == nil {
		_ = v.Get(&st)
	}
	if err != nil && st.Status == "" {
		st.Status = domain.StatusActive // no open run: the incident is over
	}
	return st
}
