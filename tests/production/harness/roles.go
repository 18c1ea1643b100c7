package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Instances of riskgate roles, in the order a rolling restart takes them.
var Instances = []string{"router-1", "router-2", "detector-1", "detector-2", "worker-1", "worker-2", "indexer", "api"}

// ShutdownBound is how long a role may take to exit on SIGTERM: the
// terminationGracePeriodSeconds of deploy/k8s.
const ShutdownBound = 30 * time.Second

// rules are the detectors' rules: deploy/rules.yaml's per-account count
// rule alone (the symbol and firm-wide rules would trip on the tests'
// steady flow over a few symbols), and a short normal_after so that an
// incident's auto-unkill is seen within a test.
const rules = `# The production harness's detector rules (tests/production/harness).
normal_after: 5s
rules:
  - name: account_count_1m
    dimension: ACCOUNT
    window: 1m
    metric: count
    threshold: 100
    action: KILL
`

// looseLimits are pre-trade limits this harness's traffic never reaches:
// its tests are about kills, restarts and outages (the limits have their
// own tests), and a window cap would BLOCK what they expect ALLOWed.
const looseLimits = `
defaults:
  ACCOUNT:
    max_orders: 1000000000
    max_notional: 100000000000000
    window_seconds: 60
    credit_limit: 100000000000000
  SYMBOL:
    max_orders: 1000000000
    max_notional: 100000000000000
    window_seconds: 60
  STRATEGY:
    max_orders: 1000000000
    max_notional: 100000000000000
    window_seconds: 60
  GLOBAL:
    max_orders: 1000000000
    max_notional: 100000000000000
    window_seconds: 60
ceilings: {}
`

// BenchThreshold is the account count threshold of the harness's rules,
// for `riskgate bench killswitch --threshold`.
const BenchThreshold = 100

// roleArgs is the command line of each instance: the arguments of its
// deploy/k8s container, with the harness's ports and files.
func (s *Stack) roleArgs(name string, port int) []string {
	ops := fmt.Sprintf("127.0.0.1:%d", port)
	switch name {
	case "router-1", "router-2":
		return []string{"router", "--instance-id", name, "--limits", filepath.Join(s.Dir, "limits.yaml"), "--metrics-addr", ops}
	case "detector-1", "detector-2":
		return []string{"detector", "--rules", filepath.Join(s.Dir, "rules.yaml"), "--metrics-addr", ops}
	case "worker-1", "worker-2":
		// Probation shortened so that an auto-unkill reaches ACTIVE within a test.
		return []string{"worker", "--probation", "10s", "--metrics-addr", ops}
	case "indexer":
		return []string{"indexer", "--data", filepath.Join(s.Dir, "index"), "--metrics-addr", ops}
	case "api":
		return []string{"api", "--addr", ops, "--tokens", filepath.Join(s.Dir, "tokens.json"), "--data", filepath.Join(s.Dir, "index")}
	}
	panic("unknown instance " + name)
}

// roleEnv is what the k8s ConfigMap gives every role, pointed at the
// harness; nothing of the caller's RISKGATE_* settings leaks in.
func (s *Stack) roleEnv() []string {
	return append(scrubEnv(os.Environ(), "RISKGATE_"),
		"RISKGATE_BROKERS="+strings.Join(s.Brokers, ","),
		"RISKGATE_TEMPORAL="+s.Temporal,
		"RISKGATE_NAMESPACE="+Namespace,
		"RISKGATE_LOG_FORMAT=json",
		"RISKGATE_LOG_LEVEL=info",
	)
}

// Riskgate is a riskgate command against the stack (its env and binary),
// for the tools an operator runs: gen, reconcile, bench, tail.
func (s *Stack) Riskgate(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.RiskgateBin, args...)
	cmd.Env = append(s.roleEnv(), "RISKGATE_API="+s.API, "RISKGATE_TOKEN="+s.Token)
	return cmd
}

// WaitReady waits until the instance's /readyz answers 200.
func (s *Stack) WaitReady(ctx context.Context, name string) error {
	p := s.byName[name]
	url := s.Ops[name] + "/readyz"
	hc := &http.Client{Timeout: 5 * time.Second}
	last := "no answer"
	for {
		if p != nil && p.cmd != nil && p.exited() {
			return fmt.Errorf("%s exited while starting: %v\n%s", name, p.exitError(), logTail(p.Log, 15))
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w (last: %s)\n%s", name, url, ctx.Err(), last, logTail(p.Log, 15))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// logTail is the end of a log file, for error messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return path + ":\n" + tail(b, n)
}

// FreePorts returns n TCP ports free on 127.0.0.1 now, all distinct, below
// 32768, where the kernel's ephemeral ports do not start: a port picked
// there cannot be handed to another process's outgoing connection before
// the process it is meant for binds it, and the Temporal server, which
// stores its members' ports in a PostgreSQL smallint
// (cluster_membership.rpc_port), dies on ports above it.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	const lo, hi = 20000, 32768
	var ports []int
	for p, tries := lo+rand.IntN(hi-lo), 0; len(ports) < n; p, tries = lo+(p+1-lo)%(hi-lo), tries+1 {
		if tries == hi-lo {
			return nil, fmt.Errorf("only %d free ports in [%d, %d)", len(ports), lo, hi)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, p)
	}
	return ports, nil
}
