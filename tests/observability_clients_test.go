package tests

import (
	"bufio"
	"bytes"
	"context"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/gen"
)

// TestObservabilityClientMetrics runs the dev stack, drives a breach (the
// detector signals Temporal) and an operator kill (the API updates it), and
// checks that /metrics carries the clients' own metrics: franz-go's
// (riskgate_kafka_*) for the Kafka clients of every role, and the Temporal
// SDK's (temporal_*) for the worker's polls, the detector's signal and the
// API's update.
func TestObservabilityClientMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startStack(t, devstack.Options{})
	ctx := context.Background()
	cl := producer(t, s)
	const scope = domain.Scope("ACCOUNT:66666")
	if n, err := gen.Run(ctx, cl, gen.Config{Mode: gen.Panic, Account: "66666", Rate: 50, Count: 150}); err != nil || n != 150 {
		t.Fatalf("panic traffic: %d orders, %v", n, err)
	}
	eventually(t, 60*time.Second, scope.String()+" KILLED", func() bool {
		st, ok := s.States.Get(scope)
		return ok && st.Status == domain.StatusKilled
	})
	kill := map[string]string{"scope": "ACCOUNT:55555", "reason": "client metrics test"}
	if status, _, body := httpDo(t, "POST", s.APIURL+"/v1/kill", s.Token, kill); status != 200 {
		t.Fatalf("operator kill: %d %s", status, body)
	}

	kafkaClients := []string{"riskgate-router", "riskgate-detector", "riskgate-worker", "riskgate-indexer", "riskgate-api"}
	// Each entry: operations of which one must be counted. The detector
	// starts a new incident's run eagerly (StartWorkflowExecution) and
	// signals a run already open (SignalWithStartWorkflowExecution).
	temporalOps := [][]string{
		{"PollWorkflowTaskQueue"},                                      // the worker
		{"StartWorkflowExecution", "SignalWithStartWorkflowExecution"}, // the detector's breach
		{"ExecuteMultiOperation"},                                      // the API's update-with-start
	}
	var missing []string
	// tally reports the SDK's counts every second: wait for them.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		m := scrapeLabels(t, s.APIURL+"/metrics")
		missing = missing[:0]
		for _, c := range kafkaClients {
			for _, name := range []string{"riskgate_kafka_connects_total", "riskgate_kafka_read_bytes_total"} {
				if !m.has(name, "client_id", c) {
					missing = append(missing, name+`{client_id="`+c+`"}`)
				}
			}
		}
		// The router's transactional session: whichever of its clients it
		// is, by the order they opened.
		if !m.hasPrefix("riskgate_kafka_produce_records_total", "client_id", "riskgate-router") {
			missing = append(missing, `riskgate_kafka_produce_records_total{client_id=~"riskgate-router.*"}`)
		}
		for _, ops := range temporalOps {
			if !slices.ContainsFunc(ops, func(op string) bool {
				return m.has("temporal_request_total", "operation", op) || m.has("temporal_long_request_total", "operation", op)
			}) {
				missing = append(missing, `temporal_(long_)request_total{operation=~"`+strings.Join(ops, "|")+`"}`)
			}
		}
		for _, name := range []string{"temporal_request_latency_seconds_bucket", "temporal_workflow_task_schedule_to_start_latency_seconds_bucket", "temporal_worker_task_slots_available"} {
			if !m.has(name, "", "") {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	sort.Strings(missing)
	for _, n := range missing {
		t.Errorf("%s is not on /metrics", n)
	}
}

// scraped is a Prometheus text exposition: each sample name with the label
// sets of its series.
type scraped map[string][]string

// has reports whether name has a series whose label key has value; an
// empty key asks only for the name.
func (s scraped) has(name, key, value string) bool {
	if key == "" {
		return len(s[name]) > 0
	}
	want := key + `="` + value + `"`
	for _, labels := range s[name] {
		if strings.Contains(","+labels+",", ","+want+",") {
			return true
		}
	}
	return false
}

// hasPrefix reports whether name has a series whose label key starts with
// prefix.
func (s scraped) hasPrefix(name, key, prefix string) bool {
	for _, labels := range s[name] {
		for _, l := range strings.Split(labels, ",") {
			if strings.HasPrefix(l, key+`="`+prefix) {
				return true
			}
		}
	}
	return false
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)

func scrapeLabels(t *testing.T, url string) scraped {
	t.Helper()
	status, _, body := httpDo(t, "GET", url, "", nil)
	if status != 200 {
		t.Fatalf("GET %s: %d", url, status)
	}
	out := scraped{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if m := sampleLine.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]] = append(out[m[1]], m[2])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
