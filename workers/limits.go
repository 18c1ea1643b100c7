package workers

import (
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/workflows"
)

// LimitsSettings are the Limits workflow's settings from a limits file (the
// one the routers load, deploy/limits.yaml): each scope type's defaults
// and ceilings. A nil file means the built-in set, limits.Default().
func LimitsSettings(file *limits.Config, approvalWindow time.Duration) workflows.LimitsSettings {
	cfg := limits.Default()
	if file != nil {
		cfg = *file
	}
	s := workflows.LimitsSettings{
		Defaults:       map[domain.ScopeType]domain.LimitValues{},
		Ceilings:       map[domain.ScopeType]domain.LimitValues{},
		ApprovalWindow: approvalWindow,
	}
	for _, t := range domain.ScopeTypes {
		s.Defaults[t] = cfg.Defaults.Of(t).Values()
		s.Ceilings[t] = cfg.Ceilings.Of(t).Values()
	}
	return s.WithDefaults()
}
