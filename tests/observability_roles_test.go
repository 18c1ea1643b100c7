package tests

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
)

// TestObservabilityRoleProcesses runs riskgate as one process per role (as
// Kubernetes runs it) with a kill in force and steady traffic, and checks
// each role's own /metrics and log: its Kafka clients' metrics
// (riskgate_kafka_*, labelled by the role's client id), the Temporal SDK's
// metrics in the roles that hold a Temporal client (worker, detector, API),
// and the Kafka client's own lines in the role's log.
func TestObservabilityRoleProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := startRoleCluster(t, bin)

	type want struct {
		clientID string
		// temporal is a Temporal SDK series the role must serve: the
		// worker polls, the detector dialled (GetSystemInfo), the API sent
		// the kill of the set-up as an update-with-start.
		temporal [3]string // name, label key, value
	}
	wants := map[string]want{
		"worker":   {"riskgate-worker", [3]string{"temporal_long_request_total", "operation", "PollWorkflowTaskQueue"}},
		"detector": {"riskgate-detector", [3]string{"temporal_request_total", "operation", "GetSystemInfo"}},
		"router-1": {"riskgate-router", [3]string{}},
		"indexer":  {"riskgate-indexer", [3]string{}},
		"api":      {"riskgate-api", [3]string{"temporal_long_request_total", "operation", "ExecuteMultiOperation"}},
	}
	for role, w := range wants {
		t.Run(role, func(t *testing.T) {
			base := c.metrics[role]
			var missing []string
			// tally reports the SDK's counts every second.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
				m := scrapeLabels(t, base+"/metrics")
				missing = missing[:0]
				if !m.hasPrefix("riskgate_kafka_connects_total", "client_id", w.clientID) {
					missing = append(missing, `riskgate_kafka_connects_total{client_id=~"`+w.clientID+`.*"}`)
				}
				if n := w.temporal; n[0] != "" && !m.has(n[0], n[1], n[2]) {
					missing = append(missing, n[0]+`{`+n[1]+`="`+n[2]+`"}`)
				}
				if !m.has("temporal_request_total", "", "") && w.temporal[0] != "" {
					missing = append(missing, "temporal_request_total")
				}
				if len(missing) == 0 || time.Now().After(deadline) {
					break
				}
			}
			for _, n := range missing {
				t.Errorf("%s /metrics lacks %s", role, n)
			}
			p := c.procs[role]
			b, err := os.ReadFile(filepath.Join(p.logDir, role+"-1.log"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "subsystem=kafka client_id="+w.clientID) {
				t.Errorf("%s log has no line of its Kafka client (subsystem=kafka client_id=%s):\n%s", role, w.clientID, tail(string(b), 2000))
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
