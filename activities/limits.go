package activities

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// PublishLimitsName is the registered name of the local activity that
// publishes a Limits workflow's changes; tests register a fake under it.
const PublishLimitsName = "PublishLimits"

// LimitsPublication is one accepted limits change: the command for
// risk.limits.commands.v1 and, when the change moved the scope's overrides,
// the record for risk.limits.v1 (nil for a request, a rejection or an
// expiry, which change nothing the routers enforce).
type LimitsPublication struct {
	Command domain.LimitsCommand `json:"command"`
	Record  *domain.LimitsRecord `json:"record,omitempty"`
}

// PublishLimits produces each publication in order, the command then the
// record, each acknowledged before the next is sent. On error the caller
// retries the whole batch: a consumer may see a record twice (routers
// ignore a version they hold), never a record before its command.
func (p *Publisher) PublishLimits(ctx context.Context, pubs []LimitsPublication) error {
	for _, pub := range pubs {
		scope := pub.Command.Scope
		cmd, err := json.Marshal(pub.Command)
		if err != nil {
			return fmt.Errorf("encode limits command %s for %s: %w", pub.Command.CmdID, scope, err)
		}
		key := []byte(scope)
		if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicLimitsCommands, Key: key, Value: cmd}).FirstErr(); err != nil {
			return fmt.Errorf("publish limits command %s %s for %s: %w", pub.Command.Action, pub.Command.CmdID, scope, err)
		}
		if pub.Record != nil {
			rec, err := json.Marshal(pub.Record)
			if err != nil {
				return fmt.Errorf("encode limits of %s: %w", scope, err)
			}
			if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicLimits, Key: key, Value: rec}).FirstErr(); err != nil {
				return fmt.Errorf("publish limits v%d of %s: %w", pub.Record.Version, scope, err)
			}
		}
		p.log.Info("published limits change", "scope", scope, "corr_id", pub.Command.CorrID,
			"action", pub.Command.Action, "version", pub.Command.Version, "cmd_id", pub.Command.CmdID)
	}
	return nil
}
