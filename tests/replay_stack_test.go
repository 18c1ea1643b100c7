package tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/gen"
	"github.com/riskgate/riskgate/replay"
)

// equivalenceRules are small enough for a shared machine: a panic of 50
// orders/s crosses the account rules within a second, a symbol pile-in of
// 250 orders crosses the symbol rule.
const equivalenceRules = `
rules:
  - name: account_count_1m
    dimension: ACCOUNT
    window: 1m
    metric: count
    threshold: 30
    action: KILL
  - name: account_notional_1m
    dimension: ACCOUNT
    window: 1m
    metric: notional
    threshold: 300000
    action: KILL
  - name: symbol_count_1m
    dimension: SYMBOL
    window: 1m
    metric: count
    threshold: 200
    action: KILL
`

// TestReplayMatchesLiveDetector drives the dev stack with background
// traffic, an account panic and a symbol pile-in, waits for the live
// detector's kills, then replays orders.v1 over the same range with the
// same rules through `riskgate replay`: every detector kill is found on the
// same order (its corr_id names the order the live detector fired on), no
// kill is new or gone, and the report is written as CSV and HTML.
func TestReplayMatchesLiveDetector(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	rules, err := detector.ParseRules("equivalence", []byte(equivalenceRules))
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, devstack.Options{Detector: detector.Config{Rules: rules}})
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Second)
	cl := producer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range []gen.Config{
		{Mode: gen.Normal, Rate: 10, Duration: 8 * time.Second, Seed: 11},
		{Mode: gen.Panic, Account: "PANIC1", Rate: 50, Duration: 3 * time.Second, Seed: 12},
		{Mode: gen.Symbol, Symbol: "ZZZ", Rate: 50, Duration: 5500 * time.Millisecond, Seed: 13},
	} {
		wg.Go(func() {
			if _, err := gen.Run(ctx, cl, c); err != nil {
				t.Errorf("gen %s: %v", c.Mode, err)
			}
		})
	}
	wg.Wait()
	for _, sc := range []domain.Scope{"ACCOUNT:PANIC1", "SYMBOL:ZZZ"} {
		eventually(t, 60*time.Second, string(sc)+" KILLED", func() bool {
			st, ok := s.States.Get(sc)
			return ok && st.Status == domain.StatusKilled
		})
	}
	// Each kill has DROPped an order of its scope in fact before the range
	// ends: on a slow machine the generators can finish before the router
	// has the kill, so orders of each scope are sent until one is DROPped.
	reader := readTopics(t, s, domain.TopicAudit)
	defer reader.stop()
	for _, p := range []struct{ account, symbol string }{{"PANIC1", "AAPL"}, {"ZZZPROBE", "ZZZ"}} {
		eventually(t, 60*time.Second, "a DROP of "+p.account+" in "+p.symbol, func() bool {
			o := genOrder(p.account, p.symbol)
			produceOrder(t, cl, o)
			return reader.audit(t, o.OrderID).Decision == domain.DecisionDrop
		})
	}
	time.Sleep(2 * time.Second) // the last audit records
	to := time.Now()

	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(equivalenceRules), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.CommandContext(ctx, bin, "replay", "--brokers", strings.Join(s.Brokers, ","),
		"--from", strconv.FormatInt(from.UnixMilli(), 10), "--to", strconv.FormatInt(to.UnixMilli(), 10),
		"--rules", rulesFile, "--json", "--out", out)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("riskgate replay: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 && strings.Contains(stderr.String(), "replay:") {
		t.Errorf("a progress line was drawn although stderr is not a terminal: %q", stderr.String())
	}
	var res replay.Result
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("decode the report: %v\n%s", err, stdout)
	}
	if !res.Actual || res.Counts.Orders < 300 || res.Counts.Bad != 0 {
		t.Fatalf("report: actual %v, counts %+v", res.Actual, res.Counts)
	}
	live := 0
	for _, sr := range res.Scopes {
		c, a := sr.Candidate.FirstBreach, sr.Actual.FirstBreach
		t.Logf("%s: candidate %+v; actual %+v; %s", sr.Scope, c, a, sr.Diff)
		switch {
		case a != nil && a.Source == "rule":
			live++
			if c == nil {
				t.Errorf("%s: the live detector killed on %s (%s); the replay did not", sr.Scope, a.OrderID, a.Rule)
				continue
			}
			// Orders of one millisecond from different partitions have no
			// defined order between them: the live detector and the
			// replay may each see the other one first, so the same rule
			// crossed at the same time on another order is the same
			// crossing.
			tie := sr.Diff.Kind == replay.DiffOther && c.TS.Equal(a.TS)
			if c.Rule != a.Rule || (c.OrderID != a.OrderID || sr.Diff.Kind != replay.DiffSame) && !tie {
				t.Errorf("%s: replay fired %s on %s, the live detector %s on %s (%s)", sr.Scope, c.Rule, c.OrderID,
					a.Rule, a.OrderID, sr.Diff)
			}
		case c != nil:
			t.Errorf("%s: the replay fires %s on %s; the live detector fired nothing", sr.Scope, c.Rule, c.OrderID)
		}
	}
	if live < 2 {
		t.Errorf("%d live detector kills found on the topics, want ACCOUNT:PANIC1 and SYMBOL:ZZZ", live)
	}
	for _, sc := range []domain.Scope{"ACCOUNT:PANIC1", "SYMBOL:ZZZ"} {
		for _, sr := range res.Scopes {
			if sr.Scope == sc && (sr.Actual.Dropped == 0 || sr.Candidate.Dropped == 0) {
				t.Errorf("%s: dropped %d in fact, %d in the replay; want both", sc, sr.Actual.Dropped, sr.Candidate.Dropped)
			}
		}
	}
	for _, name := range []string{"replay.csv", "replay.html"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
}
