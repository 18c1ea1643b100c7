package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// transition is the one way the scope's state changes: it stamps the new
// state with a version and the command, records it in the history, queues
// the publish and shows the Web UI what is pending (the search attributes
// follow once it is published). It returns the publish sequence number an
// update waits for.
func (w *killSwitch) transition(ctx workflow.Context, cmd domain.Command, next domain.State) int64 {
	now := workflow.Now(ctx)
	prev := w.c.State
	next.Version = max(prev.Version+1, now.UnixMicro())
	next.UpdatedTS = now.UnixMilli()
	next.LastCmdID = cmd.CmdID
	next.Reason = cmd.Reason
	next.Trigger = cmd.TriggeredBy
	next.UpdatedBy = string(cmd.TriggeredBy)
	if cmd.Operator != "" {
		next.UpdatedBy = cmd.Operator
	}
	// Every state carries the recent offences, so the next incident reads
	// them back from the last one published (adoptPrior).
	next.Offences = w.offencesSince(w.c.Offences, next.UpdatedTS)
	cmd.TS = next.UpdatedTS
	cmd.Scope = w.scope
	cmd.CorrID = next.CorrID
	cmd.StateVersion = next.Version
	w.c.State = next
	w.record(Transition{
		TS: next.UpdatedTS, From: prev.Status, To: next.Status, Action: cmd.Action, Trigger: cmd.TriggeredBy,
		Operator: cmd.Operator, Reason: cmd.Reason, CmdID: cmd.CmdID, Version: next.Version, Identity: cmd.Identity,
	})
	pub := activities.Publication{Command: cmd, State: next}
	pub.State.Approvals = slices.Clone(next.Approvals)
	w.queue = append(w.queue, pub)
	w.enqueued++
	w.showTransition(ctx)
	w.log.Info("transition", "corr_id", next.CorrID, "from", prev.Status, "to", next.Status,
		"action", cmd.Action, "trigger", cmd.TriggeredBy, "version", next.Version, "cmd_id", cmd.CmdID)
	return w.enqueued
}

// record appends to the history query, keeping the newest HistoryLimit.
func (w *killSwitch) record(t Transition) {
	w.c.History = append(w.c.History, t)
	if n := len(w.c.History) - w.s.HistoryLimit; n > 0 {
		w.c.History = slices.Clone(w.c.History[n:])
	}
}

// breachReason says in words what the detector saw.
func breachReason(sig BreachSignal) string {
	if sig.Reason != "" {
		return sig.Reason
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	var b strings.Builder
	if sig.Rule != "" {
		b.WriteString(sig.Rule + ": ")
	}
	metric := sig.Metric
	if metric == "" {
		metric = "breach"
	}
	fmt.Fprintf(&b, "%s %s > %s", metric, num(sig.Value), num(sig.Threshold))
	if sig.Window != "" {
		b.WriteString(" in " + sig.Window)
	}
	return b.String()
}

// onDeadline handles whatever timer is due: an approval expiring, the idle
// timeout, a cooldown ending, probation ending.
func (w *killSwitch) onDeadline(ctx workflow.Context) {
	now := workflow.Now(ctx).UnixMilli()
	st := &w.c.State
	if len(st.Approvals) > 0 && now >= w.approvalExpiry() {
		w.clearApprovals(ctx, "expired")
	}
	if !w.c.Started {
		if now >= w.startMS+w.s.IdleTimeout.Milliseconds() {
			w.idleExpired = true
			if workflow.GetVersion(ctx, versionIdleVisibility, workflow.DefaultVersion, 1) >= 1 {
				w.upsertVisibility(ctx)
			}
		}
		return
	}
	switch st.Status {
	case domain.StatusKilled:
		if !w.c.CooldownExpired && st.CooldownUntil > 0 && now >= st.CooldownUntil {
			w.c.CooldownExpired = true
			if w.tryAutoUnkill(ctx) == 0 {
				w.upsertVisibility(ctx)
			}
		}
	case domain.StatusThrottled:
		if w.c.Probation {
			if !st.AutoUnkillEnabled || w.c.ProbationOver || now < st.CooldownUntil {
				return
			}
			if !w.normalSinceBreach() && newPath(ctx, versionBreachAfterNormal) {
				// Breached since the normal that began the probation (a
				// breach it could not act on): wait for the next normal.
				w.c.ProbationOver = true
				w.upsertVisibility(ctx)
				return
			}
			w.release(ctx, domain.Command{
				CmdID: w.cmdID(ctx, ""), Action: domain.ActionUnkill, TriggeredBy: domain.TriggerSystem,
				Reason: "probation ended without a breach",
			})
		} else if !w.c.CooldownExpired && st.CooldownUntil > 0 && now >= st.CooldownUntil {
			w.c.CooldownExpired = true
			if w.tryAutoUnkill(ctx) == 0 {
				w.upsertVisibility(ctx)
			}
		}
	}
}

// normalSinceBreach says the detector reported the scope normal after its
// last breach, or the worker does not wait for normals.
func (w *killSwitch) normalSinceBreach() bool { return w.c.Normal || w.s.IgnoreNormal }

// tryAutoUnkill ends a kill whose cooldown is over when auto-unkill is
// allowed and the detector said normal since the last breach: to probation
// (THROTTLED), from a throttle or an overdue probation straight to ACTIVE.
// It returns the publish sequence, 0 if nothing.
func (w *killSwitch) tryAutoUnkill(ctx workflow.Context) int64 {
	st := w.c.State
	if !w.c.Started || !st.AutoUnkillEnabled || !w.normalSinceBreach() {
		return 0
	}
	if st.Status == domain.StatusThrottled && w.c.Probation {
		if !w.c.ProbationOver {
			return 0 // its own deadline ends it
		}
		return w.release(ctx, domain.Command{
			CmdID: w.cmdID(ctx, ""), Action: domain.ActionUnkill, TriggeredBy: domain.TriggerSystem,
			Reason: "probation over and the detector reports the scope normal again",
		})
	}
	if !w.c.CooldownExpired {
		return 0
	}
	switch {
	case st.Status == domain.StatusKilled && w.s.Probation > 0:
		now := workflow.Now(ctx).UnixMilli()
		next := st
		next.Status = domain.StatusThrottled
		next.MaxRatePerSecond = w.s.ProbationRate
		next.CooldownUntil = now + w.s.Probation.Milliseconds()
		w.c.Probation, w.c.ProbationOver = true, false
		return w.transition(ctx, domain.Command{
			CmdID: w.cmdID(ctx, ""), Action: domain.ActionThrottle, TriggeredBy: domain.TriggerSystem,
			MaxRatePerSecond: w.s.ProbationRate,
			Reason: fmt.Sprintf("auto-unkill after cooldown: probation at %s until %s",
				rate(w.s.ProbationRate), clock(next.CooldownUntil)),
		}, next)
	case st.Status == domain.StatusKilled || st.Status == domain.StatusThrottled:
		return w.release(ctx, domain.Command{
			CmdID: w.cmdID(ctx, ""), Action: domain.ActionUnkill, TriggeredBy: domain.TriggerSystem,
			Reason: "auto-unkill after cooldown",
		})
	}
	return 0
}

// release makes the scope ACTIVE; the run then completes.
func (w *killSwitch) release(ctx workflow.Context, cmd domain.Command) int64 {
	next := w.c.State
	next.Status = domain.StatusActive
	next.MaxRatePerSecond = 0
	next.CooldownUntil = 0
	next.Approvals = nil
	w.c.ApprovalAction = ""
	w.c.Probation, w.c.ProbationOver, w.c.CooldownExpired = false, false, false
	return w.transition(ctx, cmd, next)
}
