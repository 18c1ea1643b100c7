package tests

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/gen"
)

// notScraped are names the queries read that no riskgate /metrics serves.
var notScraped = map[string]string{
	"up": "Prometheus's own series per scrape target",
}

// lazyMetrics are vector metrics whose series appear only with their first
// event, which the traffic below does not cause. Each must at least be
// declared in the named source file, as its short name in quotes.
var lazyMetrics = map[string]struct{ file, name string }{
	// A failed attempt to signal a workflow: needs Temporal to fail.
	"riskgate_detector_signal_errors_total": {"ingest/detector/metrics.go", `"signal_errors_total"`},
}

// TestObservabilityMetricsExist runs the dev stack, drives traffic through
// every role (normal orders, a runaway account the detector kills, a record
// the indexer cannot decode) and resolves every metric name that the
// Grafana dashboard and the Prometheus rules read against the API's
// /metrics, which in the dev stack serves every component's metrics.
// Recorded names (level:metric:ops) must be recorded by recording.yaml.
func TestObservabilityMetricsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	wanted := map[string][]string{} // metric name → where it is read
	for _, q := range dashboardQueries(t) {
		for _, n := range metricNames(q.expr) {
			wanted[n] = append(wanted[n], "dashboard panel "+q.panel)
		}
	}
	exprs, recorded := ruleQueries(t)
	for rule, expr := range exprs {
		for _, n := range metricNames(expr) {
			wanted[n] = append(wanted[n], "rule "+rule)
		}
	}
	for n, where := range wanted {
		if strings.Contains(n, ":") && !recorded[n] {
			t.Errorf("%s (read by %s) is recorded by no rule of recording.yaml", n, where[0])
		}
	}
	for n, lazy := range lazyMetrics {
		b, err := os.ReadFile(filepath.Join("..", lazy.file))
		if err != nil || !bytes.Contains(b, []byte(lazy.name)) {
			t.Errorf("%s is allowed to be absent from /metrics, but %s does not declare %s (%v)", n, lazy.file, lazy.name, err)
		}
	}

	s := startStack(t, devstack.Options{})
	ctx := context.Background()
	cl := producer(t, s)
	genCtx, stopGen := context.WithCancel(ctx)
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		_, _ = gen.Run(genCtx, cl, gen.Config{Mode: gen.Normal, Rate: 20})
	}()
	defer func() { stopGen(); <-genDone }()
	// A runaway account: the detector breaches, the workflow kills, the
	// worker publishes, the routers drop.
	const scope = domain.Scope("ACCOUNT:77777")
	if n, err := gen.Run(ctx, cl, gen.Config{Mode: gen.Panic, Account: "77777", Rate: 50, Count: 150}); err != nil || n != 150 {
		t.Fatalf("panic traffic: %d orders, %v", n, err)
	}
	eventually(t, 60*time.Second, scope.String()+" KILLED", func() bool {
		st, ok := s.States.Get(scope)
		return ok && st.Status == domain.StatusKilled
	})
	produceOrder(t, cl, order("77777", "MSFT")) // dropped
	// A risk signal that does not decode: the indexer counts it by topic.
	produceRaw(t, cl, domain.TopicRiskSignals, "ACCOUNT:1", []byte("not json"))
	// An operator kill, a request answered 4xx and one that is not routed.
	kill := map[string]string{"scope": "ACCOUNT:88888", "reason": "observability test"}
	if status, _, body := httpDo(t, "POST", s.APIURL+"/v1/kill", s.Token, kill); status != 200 {
		t.Fatalf("operator kill: %d %s", status, body)
	}
	httpDo(t, "POST", s.APIURL+"/v1/kill", s.Token, "{")
	httpDo(t, "GET", s.APIURL+"/v1/nothing-here", s.Token, nil)

	var missing []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		served := scrapeNames(t, s.APIURL+"/metrics")
		missing = missing[:0]
		for n := range wanted {
			if strings.Contains(n, ":") || notScraped[n] != "" {
				continue
			}
			if _, lazy := lazyMetrics[n]; lazy {
				continue
			}
			if !served[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	sort.Strings(missing)
	for _, n := range missing {
		t.Errorf("%s is not on /metrics (read by %s)", n, strings.Join(wanted[n], ", "))
	}
	if len(wanted) < 30 {
		t.Errorf("only %d metric names found in the dashboard and rules: the tokenizer lost some", len(wanted))
	}
}

// scrapeNames reads a Prometheus text exposition and returns the sample
// names in it (histograms as their _bucket, _sum and _count series).
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	status, _, body := httpDo(t, "GET", url, "", nil)
	if status != 200 {
		t.Fatalf("GET %s: %d", url, status)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
