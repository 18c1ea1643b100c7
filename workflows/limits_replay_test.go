package workflows_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// TestLimitsReplayWithOtherSettings: a Limits run replays what it recorded
// whatever limits file the replaying worker has. Here its ceilings would
// let every recorded four-eyes request apply at once and its defaults
// differ: the replay still takes the recorded settings and decides alike.
func TestLimitsReplayWithOtherSettings(t *testing.T) {
	s := limitsSettings()
	loose := int64(1_000_000_000)
	acct := s.Ceilings[domain.ScopeAccount]
	acct.MaxOrders = &loose
	s.Ceilings[domain.ScopeAccount] = acct
	def := s.Defaults[domain.ScopeAccount]
	def.MaxOrders = &loose
	s.Defaults[domain.ScopeAccount] = def
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for _, name := range []string{"limits_four_eyes", "limits_set_raise_revert"} {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflowWithOptions(workflows.NewLimits(s), workflow.RegisterOptions{Name: workflows.LimitsWorkflowName})
		if err := r.ReplayWorkflowHistoryFromJSONFile(logger, filepath.Join("testdata", name+".json")); err != nil {
			t.Errorf("replay %s with other settings: %v", name, err)
		}
	}
}
