package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// A workflow's timers: one at a time, at its next deadline (for the
// KillSwitch a cooldown, a probation, a four-eyes window, the idle timeout;
// for Limits a raise's expiry or a four-eyes window). With summaries they
// read in words in the Web UI's timeline: "cooldown until 09:09:30 UTC"
// instead of a timer's event number.

// deadlineTimer is the one timer a workflow's main loop waits on, started
// again only when the deadline moves, so the loop can arm it every turn.
type deadlineTimer struct {
	future workflow.Future
	at     int64
	cancel workflow.CancelFunc
}

// arm returns a future ready at at (Unix ms), or nil when at is 0, reusing
// the running timer while at has not moved; a deadline already past is a
// future ready now, no timer. summary is asked only when a timer starts:
// the timer's summary, or ok false for a timer without one.
func (t *deadlineTimer) arm(ctx workflow.Context, at int64, summary func() (s string, ok bool)) workflow.Future {
	now := workflow.Now(ctx).UnixMilli()
	if at == 0 {
		t.stop()
		return nil
	}
	if at == t.at && t.future != nil {
		return t.future
	}
	t.stop()
	t.at = at
	if at <= now {
		f, set := workflow.NewFuture(ctx)
		set.Set(nil, nil)
		t.future = f
		return f
	}
	tctx, cancel := workflow.WithCancel(ctx)
	t.cancel = cancel
	d := time.Duration(at-now) * time.Millisecond
	if s, ok := summary(); ok {
		t.future = workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: s})
	} else {
		t.future = workflow.NewTimer(tctx, d)
	}
	return t.future
}

// stop cancels the running timer, if any.
func (t *deadlineTimer) stop() {
	if t.cancel != nil {
		t.cancel()
	}
	*t = deadlineTimer{}
}

// fired forgets the timer whose future is ready, so the next arm starts
// another.
func (t *deadlineTimer) fired() {
	*t = deadlineTimer{}
}

// armTimer returns a future that is ready at the next deadline, its timer
// summarized with versionSummaries.
func (w *killSwitch) armTimer(ctx workflow.Context) workflow.Future {
	at := w.nextDeadline()
	return w.timer.arm(ctx, at, func() (string, bool) {
		if !w.withSummaries(ctx) {
			return "", false
		}
		return w.deadlineSummary(at), true
	})
}

// nextDeadline is the earliest time something happens by itself, Unix ms, or 0.
func (w *killSwitch) nextDeadline() int64 {
	st := &w.c.State
	var at int64
	add := func(t int64) {
		if t > 0 && (at == 0 || t < at) {
			at = t
		}
	}
	if !w.c.Started && !w.idleExpired {
		add(w.startMS + w.s.IdleTimeout.Milliseconds())
	}
	switch st.Status {
	case domain.StatusKilled:
		if !w.c.CooldownExpired {
			add(st.CooldownUntil)
		}
	case domain.StatusThrottled:
		if w.c.Probation {
			if st.AutoUnkillEnabled && !w.c.ProbationOver {
				add(st.CooldownUntil)
			}
		} else if !w.c.CooldownExpired {
			add(st.CooldownUntil)
		}
	}
	if len(st.Approvals) > 0 {
		add(w.approvalExpiry())
	}
	return at
}

func (w *killSwitch) approvalExpiry() int64 {
	if len(w.c.State.Approvals) == 0 {
		return 0
	}
	return w.c.State.Approvals[0].TS + w.s.approvals(w.scope.Type()).Window.Milliseconds()
}

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
