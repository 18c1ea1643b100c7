package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// TestChaos is the chaos suite: with a kill in force and a burst that
// contains a breach, it SIGKILLs and restarts in turn every part of
// riskgate, first as separate role processes, then on the dev stack. In
// every experiment no killed scope lets an order through, every order is
// audited exactly once, every breach ends as a kill, cooldown timers fire
// after the restart, and every process stops on SIGTERM or Ctrl-C within
// 15 s. It prints the table of the README's "Chaos experiments".
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes for several minutes; skipped with -short")
	}
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { t.Logf("chaos experiments:\n%s", chaosTableText()) })
	t.Run("roles", func(t *testing.T) { chaosRoles(t, bin) })
	t.Run("dev", func(t *testing.T) { chaosDev(t, bin) })
}

// roleCluster is riskgate as one process per role, against Kafka in the
// test process and a Temporal dev server process, all of which but Kafka
// the experiments SIGKILL.
type roleCluster struct {
	procs   map[string]*chaosProc
	names   []string // in start order
	metrics map[string]string
	tc      client.Client
}

func startRoleCluster(t *testing.T, bin string) (*roleCluster, *chaosWorld) {
	t.Helper()
	dir := t.TempDir()
	c := &roleCluster{procs: map[string]*chaosProc{}, metrics: map[string]string{}}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogTails(t, filepath.Join(dir, "*.log"))
		}
	})
	kc := kafkaCluster(t, "chaos")
	ports := freePorts(t, 7)
	temporalAddr := fmt.Sprintf("127.0.0.1:%d", ports[6])
	tc, err := client.NewLazyClient(client.Options{HostPort: temporalAddr, Logger: quietTemporalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	c.tc = tc
	c.add(startTemporalProc(t, dir, ports[6]), "")

	token := api.NewToken()
	tokens, _ := json.Marshal(map[string]any{"tokens": []api.TokenEntry{{Name: "chaos", Role: api.RoleAdmin, SHA256: api.HashToken(token)}}})
	tokensFile := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(tokensFile, tokens, 0o600); err != nil {
		t.Fatal(err)
	}
	rules := writeChaosRules(t, dir)
	data := filepath.Join(dir, "data")
	common := []string{"--brokers", strings.Join(kc.Brokers, ","), "--temporal", temporalAddr, "--log-format", "text"}
	roles := []struct {
		name string
		args []string
	}{
		{"worker", []string{"worker", "--cooldown", chaosCooldown, "--probation", "2s"}},
		{"detector", []string{"detector", "--rules", rules}},
		{"router-1", []string{"router", "--instance-id", "chaos-1"}},
		{"router-2", []string{"router", "--instance-id", "chaos-2"}},
		{"indexer", []string{"indexer", "--data", data}},
	}
	for i, r := range roles {
		base := fmt.Sprintf("http://127.0.0.1:%d", ports[i])
		args := append(append(r.args, "--metrics-addr", base[len("http://"):]), common...)
		c.add(startProc(t, r.name, bin, dir, httpReady(base+"/readyz"), args...), base)
	}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", ports[5])
	c.add(startProc(t, "api", bin, dir, httpReady(apiURL+"/readyz"),
		append([]string{"api", "--addr", apiURL[len("http://"):], "--tokens", tokensFile, "--data", data}, common...)...), apiURL)
	return c, newChaosWorld(t, "roles", bin, kc, apiURL, token)
}

// startTemporalProc runs the Temporal dev server as devstack.StartTemporal
// does, but as a plain process: the experiment, not a supervisor, decides
// when it comes back. Its SQLite file keeps workflows and timers across
// the SIGKILL.
func startTemporalProc(t *testing.T, dir string, port int) *chaosProc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	bin, err := devstack.FindTemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--headless",
		"--log-level", "error", "--db-filename", filepath.Join(dir, "temporal.db")}
	for _, name := range slices.Sorted(maps.Keys(workflows.SearchAttributes)) {
		args = append(args, "--search-attribute", name+"="+workflows.SearchAttributes[name])
	}
	// Ready once the namespace answers, as devstack waits for it. Each probe
	// dials afresh: a connection kept across the outage would come back
	// only at its next reconnect, seconds after the server.
	ready := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: quietTemporalLogger{}})
		if err != nil {
			return false
		}
		defer c.Close()
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		return err == nil
	}
	return startProc(t, "temporal", bin, dir, ready, args...)
}

func httpReady(url string) func() bool { return func() bool { return httpOK(url) } }

func (c *roleCluster) add(p *chaosProc, base string) {
	c.procs[p.name] = p
	c.names = append(c.names, p.name)
	c.metrics[p.name] = base
}

// othersRunning checks that no process but the broken one went down.
func (c *roleCluster) othersRunning(t *testing.T, broken string) {
	t.Helper()
	for _, name := range c.names {
		if p := c.procs[name]; name != broken && !p.running() {
			t.Errorf("%s exited while %s was down: %v", name, broken, p.cur.err)
		}
	}
}

var breachErrorsRE = regexp.MustCompile(`(?m)^riskgate_detector_signal_errors_total\{kind="breach"\} (\d+)`)

// breachErrors is how many attempts to signal a breach the detector saw fail.
func (c *roleCluster) breachErrors(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(c.metrics["detector"] + "/metrics")
	if err != nil {
		t.Fatalf("detector metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n := 0
	if m := breachErrorsRE.FindSubmatch(b); m != nil {
		n, _ = strconv.Atoi(string(m[1]))
	}
	return n
}

// chaosRoles runs every experiment on one cluster of role processes.
func chaosRoles(t *testing.T, bin string) {
	c, w := startRoleCluster(t, bin)
	defer w.report(t)

	proc := func(name string, outage func(*testing.T, string), after func(*testing.T, chaosBurst)) chaosExperiment {
		p := c.procs[name]
		return chaosExperiment{name: name, breaks: p.kill, outage: outage, restart: p.restart,
			after: func(t *testing.T, b chaosBurst) {
				c.othersRunning(t, name)
				if after != nil {
					after(t, b)
				}
			}}
	}
	// Routing and the kill path go on while the part is down.
	routedAndKilled := func(t *testing.T, burst string) {
		w.burstRouted(t, burst)
		w.waitKilled(t, burst, time.Minute)
	}
	var breachErrors int
	worker := proc("worker", func(t *testing.T, burst string) {
		w.burstRouted(t, burst)
		eventually(t, time.Minute, "the breach of "+burst+" to reach its workflow", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.tc.DescribeWorkflowExecution(ctx, domain.Scope("ACCOUNT:"+burst).WorkflowID(), "")
			return err == nil
		})
		if _, _, ok := w.killed(burst); ok {
			t.Fatalf("ACCOUNT:%s was published KILLED with no worker running", burst)
		}
	}, nil)
	worker.timerDue = true
	experiments := []chaosExperiment{{
		name:     "temporal",
		timerDue: true,
		breaks: func(t *testing.T) {
			breachErrors = c.breachErrors(t)
			c.procs["temporal"].kill(t)
		},
		outage: func(t *testing.T, burst string) {
			w.burstRouted(t, burst)
			eventually(t, time.Minute, "the detector failing to signal the breach of "+burst, func() bool {
				return c.breachErrors(t) > breachErrors
			})
		},
		restart: c.procs["temporal"].restart,
		after:   func(t *testing.T, _ chaosBurst) { c.othersRunning(t, "temporal") },
	},
		worker,
		proc("detector", func(t *testing.T, burst string) {
			w.burstRouted(t, burst)
			if _, _, ok := w.killed(burst); ok {
				t.Fatalf("ACCOUNT:%s was killed with no detector running", burst)
			}
		}, nil),
		// Routing goes on in router-2 (checked for every experiment).
		proc("router-1", func(t *testing.T, burst string) { w.waitKilled(t, burst, time.Minute) }, nil),
		proc("api", func(t *testing.T, burst string) {
			if httpOK(w.apiURL + "/healthz") {
				t.Fatal("the API answers after its SIGKILL")
			}
			routedAndKilled(t, burst)
		}, func(t *testing.T, b chaosBurst) {
			status, _, body := httpDo(t, "GET", w.apiURL+"/v1/scopes/ACCOUNT:"+b.account, w.token, nil)
			if status != 200 || !strings.Contains(string(body), `"KILLED"`) {
				t.Errorf("restarted API on ACCOUNT:%s: %d %s, want it KILLED", b.account, status, body)
			}
		}),
		// What was decided while the indexer was down is indexed once it is
		// back, and so is what came after.
		proc("indexer", routedAndKilled, func(t *testing.T, b chaosBurst) {
			for _, id := range []string{b.sent[0], b.sent[len(b.sent)-1], b.dropped} {
				eventually(t, time.Minute, "the restarted indexer to index "+id, func() bool {
					status, _, _ := httpDo(t, "GET", w.apiURL+"/v1/orders/"+id, w.token, nil)
					return status == 200
				})
			}
			status, _, body := httpDo(t, "GET", w.apiURL+"/v1/orders/"+b.dropped, w.token, nil)
			if status != 200 || !strings.Contains(string(body), `"DROP"`) {
				t.Errorf("indexed %s: %d %s, want its DROP", b.dropped, status, body)
			}
		}),
	}
	for _, e := range experiments {
		t.Run(e.name, func(t *testing.T) { w.run(t, e) })
	}
	w.finish(t)
	stopped := chaosRow{experiment: "roles: SIGTERM to every process at the end"}
	start := time.Now()
	for _, name := range slices.Backward(c.names) {
		if err := c.procs[name].stop(); err != nil {
			t.Error(err)
			stopped.failed = true
		}
	}
	stopped.note = fmt.Sprintf("%d processes, Temporal last, stopped in %v", len(c.names), time.Since(start).Round(100*time.Millisecond))
	w.results = append(w.results, &chaosResult{row: stopped})
}
