package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/ingest/kafka"
)

// chaosDev runs the experiments of the dev stack: its parts run inside
// one process, so what can be SIGKILLed is its Temporal child. The stack
// must restart the child on the same data while routing goes on, turn the
// breach sent during the outage into a kill once Temporal is back, and end
// on Ctrl-C within 15 s right after the child was SIGKILLed.
func chaosDev(t *testing.T, bin string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ports := freePorts(t, 4)
	p := startDev(t, bin, "--data", data, "--no-gen", "--rules", writeChaosRules(t, dir), "--cooldown", chaosCooldown,
		"--kafka-port", fmt.Sprint(ports[0]), "--temporal-port", fmt.Sprint(ports[1]),
		"--ui-port", fmt.Sprint(ports[2]), "--api-addr", fmt.Sprintf("127.0.0.1:%d", ports[3]))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("riskgate dev output:\n%s", p.output.String())
		}
	})
	token, err := os.ReadFile(filepath.Join(data, "dev-token"))
	if err != nil {
		t.Fatal(err)
	}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	kc := kafka.Config{Brokers: []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}, ClientID: "chaos-dev"}
	w := newChaosWorld(t, "dev", bin, kc, apiURL, strings.TrimSpace(string(token)))
	defer w.report(t)

	isTemporal := func(args []string) bool { return slices.Contains(args, "start-dev") }
	temporalChild := func(t *testing.T) int { return findChild(t, p.cmd.Process.Pid, isTemporal) }
	// Until the dev stack supervises its Temporal child (issue 10), it
	// stops routing and hangs in shutdown when the child dies: these
	// experiments fail with the messages below.
	const supervision = " (the dev stack must supervise its Temporal child, issue 10)"
	alive := func(t *testing.T) {
		t.Helper()
		if !p.running() {
			t.Fatal("riskgate dev exited" + supervision)
		}
	}
	var killed int
	survived := t.Run("temporal", func(t *testing.T) {
		w.run(t, chaosExperiment{
			name: "temporal",
			note: "the Temporal child restarted by riskgate dev",
			breaks: func(t *testing.T) {
				killed = temporalChild(t)
				killGroup(t, killed)
			},
			outage: func(t *testing.T, burst string) {
				eventually(t, time.Minute, "the dev stack routing the burst of "+burst+" with Temporal down"+supervision, func() bool {
					alive(t)
					return w.decided(burst) >= burstOrders
				})
				eventually(t, 30*time.Second, "/readyz to report Temporal degraded"+supervision, func() bool {
					alive(t)
					_, checks := readiness(apiURL)
					return checks["temporal"] != "" && checks["temporal"] != "ok"
				})
			},
			restart: func(t *testing.T) time.Time {
				eventually(t, 2*time.Minute, "the dev stack to restart its Temporal child"+supervision, func() bool {
					alive(t)
					for _, c := range children(p.cmd.Process.Pid) {
						if c != killed && isTemporal(cmdline(c)) {
							ready, checks := readiness(apiURL)
							return ready && checks["temporal"] == "ok"
						}
					}
					return false
				})
				return time.Now()
			},
			after: func(t *testing.T, _ chaosBurst) { alive(t) },
		})
	})
	if survived {
		w.finish(t)
	}
	w.reader.stop()
	w.cl.Close()

	t.Run("ctrl-c", func(t *testing.T) {
		row := chaosRow{experiment: "dev: Ctrl-C right after SIGKILL of the Temporal child"}
		defer func() {
			row.failed = t.Failed()
			w.results = append(w.results, &chaosResult{row: row})
		}()
		alive(t)
		// After a failed "temporal" the child may be gone for good: Ctrl-C
		// must still end the stack.
		if pid := childMatching(p.cmd.Process.Pid, isTemporal); pid != 0 {
			killGroup(t, pid)
		}
		took := p.interruptWithin(t, stopBound)
		row.note = fmt.Sprintf("exited in %v", took.Round(100*time.Millisecond))
		eventually(t, 5*time.Second, "no process of the dev stack left", func() bool {
			return len(processesWith(data)) == 0
		})
	})
}

// readiness is the API's GET /readyz: ready, and its checks (none when
// the API does not answer).
func readiness(apiURL string) (bool, map[string]string) {
	resp, err := http.Get(apiURL + "/readyz")
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	var r struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return false, nil
	}
	return resp.StatusCode == http.StatusOK && r.Ready, r.Checks
}
