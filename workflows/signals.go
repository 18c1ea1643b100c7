package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
)

// The detector's signals. A breach kills (or throttles); a normal lets the
// kill end after its cooldown. A breach that comes after a normal always
// wins: the workflow forgets the normal, whatever the scope's status, and
// no auto-release happens until the detector reports normal again.

// onBreach applies a detector breach: it kills (or throttles) an ACTIVE
// scope, re-kills a scope on probation with a doubled cooldown, and keeps a
// killed scope from auto-unkilling until the next normal.
func (w *killSwitch) onBreach(ctx workflow.Context, sig BreachSignal) {
	if sig.Scope != "" && sig.Scope != w.scope {
		w.log.Warn("breach for another scope ignored", "signal_scope", sig.Scope, "cmd_id", sig.CmdID)
		return
	}
	id := w.cmdID(ctx, sig.CmdID)
	if w.isSeen(id) {
		return
	}
	w.markSeen(id)
	if len(w.c.State.Approvals) > 0 && newPath(ctx, versionFourEyesEveryRelease) {
		// The approvers judged the scope before this breach.
		w.clearApprovals(ctx, "cleared by a new breach")
	}
	action := sig.Action
	if action == "" {
		action = domain.ActionKill
	}
	if action != domain.ActionKill && !(action == domain.ActionThrottle && sig.MaxRatePerSecond > 0) {
		w.log.Warn("breach with an unusable action: the scope is not normal, nothing else changes", "action", action,
			"max_rate_per_second", sig.MaxRatePerSecond, "cmd_id", id)
		if !w.c.Normal || newPath(ctx, versionBreachAfterNormal) {
			w.forgetNormal(ctx, sig)
			w.refreshDetails(ctx)
		}
		return
	}
	w.forgetNormal(ctx, sig)
	st := w.c.State
	onProbation := false
	switch {
	case st.Status == domain.StatusKilled:
		if sig.Trigger == domain.TriggerLimit && st.AutoUnkillEnabled && newPath(ctx, versionLimitTrigger) {
			// Already killed, but it would end by itself: repeated limit
			// blocks take that away, as their own kill would.
			w.c.Pinned = true
			next := st
			next.AutoUnkillEnabled = false
			w.transition(ctx, domain.Command{CmdID: id, Action: domain.ActionPin, TriggeredBy: domain.TriggerLimit,
				Reason: breachReason(sig) + "; escalated from pre-trade limit blocks: no auto-unkill, an operator must unkill",
				Metric: sig.Metric, Value: sig.Value, Threshold: sig.Threshold, Window: sig.Window}, next)
			return
		}
		w.refreshDetails(ctx)
		return
	case st.Status == domain.StatusThrottled && action == domain.ActionThrottle:
		// A throttle rule breached on probation: the scope is not fit to
		// be released when the probation's time is up.
		onProbation = w.c.Probation && newPath(ctx, versionBreachAfterNormal)
		if !onProbation {
			w.refreshDetails(ctx)
			return
		}
	}
	now := workflow.Now(ctx).UnixMilli()
	cmd := domain.Command{
		CmdID: id, Action: action, Reason: breachReason(sig), TriggeredBy: domain.TriggerDetector,
		Metric: sig.Metric, Value: sig.Value, Threshold: sig.Threshold, Window: sig.Window,
	}
	next := st
	next.Approvals = nil
	w.c.ApprovalAction = ""
	if next.CorrID == "" {
		next.CorrID = sig.CorrID
		if next.CorrID == "" {
			next.CorrID = id
		}
	}
	if action == domain.ActionThrottle {
		perSecond := sig.MaxRatePerSecond
		if onProbation {
			perSecond = min(perSecond, st.MaxRatePerSecond)
			cmd.Reason = fmt.Sprintf("%s; breached on probation: throttled at %s until a cooldown and a normal report",
				cmd.Reason, rate(perSecond))
		}
		cmd.MaxRatePerSecond = perSecond
		next.Status = domain.StatusThrottled
		next.MaxRatePerSecond = perSecond
		next.CooldownUntil = now + w.s.Cooldown.Milliseconds()
		next.AutoUnkillEnabled = !w.c.Pinned
		w.c.Probation, w.c.ProbationOver, w.c.CooldownExpired, w.c.Started = false, false, false, true
		w.transition(ctx, cmd, next)
		return
	}
	cooldown := w.s.Cooldown.Milliseconds()
	if w.c.Probation && w.c.CooldownMS > 0 {
		cooldown = min(2*w.c.CooldownMS, w.s.MaxCooldown.Milliseconds())
		cmd.Reason = fmt.Sprintf("%s; breached again on probation, cooldown doubled to %s",
			cmd.Reason, time.Duration(cooldown)*time.Millisecond)
	}
	w.c.Offences = append(w.offencesSince(w.c.Offences, now), now)
	if sig.Trigger == domain.TriggerLimit && newPath(ctx, versionLimitTrigger) {
		// Repeated pre-trade limit blocks: a designated person re-enables
		// the scope (RTS 6 15(3)), never a timer.
		cmd.TriggeredBy = domain.TriggerLimit
		w.c.Pinned = true
		cmd.Reason += "; escalated from pre-trade limit blocks: no auto-unkill, an operator must unkill"
	} else if n := len(w.c.Offences); n >= w.s.OffencesToPin {
		w.c.Pinned = true
		cmd.Reason = fmt.Sprintf("%s; offence %d within %s: pinned until an operator unkills", cmd.Reason, n, w.s.OffenceWindow)
	}
	next.Status = domain.StatusKilled
	next.MaxRatePerSecond = 0
	next.CooldownUntil = now + cooldown
	next.AutoUnkillEnabled = !w.c.Pinned
	w.c.CooldownMS = cooldown
	w.c.Probation, w.c.ProbationOver, w.c.CooldownExpired, w.c.Started = false, false, false, true
	w.transition(ctx, cmd, next)
}

// forgetNormal records that the scope breached at sig.TS: it is not normal
// until the detector says so again. The detector names a normal after the
// state version it saw, and a breach of a killed scope publishes no new
// version, so its next normal may carry the forgotten one's cmd_id: that id
// is applied again, while a late copy of the old normal is stale by its time.
func (w *killSwitch) forgetNormal(ctx workflow.Context, sig BreachSignal) {
	w.c.LastBreachTS = max(w.c.LastBreachTS, sig.TS)
	if !w.c.Normal {
		return
	}
	// Only when both carry the detector's time: a late copy of the normal
	// is then recognised as stale, never applied again.
	if sig.TS > 0 && w.c.NormalCmdID != "" && newPath(ctx, versionBreachAfterNormal) {
		w.unsee(w.c.NormalCmdID)
	}
	w.c.Normal, w.c.NormalCmdID = false, ""
}

// onNormal records that the detector sees the scope under every threshold
// again; it may let a scope whose cooldown is over auto-unkill. A normal
// the detector decided before the last breach it sent is stale.
func (w *killSwitch) onNormal(ctx workflow.Context, sig NormalSignal) {
	if sig.Scope != "" && sig.Scope != w.scope {
		w.log.Warn("normal for another scope ignored", "signal_scope", sig.Scope, "cmd_id", sig.CmdID)
		return
	}
	id := w.cmdID(ctx, sig.CmdID)
	if w.isSeen(id) {
		return
	}
	if sig.TS > 0 && sig.TS <= w.c.LastBreachTS && newPath(ctx, versionBreachAfterNormal) {
		// Not marked seen: a normal decided after the breach may reuse the id.
		w.log.Info("normal decided before the last breach ignored", "corr_id", w.c.State.CorrID, "cmd_id", id,
			"normal_ts", sig.TS, "last_breach_ts", w.c.LastBreachTS)
		return
	}
	w.markSeen(id)
	w.c.Normal, w.c.NormalCmdID = true, ""
	if sig.TS > 0 {
		w.c.NormalCmdID = id
	}
	if w.tryAutoUnkill(ctx) == 0 {
		w.refreshDetails(ctx)
	}
}

// unsee forgets an applied cmd_id, so that the same id applies again.
func (w *killSwitch) unsee(id string) {
	delete(w.seen, id)
	w.c.Seen = slices.DeleteFunc(w.c.Seen, func(s string) bool { return s == id })
}

// clearApprovals drops the pending four-eyes approvals, saying why in the
// history.
func (w *killSwitch) clearApprovals(ctx workflow.Context, why string) {
	st := &w.c.State
	names := make([]string, len(st.Approvals))
	for i, a := range st.Approvals {
		names[i] = a.Operator
	}
	w.record(Transition{TS: workflow.Now(ctx).UnixMilli(), From: st.Status, To: st.Status, Action: w.approvalAction(),
		Trigger: domain.TriggerSystem, Reason: "four-eyes approval by " + strings.Join(names, ", ") + " " + why,
		Version: st.Version})
	st.Approvals = nil
	w.c.ApprovalAction = ""
	w.upsertVisibility(ctx)
}
