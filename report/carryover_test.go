package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/report"
	"github.com/riskgate/riskgate/report/reporttest"
)

// dayBuilder indexes commands, states and drops at explicit offsets, as
// the indexer would store them from their topics.
type dayBuilder struct {
	b   index.Batch
	off map[string]int64
}

func (d *dayBuilder) next(topic string) index.Pos {
	if d.off == nil {
		d.off = map[string]int64{}
	}
	p := index.Pos{Offset: d.off[topic]}
	d.off[topic]++
	d.b.Advance(topic, 0, p.Offset+1)
	return p
}

func (d *dayBuilder) command(c domain.Command) {
	d.b.Commands = append(d.b.Commands, index.CommandEntry{Pos: d.next(domain.TopicCommands), Command: c})
}

func (d *dayBuilder) state(s domain.State) {
	d.b.States = append(d.b.States, index.StateEntry{Pos: d.next(domain.TopicState), State: s})
}

func (d *dayBuilder) drops(n int, from time.Time, acct, corr string) {
	for i := range n {
		d.b.Audit = append(d.b.Audit, index.AuditEntry{Pos: d.next(domain.TopicAudit), Record: domain.AuditRecord{
			TS: from.Add(time.Duration(i) * time.Minute).UnixMilli(), Decision: domain.DecisionDrop,
			OrderID: fmt.Sprintf("%s-%d", corr, i), AccountID: acct, Symbol: "ACME", Strategy: "mm",
			ScopeMatches: []domain.Scope{domain.Scope("ACCOUNT:" + acct)}, KillswitchStatus: domain.StatusKilled,
			Reason: "ACCOUNT:" + acct + " KILLED", CorrID: corr, Service: "router",
		}})
	}
}

func (d *dayBuilder) index(t *testing.T) index.Index {
	t.Helper()
	db, err := index.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Apply(context.Background(), &d.b); err != nil {
		t.Fatal(err)
	}
	return db
}

// A publish that was retried puts its command (and state) on the topics
// twice; a kill that started days before the report day and still holds
// has no command in the lookback. The report lists the action once and the
// old kill with its start, its drops attributed to it.
func TestRetriedPublishAndKillFromDaysBefore(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	oldStart := day.Add(-3*24*time.Hour + 10*time.Hour)
	var d dayBuilder

	// ACCOUNT:OLD, killed by an operator three days ago, never released.
	d.command(domain.Command{CmdID: "k-old", TS: oldStart.UnixMilli(), Scope: "ACCOUNT:OLD", Action: domain.ActionKill,
		Reason: "rogue algo", TriggeredBy: domain.TriggerOperator, Operator: "olga", CorrID: "corr-old", StateVersion: 1})
	d.state(domain.State{Scope: "ACCOUNT:OLD", Status: domain.StatusKilled, UpdatedTS: oldStart.UnixMilli(), UpdatedBy: "olga",
		Reason: "rogue algo", LastCmdID: "k-old", CorrID: "corr-old", Version: 1, Trigger: domain.TriggerOperator})
	d.drops(5, day.Add(9*time.Hour), "OLD", "corr-old")

	// ACCOUNT:NEW, killed at 10:00 (the publish retried: command and state
	// twice) and released at 10:30.
	killAt, unkillAt := day.Add(10*time.Hour), day.Add(10*time.Hour+30*time.Minute)
	kill := domain.Command{CmdID: "k-new", TS: killAt.UnixMilli(), Scope: "ACCOUNT:NEW", Action: domain.ActionKill,
		Reason: "fat finger", TriggeredBy: domain.TriggerOperator, Operator: "bob", CorrID: "corr-new", StateVersion: 10}
	killed := domain.State{Scope: "ACCOUNT:NEW", Status: domain.StatusKilled, UpdatedTS: killAt.UnixMilli(), UpdatedBy: "bob",
		Reason: "fat finger", LastCmdID: "k-new", CorrID: "corr-new", Version: 10, Trigger: domain.TriggerOperator}
	d.command(kill)
	d.command(kill)
	d.state(killed)
	d.state(killed)
	d.drops(3, killAt.Add(time.Minute), "NEW", "corr-new")
	d.command(domain.Command{CmdID: "u-new", TS: unkillAt.UnixMilli(), Scope: "ACCOUNT:NEW", Action: domain.ActionUnkill,
		Reason: "fixed", TriggeredBy: domain.TriggerOperator, Operator: "bob", CorrID: "corr-new", StateVersion: 11})
	d.state(domain.State{Scope: "ACCOUNT:NEW", Status: domain.StatusActive, UpdatedTS: unkillAt.UnixMilli(), UpdatedBy: "bob",
		Reason: "fixed", LastCmdID: "u-new", CorrID: "corr-new", Version: 11, Trigger: domain.TriggerOperator})

	now := func() time.Time { return day.Add(25 * time.Hour) }
	r, err := report.Build(context.Background(), d.index(t), day, report.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}

	var ids []string
	for _, a := range r.OperatorActions {
		ids = append(ids, a.CmdID)
	}
	if fmt.Sprint(ids) != "[k-new u-new]" {
		t.Errorf("operator actions %v, want one row per cmd_id: [k-new u-new]", ids)
	}
	if rows := len(r.Lanes); rows != 2 {
		t.Errorf("%d timeline lanes, want ACCOUNT:NEW and ACCOUNT:OLD", rows)
	}
	for _, l := range r.Lanes {
		if l.Scope == "ACCOUNT:NEW" && len(l.Actions) != 2 {
			t.Errorf("ACCOUNT:NEW lane has %d action marks, want 2", len(l.Actions))
		}
	}
	if len(r.Kills) != 2 {
		t.Fatalf("kills %+v, want the kill from three days before and the day's own", r.Kills)
	}
	old, own := r.Kills[0], r.Kills[1]
	if old.Scope != "ACCOUNT:OLD" || !old.Start.Equal(oldStart) || !old.StartedBefore || !old.Ongoing ||
		old.By != "olga" || old.Duration != 24*time.Hour || old.Drops != 5 {
		t.Errorf("kill in force from three days before: %+v", old)
	}
	if own.Scope != "ACCOUNT:NEW" || own.Drops != 3 || own.Duration != 30*time.Minute {
		t.Errorf("the day's kill: %+v", own)
	}
	if r.TotalKills != 1 || r.TotalDrops != 8 || r.UnattributedDrops != 0 {
		t.Errorf("totals: kills %d drops %d unattributed %d, want 1, 8, 0", r.TotalKills, r.TotalDrops, r.UnattributedDrops)
	}
}

// A kill that began three days before the report day and still holds, with
// no command since and no drop during the day, was in force all day: the
// report lists it with its start, through the states in force at the
// day's start.
func TestKillInForceWithoutCommandOrDrop(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	var d dayBuilder
	start := reporttest.KillFromDaysBefore(&d.b, day)
	r, err := report.Build(context.Background(), d.index(t), day, report.Options{Now: func() time.Time { return day.Add(25 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	reporttest.CheckKillFromDaysBefore(t, r, start)
}
