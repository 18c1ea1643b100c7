package workflows

import (
	"fmt"
	"math"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
)

// Operator updates: a validator and an applier per update, registered from
// the table in setup. Validators may read the state, never change it; they
// do not run on replay, so they may grow stricter without a version.
//
// Four eyes: on a scope whose policy needs several operators (GLOBAL by
// default), only unkill and unpin can end or loosen a kill, and each waits
// for the approvals of that many different operators, whose identities
// riskgate's API verified (identity.go) unless the settings accept claimed
// ones. Kill, throttle and extend may tighten it but are rejected where
// they would loosen it.

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

// cooldownMS converts an operator's seconds to milliseconds. Validators
// bound the seconds (checkCooldown); the conversion also saturates, so no
// value, not even one replayed from before the bound, can wrap.
func cooldownMS(secs int64) int64 {
	const most = math.MaxInt64 / 1000 / 4
	return min(max(secs, 0), most) * 1000
}

// checkCooldown bounds an operator-given cooldown by MaxOperatorCooldown.
func (w *killSwitch) checkCooldown(action string, secs int64) error {
	limit := int64(w.s.MaxOperatorCooldown / time.Second)
	if secs < 0 || secs > limit {
		return invalid("%s %s: cooldown_seconds %d is outside 0..%d (the maximum is %s)",
			action, w.scope, secs, limit, w.s.MaxOperatorCooldown)
	}
	return nil
}

// fourEyes says a release of the scope needs more than one operator.
func (w *killSwitch) fourEyes() bool { return w.s.approvals(w.scope.Type()).Required > 1 }

func statusRank(s domain.Status) int {
	switch s {
	case domain.StatusKilled:
		return 2
	case domain.StatusThrottled:
		return 1
	}
	return 0
}

// loosens reports whether next would end the current kill or let it end
// sooner or more easily: a lower status, a higher throttle rate, auto-unkill
// turned on, or a cooldown that ends earlier.
func (w *killSwitch) loosens(next domain.State) bool {
	cur := w.c.State
	switch {
	case cur.Status == domain.StatusActive:
		return false
	case statusRank(next.Status) < statusRank(cur.Status):
		return true
	case next.Status == domain.StatusThrottled && cur.Status == domain.StatusThrottled && next.MaxRatePerSecond > cur.MaxRatePerSecond:
		return true
	case next.AutoUnkillEnabled && !cur.AutoUnkillEnabled:
		return true
	case next.AutoUnkillEnabled && next.Status == cur.Status && cur.CooldownUntil > 0 && next.CooldownUntil < cur.CooldownUntil:
		return true
	}
	return false
}

// guardFourEyes rejects a kill, throttle or extend of a four-eyes scope
// that would loosen its kill: one operator alone may not do that.
func (w *killSwitch) guardFourEyes(action string, next domain.State) error {
	if !w.fourEyes() || !w.loosens(next) {
		return nil
	}
	return conflict("%s %s would loosen its kill, and releasing a %s scope takes four eyes: unkill or unpin it, approved by %d different operators",
		action, w.scope, w.scope.Type(), w.s.approvals(w.scope.Type()).Required)
}

// checkApprover rejects an approval whose operator is only claimed (unless
// the settings accept those), and a second approval of the same action by
// the same operator while the first is pending.
func (w *killSwitch) checkApprover(ctx workflow.Context, action domain.Action, req OperatorRequest) error {
	if !w.fourEyes() {
		return nil
	}
	if id := UpdateIdentity(ctx); !id.Verified() && !w.s.FourEyesAcceptClaimed {
		return conflict("%s %s: releasing a %s scope takes %d verified approvals, and %s's identity is only claimed (%s); "+
			"approve through riskgate's API", strings.ToLower(string(action)), w.scope, w.scope.Type(),
			w.s.approvals(w.scope.Type()).Required, req.Operator, id.Why)
	}
	if len(w.c.State.Approvals) == 0 || w.approvalAction() != action ||
		workflow.Now(ctx).UnixMilli() >= w.approvalExpiry() {
		return nil
	}
	for _, a := range w.c.State.Approvals {
		if a.Operator == req.Operator {
			return conflict("%s %s: %s already approved; four eyes need a different operator",
				strings.ToLower(string(action)), w.scope, req.Operator)
		}
	}
	return nil
}

func (w *killSwitch) approvalAction() domain.Action {
	if w.c.ApprovalAction == "" {
		return domain.ActionUnkill
	}
	return w.c.ApprovalAction
}

// approve counts req as an approval of action. It returns done once enough
// different operators approved (with their names), else records the
// approval and returns false. Pending approvals of another action are
// superseded: operators approve one release at a time.
func (w *killSwitch) approve(ctx workflow.Context, req OperatorRequest, action domain.Action) (names []string, done bool) {
	pol := w.s.approvals(w.scope.Type())
	if pol.Required <= 1 {
		return nil, true
	}
	now := workflow.Now(ctx).UnixMilli()
	st := &w.c.State
	id, recorded := recordedIdentity(ctx)
	if recorded && !id.Verified() && !w.s.FourEyesAcceptClaimed {
		// The validator already refuses these (it sees the same verdict,
		// at the same workflow time); should one get here all the same,
		// it is recorded and not counted.
		w.record(Transition{TS: now, From: st.Status, To: st.Status, Action: action,
			Trigger: domain.TriggerOperator, Operator: req.Operator, CmdID: req.CmdID, Version: st.Version, Identity: id.Identity,
			Reason: fmt.Sprintf("approval to %s not counted: %s's identity is only claimed (%s): %s",
				strings.ToLower(string(action)), req.Operator, id.Why, req.Reason)})
		return nil, false
	}
	if len(st.Approvals) > 0 && now >= w.approvalExpiry() {
		st.Approvals, w.c.ApprovalAction = nil, ""
	}
	if len(st.Approvals) > 0 && w.approvalAction() != action {
		w.clearApprovals(ctx, "superseded by "+req.Operator+"'s "+strings.ToLower(string(action)))
	}
	if len(st.Approvals)+1 < pol.Required {
		st.Approvals = append(st.Approvals, domain.Approval{Operator: req.Operator, TS: now, Reason: req.Reason, CmdID: req.CmdID})
		w.c.ApprovalAction = action
		w.record(Transition{TS: now, From: st.Status, To: st.Status, Action: action,
			Trigger: domain.TriggerOperator, Operator: req.Operator, CmdID: req.CmdID, Version: st.Version, Identity: id.Identity,
			Reason: fmt.Sprintf("approval %d of %d to %s: %s", len(st.Approvals), pol.Required,
				strings.ToLower(string(action)), req.Reason)})
		w.upsertVisibility(ctx)
		w.log.Info("four-eyes approval recorded", "corr_id", st.CorrID, "action", action, "operator", req.Operator,
			"approvals", len(st.Approvals), "required", pol.Required)
		return nil, false
	}
	for _, a := range st.Approvals {
		names = append(names, a.Operator)
	}
	return append(names, req.Operator), true
}

// The state each update would produce, shared by its validator (to judge
// it) and its applier.

func (w *killSwitch) killed(now int64, req OperatorRequest) domain.State {
	st := w.c.State
	next := st
	cooldown := w.s.Cooldown.Milliseconds()
	if req.CooldownSeconds > 0 {
		cooldown = cooldownMS(req.CooldownSeconds)
	}
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
	return next
}

func (w *killSwitch) throttled(now int64, req OperatorRequest) domain.State {
	next := w.c.State
	next.Status = domain.StatusThrottled
	next.MaxRatePerSecond = req.MaxRatePerSecond
	next.CooldownUntil = 0
	if req.CooldownSeconds > 0 {
		next.CooldownUntil = now + cooldownMS(req.CooldownSeconds)
	}
	next.AutoUnkillEnabled = req.AutoUnkill && req.CooldownSeconds > 0 && !w.c.Pinned
	next.Approvals = nil
	if next.CorrID == "" {
		next.CorrID = req.CmdID
	}
	return next
}

func (w *killSwitch) extended(now int64, req OperatorRequest) domain.State {
	next := w.c.State
	next.CooldownUntil = max(next.CooldownUntil, now) + cooldownMS(req.CooldownSeconds)
	return next
}

func (w *killSwitch) validateKill(ctx workflow.Context, req OperatorRequest) error {
	if err := w.checkCooldown("kill", req.CooldownSeconds); err != nil {
		return err
	}
	return w.guardFourEyes("kill", w.killed(workflow.Now(ctx).UnixMilli(), req))
}

func (w *killSwitch) validateUnkill(ctx workflow.Context, req OperatorRequest) error {
	if err := w.requireKilled("unkill"); err != nil {
		return err
	}
	return w.checkApprover(ctx, domain.ActionUnkill, req)
}

func (w *killSwitch) validateThrottle(ctx workflow.Context, req OperatorRequest) error {
	if !(req.MaxRatePerSecond > 0) {
		return invalid("throttle %s: max_rate_per_second must be positive", w.scope)
	}
	if err := w.checkCooldown("throttle", req.CooldownSeconds); err != nil {
		return err
	}
	return w.guardFourEyes("throttle", w.throttled(workflow.Now(ctx).UnixMilli(), req))
}

func (w *killSwitch) validateExtend(ctx workflow.Context, req OperatorRequest) error {
	if req.CooldownSeconds <= 0 {
		return invalid("extend %s: cooldown_seconds must be positive", w.scope)
	}
	if err := w.checkCooldown("extend", req.CooldownSeconds); err != nil {
		return err
	}
	if err := w.requireKilled("extend"); err != nil {
		return err
	}
	now := workflow.Now(ctx).UnixMilli()
	next := w.extended(now, req)
	if left := time.Duration(next.CooldownUntil-now) * time.Millisecond; left > w.s.MaxOperatorCooldown {
		return invalid("extend %s: the cooldown would end in %s, more than the maximum %s", w.scope, left, w.s.MaxOperatorCooldown)
	}
	return w.guardFourEyes("extend", next)
}

func (w *killSwitch) validatePin(workflow.Context, OperatorRequest) error {
	return w.requireKilled("pin")
}

func (w *killSwitch) validateUnpin(ctx workflow.Context, req OperatorRequest) error {
	if err := w.requireKilled("unpin"); err != nil {
		return err
	}
	return w.checkApprover(ctx, domain.ActionUnpin, req)
}

// Update appliers. Each runs after its validator accepted the request and
// returns the publish sequence to wait for (0: nothing to publish).

func (w *killSwitch) operatorCmd(ctx workflow.Context, req OperatorRequest, action domain.Action) domain.Command {
	id, _ := recordedIdentity(ctx)
	return domain.Command{CmdID: req.CmdID, Action: action, Reason: req.Reason,
		TriggeredBy: domain.TriggerOperator, Operator: req.Operator, Identity: id.Identity}
}

type recordedKey struct{}

// recordIdentity records the verdict on req's operator in history, once,
// with a side effect: a replay reads the recorded verdict instead of
// asking the interceptor again, so it decides as the first execution did
// whatever the replaying worker's keys. The appliers find the verdict in
// the returned context (recordedIdentity).
func (w *killSwitch) recordIdentity(ctx workflow.Context, req OperatorRequest) workflow.Context {
	return recordIdentity(ctx, w.log, req.Operator, req.CmdID)
}

// recordIdentity records the verdict on an update's operator (see the
// method above); the Limits workflow records its updates' the same way.
func recordIdentity(ctx workflow.Context, logger log.Logger, operator, cmdID string) workflow.Context {
	checked := UpdateIdentity(ctx)
	var id IdentityCheck
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return checked }).Get(&id); err != nil || id.Identity == "" {
		id = claimed("the recorded identity does not decode")
	}
	if !id.Verified() {
		logger.Info("operator identity claimed, not verified", "operator", operator, "cmd_id", cmdID, "why", id.Why)
	}
	return workflow.WithValue(ctx, recordedKey{}, id)
}

// recordedIdentity is the verdict recordIdentity recorded for the update
// being applied; false on the path before versionVerifiedIdentity.
func recordedIdentity(ctx workflow.Context) (IdentityCheck, bool) {
	id, ok := ctx.Value(recordedKey{}).(IdentityCheck)
	return id, ok
}

func (w *killSwitch) applyKill(ctx workflow.Context, req OperatorRequest) int64 {
	next := w.killed(workflow.Now(ctx).UnixMilli(), req)
	w.c.ApprovalAction = ""
	w.c.Probation, w.c.ProbationOver, w.c.CooldownExpired, w.c.Started = false, false, false, true
	return w.transition(ctx, w.operatorCmd(ctx, req, domain.ActionKill), next)
}

func (w *killSwitch) applyUnkill(ctx workflow.Context, req OperatorRequest) int64 {
	cmd := w.operatorCmd(ctx, req, domain.ActionUnkill)
	names, done := w.approve(ctx, req, domain.ActionUnkill)
	if !done {
		return 0
	}
	if len(names) > 1 {
		cmd.Reason = fmt.Sprintf("%s (four eyes: %s)", req.Reason, strings.Join(names, ", "))
	}
	w.c.Pinned = false
	return w.release(ctx, cmd)
}

func (w *killSwitch) applyThrottle(ctx workflow.Context, req OperatorRequest) int64 {
	next := w.throttled(workflow.Now(ctx).UnixMilli(), req)
	w.c.ApprovalAction = ""
	w.c.Probation, w.c.ProbationOver, w.c.CooldownExpired, w.c.Started = false, false, false, true
	cmd := w.operatorCmd(ctx, req, domain.ActionThrottle)
	cmd.MaxRatePerSecond = req.MaxRatePerSecond
	return w.transition(ctx, cmd, next)
}

func (w *killSwitch) applyExtend(ctx workflow.Context, req OperatorRequest) int64 {
	next := w.extended(workflow.Now(ctx).UnixMilli(), req)
	if w.c.Probation {
		w.c.ProbationOver = false // its end moved
	} else {
		w.c.CooldownExpired = false
	}
	return w.transition(ctx, w.operatorCmd(ctx, req, domain.ActionExtend), next)
}

func (w *killSwitch) applyPin(ctx workflow.Context, req OperatorRequest) int64 {
	if w.c.Pinned && !w.c.State.AutoUnkillEnabled {
		return 0
	}
	w.c.Pinned = true
	next := w.c.State
	next.AutoUnkillEnabled = false
	return w.transition(ctx, w.operatorCmd(ctx, req, domain.ActionPin), next)
}

func (w *killSwitch) applyUnpin(ctx workflow.Context, req OperatorRequest) int64 {
	if !w.c.Pinned && w.c.State.AutoUnkillEnabled {
		return 0
	}
	cmd := w.operatorCmd(ctx, req, domain.ActionUnpin)
	approved := false
	if w.fourEyes() && newPath(ctx, versionFourEyesEveryRelease) {
		names, done := w.approve(ctx, req, domain.ActionUnpin)
		if !done {
			return 0
		}
		cmd.Reason = fmt.Sprintf("%s (four eyes: %s)", req.Reason, strings.Join(names, ", "))
		approved = true
	}
	w.c.Pinned = false
	next := w.c.State
	next.AutoUnkillEnabled = true
	if approved {
		next.Approvals, w.c.ApprovalAction = nil, ""
	}
	seq := w.transition(ctx, cmd, next)
	if s := w.tryAutoUnkill(ctx); s > 0 {
		seq = s
	}
	return seq
}
