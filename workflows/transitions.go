package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// transition is the one way the scope's state changes: it stamps the new
// state with a version and the command, records it in the history, brings
// the search attributes and memo up to date, and queues the publish. It
// returns the publish sequence number an update waits for.
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
		Operator: cmd.Operator, Reason: cmd.Reason, CmdID: cmd.CmdID, Version: next.Version,
	})
	w.upsertVisibility(ctx)
	pub := activities.Publication{Command: cmd, State: next}
	pub.State.Approvals = slices.Clone(next.Approvals)
	w.queue = append(w.queue, pub)
	w.enqueued++
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

// upsertVisibility makes the Web UI agree with the workflow: search
// attributes (only when they change), memo and current details in words.
func (w *killSwitch) upsertVisibility(ctx workflow.Context) {
	st := w.c.State
	sa := [4]string{string(w.scope), string(w.scope.Type()), string(st.Status), string(st.Trigger)}
	if sa != w.sa {
		err := workflow.UpsertTypedSearchAttributes(ctx,
			saScope.ValueSet(sa[0]), saScopeType.ValueSet(sa[1]), saStatus.ValueSet(sa[2]), saTrigger.ValueSet(sa[3]))
		if err != nil {
			w.log.Error("upsert search attributes", "corr_id", st.CorrID, "error", err)
		} else {
			w.sa = sa
		}
	}
	details := w.describe()
	if err := workflow.UpsertMemo(ctx, map[string]any{"summary": details}); err != nil {
		w.log.Error("upsert memo", "corr_id", st.CorrID, "error", err)
	}
	workflow.SetCurrentDetails(ctx, details)
}

// refreshDetails updates the current details only (no history event).
func (w *killSwitch) refreshDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, w.describe())
}

func clock(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05 UTC") }

func rate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) + "/s" }

// describe says in words what happened and what happens next, for the
// memo and the Web UI's current details.
func (w *killSwitch) describe() string {
	st := w.c.State
	by := string(st.Trigger)
	if st.Trigger == domain.TriggerOperator {
		by = "operator " + st.UpdatedBy
	}
	var b strings.Builder
	switch st.Status {
	case domain.StatusActive:
		if !w.c.Started {
			b.WriteString("ACTIVE: the run ended without a kill")
			break
		}
		fmt.Fprintf(&b, "ACTIVE again, released by %s at %s: %s", by, clock(st.UpdatedTS), st.Reason)
	case domain.StatusKilled:
		fmt.Fprintf(&b, "KILLED by %s: %s", by, st.Reason)
		if w.c.CooldownExpired {
			fmt.Fprintf(&b, "; cooldown ended at %s", clock(st.CooldownUntil))
		} else if st.CooldownUntil > 0 {
			fmt.Fprintf(&b, "; cooldown until %s", clock(st.CooldownUntil))
		}
		switch {
		case w.c.Pinned:
			b.WriteString("; auto-unkill pinned off until an operator acts")
		case !st.AutoUnkillEnabled:
			b.WriteString("; no auto-unkill: an operator must unkill")
		case !w.c.Normal && !w.s.IgnoreNormal:
			b.WriteString("; auto-unkill once the detector reports the scope normal")
		default:
			b.WriteString("; auto-unkill to probation after the cooldown")
		}
	case domain.StatusThrottled:
		if w.c.Probation {
			fmt.Fprintf(&b, "THROTTLED at %s on probation after auto-unkill; ACTIVE at %s unless it breaches again",
				rate(st.MaxRatePerSecond), clock(st.CooldownUntil))
			if !st.AutoUnkillEnabled {
				b.WriteString(" (pinned: an operator must unkill)")
			}
			break
		}
		fmt.Fprintf(&b, "THROTTLED at %s by %s: %s", rate(st.MaxRatePerSecond), by, st.Reason)
		if st.CooldownUntil > 0 && st.AutoUnkillEnabled {
			fmt.Fprintf(&b, "; lifted after %s", clock(st.CooldownUntil))
		}
	}
	if n := len(st.Approvals); n > 0 {
		names := make([]string, n)
		for i, a := range st.Approvals {
			names[i] = a.Operator
		}
		pol := w.s.approvals(w.scope.Type())
		fmt.Fprintf(&b, "; unkill approved by %s (%d of %d), another operator must approve by %s",
			strings.Join(names, ", "), n, pol.Required, clock(w.approvalExpiry()))
	}
	return b.String()
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

// onBreach applies a detector breach: it kills (or throttles) an ACTIVE
// scope, re-kills a scope on probation with a doubled cooldown, and keeps a
// killed scope from auto-unkilling.
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
	action := sig.Action
	if action == "" {
		action = domain.ActionKill
	}
	if action != domain.ActionKill && !(action == domain.ActionThrottle && sig.MaxRatePerSecond > 0) {
		w.log.Warn("breach with an unusable action ignored", "action", action,
			"max_rate_per_second", sig.MaxRatePerSecond, "cmd_id", id)
		return
	}
	w.c.Normal = false
	st := w.c.State
	switch {
	case st.Status == domain.StatusKilled:
		w.refreshDetails(ctx)
		return
	case st.Status == domain.StatusThrottled && action == domain.ActionThrottle:
		w.refreshDetails(ctx)
		return
	}
	now := workflow.Now(ctx).UnixMilli()
	cmd := domain.Command{
		CmdID: id, Action: action, Reason: breachReason(sig), TriggeredBy: domain.TriggerDetector,
		Metric: sig.Metric, Value: sig.Value, Threshold: sig.Threshold, Window: sig.Window,
	}
	next := st
	next.Approvals = nil
	if next.CorrID == "" {
		next.CorrID = sig.CorrID
		if next.CorrID == "" {
			next.CorrID = id
		}
	}
	if action == domain.ActionThrottle {
		cmd.MaxRatePerSecond = sig.MaxRatePerSecond
		next.Status = domain.StatusThrottled
		next.MaxRatePerSecond = sig.MaxRatePerSecond
		next.CooldownUntil = now + w.s.Cooldown.Milliseconds()
		next.AutoUnkillEnabled = !w.c.Pinned
		w.c.Probation, w.c.CooldownExpired, w.c.Started = false, false, true
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
	if n := len(w.c.Offences); n >= w.s.OffencesToPin {
		w.c.Pinned = true
		cmd.Reason = fmt.Sprintf("%s; offence %d within %s: pinned until an operator unkills", cmd.Reason, n, w.s.OffenceWindow)
	}
	next.Status = domain.StatusKilled
	next.MaxRatePerSecond = 0
	next.CooldownUntil = now + cooldown
	next.AutoUnkillEnabled = !w.c.Pinned
	w.c.CooldownMS = cooldown
	w.c.Probation, w.c.CooldownExpired, w.c.Started = false, false, true
	w.transition(ctx, cmd, next)
}

// onNormal records that the detector sees the scope under every threshold
// again; it may let a scope whose cooldown is over auto-unkill.
func (w *killSwitch) onNormal(ctx workflow.Context, sig NormalSignal) {
	if sig.Scope != "" && sig.Scope != w.scope {
		w.log.Warn("normal for another scope ignored", "signal_scope", sig.Scope, "cmd_id", sig.CmdID)
		return
	}
	id := w.cmdID(ctx, sig.CmdID)
	if w.isSeen(id) {
		return
	}
	w.markSeen(id)
	w.c.Normal = true
	if w.tryAutoUnkill(ctx) == 0 {
		w.refreshDetails(ctx)
	}
}

// onDeadline handles whatever timer is due: an approval expiring, the idle
// timeout, a cooldown ending, probation ending.
func (w *killSwitch) onDeadline(ctx workflow.Context) {
	now := workflow.Now(ctx).UnixMilli()
	st := &w.c.State
	if len(st.Approvals) > 0 && now >= w.approvalExpiry() {
		names := make([]string, len(st.Approvals))
		for i, a := range st.Approvals {
			names[i] = a.Operator
		}
		w.record(Transition{TS: now, From: st.Status, To: st.Status, Action: domain.ActionUnkill,
			Trigger: domain.TriggerSystem, Reason: "four-eyes approval by " + strings.Join(names, ", ") + " expired",
			Version: st.Version})
		st.Approvals = nil
		w.upsertVisibility(ctx)
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
			if st.AutoUnkillEnabled && now >= st.CooldownUntil {
				w.release(ctx, domain.Command{
					CmdID: w.cmdID(ctx, ""), Action: domain.ActionUnkill, TriggeredBy: domain.TriggerSystem,
					Reason: "probation ended without a breach",
				})
			}
		} else if !w.c.CooldownExpired && st.CooldownUntil > 0 && now >= st.CooldownUntil {
			w.c.CooldownExpired = true
			if w.tryAutoUnkill(ctx) == 0 {
				w.upsertVisibility(ctx)
			}
		}
	}
}

// tryAutoUnkill ends a kill whose cooldown is over when auto-unkill is
// allowed and the detector said normal: to probation (THROTTLED), or from a
// throttle straight to ACTIVE. It returns the publish sequence, 0 if nothing.
func (w *killSwitch) tryAutoUnkill(ctx workflow.Context) int64 {
	st := w.c.State
	if !w.c.Started || !st.AutoUnkillEnabled || !w.c.CooldownExpired || !(w.c.Normal || w.s.IgnoreNormal) {
		return 0
	}
	switch {
	case st.Status == domain.StatusKilled && w.s.Probation > 0:
		now := workflow.Now(ctx).UnixMilli()
		next := st
		next.Status = domain.StatusThrottled
		next.MaxRatePerSecond = w.s.ProbationRate
		next.CooldownUntil = now + w.s.Probation.Milliseconds()
		w.c.Probation = true
		return w.transition(ctx, domain.Command{
			CmdID: w.cmdID(ctx, ""), Action: domain.ActionThrottle, TriggeredBy: domain.TriggerSystem,
			MaxRatePerSecond: w.s.ProbationRate,
			Reason: fmt.Sprintf("auto-unkill after cooldown: probation at %s until %s",
				rate(w.s.ProbationRate), clock(next.CooldownUntil)),
		}, next)
	case st.Status == domain.StatusKilled || st.Status == domain.StatusThrottled && !w.c.Probation:
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
	w.c.Probation, w.c.CooldownExpired = false, false
	return w.transition(ctx, cmd, next)
}

// Update validators. They may read the state, never change it.

func invalid(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrTypeInvalid)
}

func conflict(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrTypeConflict)
}

func (w *killSwitch) validateRequest(req OperatorRequest) error {
	if err := req.Validate(); err != nil {
		return invalid("%v", err)
	}
	if req.Scope != w.scope {
		return invalid("request for %s sent to the workflow of %s", req.Scope, w.scope)
	}
	return nil
}

func (w *killSwitch) requireKilled(action string) error {
	if w.c.State.Status == domain.StatusActive {
		return conflict("%s %s: the scope is ACTIVE, not killed or throttled", action, w.scope)
	}
	return nil
}

func (w *killSwitch) validateKill(workflow.Context, OperatorRequest) error { return nil }

func (w *killSwitch) validateUnkill(ctx workflow.Context, req OperatorRequest) error {
	if err := w.requireKilled("unkill"); err != nil {
		return err
	}
	if w.s.approvals(w.scope.Type()).Required > 1 {
		now := workflow.Now(ctx).UnixMilli()
		fresh := len(w.c.State.Approvals) > 0 && now < w.approvalExpiry()
		for _, a := range w.c.State.Approvals {
			if fresh && a.Operator == req.Operator {
				return conflict("unkill %s: %s already approved; four eyes need a different operator", w.scope, req.Operator)
			}
		}
	}
	return nil
}

func (w *killSwitch) validateThrottle(_ workflow.Context, req OperatorRequest) error {
	if !(req.MaxRatePerSecond > 0) {
		return invalid("throttle %s: max_rate_per_second must be positive", w.scope)
	}
	if w.c.State.Status == domain.StatusKilled && w.s.approvals(w.scope.Type()).Required > 1 {
		return conflict("throttle %s: throttling a killed %s releases it; unkill it with four eyes instead",
			w.scope, w.scope.Type())
	}
	return nil
}

func (w *killSwitch) validateExtend(_ workflow.Context, req OperatorRequest) error {
	if req.CooldownSeconds <= 0 {
		return invalid("extend %s: cooldown_seconds must be positive", w.scope)
	}
	return w.requireKilled("extend")
}

func (w *killSwitch) validatePin(workflow.Context, OperatorRequest) error {
	return w.requireKilled("pin")
}

func (w *killSwitch) validateUnpin(workflow.Context, OperatorRequest) error {
	return w.requireKilled("unpin")
}

// Update appliers. Each runs after its validator accepted the request and
// returns the publish sequence to wait for (0: nothing to publish).

func (w *killSwitch) operatorCmd(req OperatorRequest, action domain.Action) domain.Command {
	return domain.Command{CmdID: req.CmdID, Action: action, Reason: req.Reason,
		TriggeredBy: domain.TriggerOperator, Operator: req.Operator}
}

func (w *killSwitch) applyKill(ctx workflow.Context, req OperatorRequest) int64 {
	now := workflow.Now(ctx).UnixMilli()
	cooldown := w.s.Cooldown.Milliseconds()
	if req.CooldownSeconds > 0 {
		cooldown = req.CooldownSeconds * 1000
	}
	st := w.c.State
	next := st
	next.Status = domain.StatusKilled
	next.MaxRatePerSecond = 0
	next.CooldownUntil = now + cooldown
	if st.Status == domain.StatusKilled && st.CooldownUntil > next.CooldownUntil {
		next.CooldownUntil = st.CooldownUntil
	}
	next.AutoUnkillEnabled = req.AutoUnkill && !w.c.Pinned
	next.Approvals = nil
	if next.CorrID == "" {
		next.CorrID = req.CmdID
	}
	w.c.Probation, w.c.CooldownExpired, w.c.Started = false, false, true
	return w.transition(ctx, w.operatorCmd(req, domain.ActionKill), next)
}

func (w *killSwitch) applyUnkill(ctx workflow.Context, req OperatorRequest) int64 {
	cmd := w.operatorCmd(req, domain.ActionUnkill)
	if pol := w.s.approvals(w.scope.Type()); pol.Required > 1 {
		now := workflow.Now(ctx).UnixMilli()
		st := &w.c.State
		if len(st.Approvals) > 0 && now >= w.approvalExpiry() {
			st.Approvals = nil
		}
		if len(st.Approvals)+1 < pol.Required {
			st.Approvals = append(st.Approvals, domain.Approval{Operator: req.Operator, TS: now, Reason: req.Reason, CmdID: req.CmdID})
			w.record(Transition{TS: now, From: st.Status, To: st.Status, Action: domain.ActionUnkill,
				Trigger: domain.TriggerOperator, Operator: req.Operator, CmdID: req.CmdID, Version: st.Version,
				Reason: fmt.Sprintf("approval %d of %d: %s", len(st.Approvals), pol.Required, req.Reason)})
			w.upsertVisibility(ctx)
			w.log.Info("unkill approval recorded", "corr_id", st.CorrID, "operator", req.Operator,
				"approvals", len(st.Approvals), "required", pol.Required)
			return 0
		}
		names := make([]string, 0, len(st.Approvals)+1)
		for _, a := range st.Approvals {
			names = append(names, a.Operator)
		}
		names = append(names, req.Operator)
		cmd.Reason = fmt.Sprintf("%s (four eyes: %s)", req.Reason, strings.Join(names, ", "))
	}
	w.c.Pinned = false
	return w.release(ctx, cmd)
}

func (w *killSwitch) applyThrottle(ctx workflow.Context, req OperatorRequest) int64 {
	now := workflow.Now(ctx).UnixMilli()
	next := w.c.State
	next.Status = domain.StatusThrottled
	next.MaxRatePerSecond = req.MaxRatePerSecond
	next.CooldownUntil = 0
	if req.CooldownSeconds > 0 {
		next.CooldownUntil = now + req.CooldownSeconds*1000
	}
	next.AutoUnkillEnabled = req.AutoUnkill && req.CooldownSeconds > 0 && !w.c.Pinned
	next.Approvals = nil
	if next.CorrID == "" {
		next.CorrID = req.CmdID
	}
	w.c.Probation, w.c.CooldownExpired, w.c.Started = false, false, true
	cmd := w.operatorCmd(req, domain.ActionThrottle)
	cmd.MaxRatePerSecond = req.MaxRatePerSecond
	return w.transition(ctx, cmd, next)
}

func (w *killSwitch) applyExtend(ctx workflow.Context, req OperatorRequest) int64 {
	now := workflow.Now(ctx).UnixMilli()
	next := w.c.State
	next.CooldownUntil = max(next.CooldownUntil, now) + req.CooldownSeconds*1000
	if !w.c.Probation {
		w.c.CooldownExpired = false
	}
	return w.transition(ctx, w.operatorCmd(req, domain.ActionExtend), next)
}

func (w *killSwitch) applyPin(ctx workflow.Context, req OperatorRequest) int64 {
	if w.c.Pinned && !w.c.State.AutoUnkillEnabled {
		return 0
	}
	w.c.Pinned = true
	next := w.c.State
	next.AutoUnkillEnabled = false
	return w.transition(ctx, w.operatorCmd(req, domain.ActionPin), next)
}

func (w *killSwitch) applyUnpin(ctx workflow.Context, req OperatorRequest) int64 {
	if !w.c.Pinned && w.c.State.AutoUnkillEnabled {
		return 0
	}
	w.c.Pinned = false
	next := w.c.State
	next.AutoUnkillEnabled = true
	seq := w.transition(ctx, w.operatorCmd(req, domain.ActionUnpin), next)
	if s := w.tryAutoUnkill(ctx); s > 0 {
		seq = s
	}
	return seq
}
