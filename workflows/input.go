package workflows

import "github.com/riskgate/riskgate/domain"

// Input starts a KillSwitch run. Zero fields take the worker's defaults.
type Input struct {
	Scope domain.Scope `json:"scope"`
}
