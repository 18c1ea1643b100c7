package production

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/tests/production/harness"
)

// TestBenchKillSwitchExternal runs `riskgate bench killswitch --external`
// against the production topology, small, as `make prod-bench` runs it in
// full: it must measure every incident and the whole mass kill, with the
// detectors' breach signals scraped from their /metrics. No timing is
// asserted; the figures are make prod-bench's.
func TestBenchKillSwitchExternal(t *testing.T) {
	s := stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const mass = 20
	out, err := s.Riskgate(ctx, "bench", "killswitch", "--external", "--incidents", "3", "--mass", fmt.Sprint(mass),
		"--threshold", fmt.Sprint(harness.BenchThreshold), "--limit", "5m",
		"--detector-metrics", s.Ops["detector-1"]+"/metrics,"+s.Ops["detector-2"]+"/metrics").CombinedOutput()
	t.Logf("riskgate bench killswitch --external:\n%s", out)
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	for _, re := range []string{
		`breach order → first DROP \(ms\)\s+3\s`,
		fmt.Sprintf(`detector: every breach signalled to its workflow\s+%d\s`, mass),
		fmt.Sprintf(`workflows: every KILLED state on killswitch.state.v1\s+%d\s`, mass),
		fmt.Sprintf(`router: every scope DROPping orders\s+%d\s`, mass),
		fmt.Sprintf(`kill_p50_ms=[0-9.]+ kill_p99_ms=[0-9.]+ mass_kill_%d_s=[0-9.]+`, mass),
	} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("the bench output lacks %q", re)
		}
	}
	if strings.Contains(string(out), "stack up in") {
		t.Error("the bench started an embedded stack instead of measuring the running one")
	}
}
