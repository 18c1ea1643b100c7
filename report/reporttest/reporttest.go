// Package reporttest holds report scenarios that every index backend must
// pass: each writes its records into an index.Batch, as the indexer would
// from the topics, and checks the report built over the backend.
package reporttest

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/report"
)

// OldKillScope is the scope KillFromDaysBefore kills.
const OldKillScope domain.Scope = "ACCOUNT:OLD"

// KillFromDaysBefore adds to b a kill of OldKillScope by an operator three
// days before day, never released: its command and its state, and nothing
// since (no command, no drop). It returns when the kill began.
func KillFromDaysBefore(b *index.Batch, day time.Time) time.Time {
	start := day.Add(-3*24*time.Hour + 10*time.Hour)
	var cmdOff, stateOff int64
	for _, e := range b.Commands {
		cmdOff = max(cmdOff, e.Offset+1)
	}
	for _, e := range b.States {
		stateOff = max(stateOff, e.Offset+1)
	}
	b.Commands = append(b.Commands, index.CommandEntry{Pos: index.Pos{Offset: cmdOff}, Command: domain.Command{
		CmdID: "k-old", TS: start.UnixMilli(), Scope: OldKillScope, Action: domain.ActionKill, Reason: "rogue algo",
		TriggeredBy: domain.TriggerOperator, Operator: "olga", CorrID: "corr-old", StateVersion: 1}})
	b.Advance(domain.TopicCommands, 0, cmdOff+1)
	b.States = append(b.States, index.StateEntry{Pos: index.Pos{Offset: stateOff}, State: domain.State{
		Scope: OldKillScope, Status: domain.StatusKilled, UpdatedTS: start.UnixMilli(), UpdatedBy: "olga",
		Reason: "rogue algo", LastCmdID: "k-old", CorrID: "corr-old", Version: 1, Trigger: domain.TriggerOperator}})
	b.Advance(domain.TopicState, 0, stateOff+1)
	return start
}

// CheckKillFromDaysBefore checks that r, the report of the day given to
// KillFromDaysBefore, lists that kill with its start, in force all day, and
// does not count it among the day's new kills.
func CheckKillFromDaysBefore(t testing.TB, r *report.Report, start time.Time) {
	t.Helper()
	var found *report.Kill
	for i := range r.Kills {
		if r.Kills[i].Scope == OldKillScope {
			found = &r.Kills[i]
		}
	}
	if found == nil {
		t.Fatalf("the kill of %s from three days before, still in force, is not listed: kills %+v", OldKillScope, r.Kills)
	}
	k := *found
	if !k.Start.Equal(start) || !k.StartedBefore || !k.Ongoing || k.Duration != 24*time.Hour ||
		k.By != "olga" || k.Reason != "rogue algo" || k.CorrID != "corr-old" || k.Drops != 0 {
		t.Errorf("kill in force from three days before: %+v, want start %v, started before, ongoing, 24h, by olga", k, start)
	}
	if r.TotalKills != 0 {
		t.Errorf("total kills %d, want 0: the kill began before the day", r.TotalKills)
	}
	laned := false
	for _, l := range r.Lanes {
		laned = laned || l.Scope == OldKillScope
	}
	if !laned {
		t.Errorf("no timeline lane for %s", OldKillScope)
	}
}
