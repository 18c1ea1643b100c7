package tests

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// TestIndexerLimitsCommands: the indexer reads risk.limits.commands.v1 over
// Kafka into the index, skips what does not decode, and stores each change
// once across a restart.
func TestIndexerLimitsCommands(t *testing.T) {
	cfg, cl := kfakeCluster(t)
	path := filepath.Join(t.TempDir(), index.FileName)
	two, five := int64(200), int64(5000)
	now := time.Now().UnixMilli()
	produceJSON(t, cl, domain.TopicLimitsCommands, "ACCOUNT:7", domain.LimitsCommand{CmdID: "l1", TS: now - 2000, Scope: "ACCOUNT:7",
		Action: domain.LimitsSet, Operator: "olga", Reason: "desk asked", New: domain.LimitValues{MaxOrders: &two}, Version: 1})
	produceJSON(t, cl, domain.TopicLimitsCommands, "ACCOUNT:7", domain.LimitsCommand{CmdID: "l2", TS: now - 1000, Scope: "ACCOUNT:7",
		Action: domain.LimitsRequest, Operator: "ada", Reason: "big desk", Old: domain.LimitValues{MaxOrders: &two},
		New: domain.LimitValues{MaxOrders: &two}, ExpiresAt: now + 600_000, Version: 1})
	if err := cl.ProduceSync(context.Background(),
		&kgo.Record{Topic: domain.TopicLimitsCommands, Value: []byte("{not json")},
		&kgo.Record{Topic: domain.TopicLimitsCommands, Value: []byte(`{"cmd_id":"x","scope":"ACCOUNT:7"}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	waitLimits := func(db *index.SQLite, want int) []domain.LimitsCommand {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := db.LimitsCommands(ctx, index.LimitsCommandQuery{Scope: "ACCOUNT:7"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) >= want || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	db, stop := runIndexer(t, cfg, path)
	got := waitLimits(db, 2)
	if len(got) != 2 || got[0].CmdID != "l2" || got[1].CmdID != "l1" || got[1].New.MaxOrders == nil || *got[1].New.MaxOrders != 200 {
		t.Fatalf("indexed %+v; want l2 then l1", got)
	}
	stop()

	produceJSON(t, cl, domain.TopicLimitsCommands, "ACCOUNT:7", domain.LimitsCommand{CmdID: "l3", TS: now, Scope: "ACCOUNT:7",
		Action: domain.LimitsApprove, Operator: "ada", ApprovedBy: "adam", Reason: "checked",
		Old: domain.LimitValues{MaxOrders: &two}, New: domain.LimitValues{MaxOrders: &five}, Version: 2})
	db, stop = runIndexer(t, cfg, path)
	defer stop()
	waitLimits(db, 3)
	time.Sleep(300 * time.Millisecond) // nothing more may appear
	got, err := db.LimitsCommands(ctx, index.LimitsCommandQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].CmdID != "l3" || got[0].ApprovedBy != "adam" {
		t.Fatalf("after a restart: %+v; want l3, l2, l1 once each", got)
	}
	window, err := db.LimitsCommands(ctx, index.LimitsCommandQuery{Since: now - 1500, Until: now})
	if err != nil || len(window) != 1 || window[0].CmdID != "l2" {
		t.Fatalf("time range: %+v, %v; want l2 alone", window, err)
	}
}
