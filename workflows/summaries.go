package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// The KillSwitch's timers and publishes read in words in the Web UI's
// timeline (versionSummaries): "cooldown until 09:09:30 UTC" instead of a
// timer's event number.

// withSummaries reports whether this run gives its timers and local
// activities summaries (versionSummaries), deciding once.
func (w *killSwitch) withSummaries(ctx workflow.Context) bool {
	if w.summaries == 0 {
		w.summaries = -1
		if newPath(ctx, versionSummaries) {
			w.summaries = 1
		}
	}
	return w.summaries > 0
}

// deadlineSummary says in words what happens at the deadline at.
func (w *killSwitch) deadlineSummary(at int64) string {
	st := &w.c.State
	var what []string
	if len(st.Approvals) > 0 && at == w.approvalExpiry() {
		what = append(what, "four-eyes window ends "+clock(at))
	}
	if !w.c.Started && at == w.startMS+w.s.IdleTimeout.Milliseconds() {
		what = append(what, "idle run ends "+clock(at))
	}
	if at == st.CooldownUntil {
		switch {
		case st.Status == domain.StatusThrottled && w.c.Probation:
			what = append(what, "probation ends "+clock(at))
		case st.Status != domain.StatusActive:
			what = append(what, "cooldown until "+clock(at))
		}
	}
	if len(what) == 0 {
		return "next deadline " + clock(at)
	}
	return strings.Join(what, "; ")
}

// publishStateSummary says what a batch of transitions publishes.
func publishStateSummary(batch []activities.Publication) string {
	last := batch[len(batch)-1]
	s := fmt.Sprintf("publish %s → %s v%d of %s to %s and %s", last.Command.Action, last.State.Status,
		last.State.Version, last.State.Scope, domain.TopicCommands, domain.TopicState)
	if len(batch) > 1 {
		s += fmt.Sprintf(" (%d transitions)", len(batch))
	}
	return s
}
