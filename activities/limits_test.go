package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// TestPublishLimitsCommandThenRecord: each limits change is its command on
// risk.limits.commands.v1, then, when the overrides moved, its record on
// risk.limits.v1, keyed by scope, in order; a request publishes no record.
func TestPublishLimitsCommandThenRecord(t *testing.T) {
	cfg := cluster(t)
	p, err := activities.NewPublisher(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const scope = domain.Scope("ACCOUNT:12345")
	n := int64(500)
	batch := []activities.LimitsPublication{
		{Command: domain.LimitsCommand{CmdID: "c1", Scope: scope, Action: domain.LimitsSet, Operator: "olga", Version: 1,
			New: domain.LimitValues{MaxOrders: &n}},
			Record: &domain.LimitsRecord{Scope: scope, Version: 1, Limits: domain.LimitValues{MaxOrders: &n}, LastCmdID: "c1"}},
		{Command: domain.LimitsCommand{CmdID: "c2", Scope: scope, Action: domain.LimitsRequest, Operator: "alice", Version: 1}},
		{Command: domain.LimitsCommand{CmdID: "c3", Scope: scope, Action: domain.LimitsSet, Operator: "olga", Version: 2},
			Record: &domain.LimitsRecord{Scope: scope, Version: 2, LastCmdID: "c3"}},
	}
	if err := p.PublishLimits(context.Background(), batch); err != nil {
		t.Fatal(err)
	}

	cl, err := cfg.NewClient(kgo.ConsumeTopics(domain.TopicLimitsCommands, domain.TopicLimits),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cmds []domain.LimitsCommand
	var recs []domain.LimitsRecord
	for len(cmds)+len(recs) < 5 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) != string(scope) {
				t.Errorf("%s record keyed %q", r.Topic, r.Key)
			}
			switch r.Topic {
			case domain.TopicLimitsCommands:
				var c domain.LimitsCommand
				if err := json.Unmarshal(r.Value, &c); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, c)
			case domain.TopicLimits:
				rec, err := domain.DecodeLimitsRecord(r.Value)
				if err != nil {
					t.Fatalf("record %s: %v", r.Value, err)
				}
				recs = append(recs, rec)
			}
		})
	}
	if len(cmds) != 3 || cmds[0].CmdID != "c1" || cmds[1].Action != domain.LimitsRequest || cmds[2].CmdID != "c3" {
		t.Fatalf("commands %+v, want c1, the request c2, c3 in order", cmds)
	}
	if len(recs) != 2 || recs[0].Version != 1 || *recs[0].Limits.MaxOrders != 500 || recs[1].Version != 2 || recs[1].Limits.MaxOrders != nil {
		t.Fatalf("records %+v, want v1 max_orders 500 then v2 of empty limits (back on the defaults)", recs)
	}
}
