package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// Limits updates: plan judges a request against the state and the
// settings without changing anything (validators and handlers share it),
// and apply makes the planned change, the one way the state changes.
//
// Four eyes: a change that loosens a limit to a value beyond its scope
// type's ceiling, or loosens GLOBAL at all, waits as the scope's one
// pending change until a second, different admin approves it within the
// approval window; a reject or the window's end drops it. Only an admin may
// ask for a value beyond a ceiling. Loosening means a larger cap
// (max_order_qty, max_order_notional, collar_pct, max_orders,
// max_notional, credit_limit, max_ref_age_seconds, or a cap cleared where
// the default has none), a shorter window_seconds (the same caps over less
// time), and restricted or require_reference going from true to false.

// limitsPlan is what a request would do.
type limitsPlan struct {
	action  domain.LimitsAction
	next    domain.LimitValues  // overrides after the change
	base    *domain.LimitValues // what a raise in force reverts to, after
	expires int64               // when it reverts, Unix ms
	pending *PendingLimits      // the change that now waits (REQUEST)
	// approvedBy is the approver of the values beyond the ceilings that
	// next holds; baseApprovedBy that of base.
	approvedBy, baseApprovedBy string
}

// plan judges req as an update of kind at workflow time, its operator's
// identity as id says (verified by riskgate's API, or only claimed).
func (w *limitsRun) plan(ctx workflow.Context, kind string, req LimitsRequest, id IdentityCheck) (limitsPlan, error) {
	now := workflow.Now(ctx).UnixMilli()
	switch kind {
	case LimitsUpdateApprove:
		return w.planApprove(now, req, id)
	case LimitsUpdateReject:
		if w.c.Pending == nil {
			return limitsPlan{}, conflict("reject %s: no change is pending", w.scope)
		}
		return w.keep(domain.LimitsReject), nil
	}
	change, err := w.change(kind, req)
	if err != nil {
		return limitsPlan{}, err
	}
	p, err := w.planChange(now, kind, change, req.DurationSeconds, req.Until)
	if err != nil {
		return limitsPlan{}, err
	}
	l := judge(w.scope.Type(), w.defaults(), w.ceiling(), w.c.Overrides, p.next)
	needsApproval := len(l.beyond) > 0 || (w.scope.Type() == domain.ScopeGlobal && len(l.loosened) > 0)
	if !needsApproval {
		return p, nil
	}
	why := "loosens GLOBAL (" + strings.Join(l.loosened, ", ") + ")"
	if len(l.beyond) > 0 {
		why = strings.Join(l.beyond, "; ")
		if !req.Admin {
			return limitsPlan{}, conflict("%s %s: %s; only an admin may ask for more than a ceiling, and a second operator must approve it",
				kind, w.scope, why)
		}
		if err := w.vouched(kind, req, id); err != nil {
			return limitsPlan{}, err
		}
	}
	if w.c.Pending != nil {
		return limitsPlan{}, conflict("%s %s: %s and needs a second operator, but %s's change %s is pending: approve or reject it first",
			kind, w.scope, why, w.c.Pending.RequestedBy, w.c.Pending.CmdID)
	}
	pend := &PendingLimits{
		CmdID: req.CmdID, Kind: kind, RequestedBy: req.Operator, Reason: req.Reason,
		Limits: cloneLimits(change.limits), Clear: slices.Clone(change.clear),
		RequestedTS: now, ExpiresAt: now + w.s.ApprovalWindow.Milliseconds(), Why: why,
	}
	if kind == LimitsUpdateRaise {
		if req.Until > 0 {
			pend.Until = req.Until
		} else {
			pend.DurationSeconds = req.DurationSeconds
		}
	}
	return limitsPlan{action: domain.LimitsRequest, next: w.c.Overrides, base: w.c.Base, expires: w.c.ExpiresAt,
		pending: pend, approvedBy: w.c.ApprovedBy, baseApprovedBy: w.c.BaseApprovedBy}, nil
}

// vouched refuses an admin's request or approval whose operator (and so
// role) riskgate's API did not vouch for, unless the settings accept
// claimed identities: anyone who can write to the namespace could
// otherwise claim an admin under any two names.
func (w *limitsRun) vouched(action string, req LimitsRequest, id IdentityCheck) error {
	if id.Verified() || w.s.AcceptClaimed {
		return nil
	}
	return conflict("%s %s: it takes a verified admin, and %s's identity is only claimed (%s); send it through riskgate's API",
		action, w.scope, req.Operator, id.Why)
}

// keep is the plan of an action that changes no override.
func (w *limitsRun) keep(action domain.LimitsAction) limitsPlan {
	return limitsPlan{action: action, next: w.c.Overrides, base: w.c.Base, expires: w.c.ExpiresAt,
		approvedBy: w.c.ApprovedBy, baseApprovedBy: w.c.BaseApprovedBy}
}

// limitsChange is a set, raise, restrict or unrestrict reduced to the
// fields it sets and those it clears.
type limitsChange struct {
	action domain.LimitsAction
	limits domain.LimitValues
	clear  []string
}

func (w *limitsRun) change(kind string, req LimitsRequest) (limitsChange, error) {
	symbolOnly := func() error {
		if w.scope.Type() != domain.ScopeSymbol {
			return invalid("%s %s: only SYMBOL scopes can be restricted", kind, w.scope)
		}
		return nil
	}
	yes := true
	switch kind {
	case LimitsUpdateRestrict:
		return limitsChange{action: domain.LimitsRestrict, limits: domain.LimitValues{Restricted: &yes}}, symbolOnly()
	case LimitsUpdateUnrestrict:
		return limitsChange{action: domain.LimitsUnrestrict, clear: []string{"restricted"}}, symbolOnly()
	case LimitsUpdateSet, LimitsUpdateRaise:
	default:
		return limitsChange{}, invalid("unknown limits update %q", kind)
	}
	c := limitsChange{action: domain.LimitsSet, limits: req.Limits, clear: req.Clear}
	if kind == LimitsUpdateRaise {
		c.action = domain.LimitsRaise
		if len(req.Clear) > 0 {
			return c, invalid("raise %s: a raise sets values for a while; clear fields with set", w.scope)
		}
	}
	for _, name := range req.Clear {
		f, ok := fieldByName(name)
		if !ok {
			return c, invalid("%s %s: clear names %q, which is not a limit", kind, w.scope, name)
		}
		if _, set := f.get(&req.Limits); set {
			return c, invalid("%s %s: %s is both set and cleared", kind, w.scope, name)
		}
	}
	if emptyLimits(req.Limits) && len(req.Clear) == 0 {
		return c, invalid("%s %s: no limit to change", kind, w.scope)
	}
	return c, nil
}

// applyChange returns v with c's fields set and cleared.
func applyChange(v domain.LimitValues, c limitsChange) domain.LimitValues {
	out := overlay(v, c.limits)
	for _, name := range c.clear {
		if f, ok := fieldByName(name); ok {
			f.copyFrom(&out, &domain.LimitValues{})
		}
	}
	return out
}

// planChange computes the overrides after c. A raise keeps the overrides
// from before the first raise in force as what it reverts to, and ends at
// its own expiry; a set, restrict or unrestrict during a raise changes
// both, so it outlasts the raise.
func (w *limitsRun) planChange(now int64, kind string, c limitsChange, durationSeconds, until int64) (limitsPlan, error) {
	p := w.keep(c.action)
	p.next = applyChange(w.c.Overrides, c)
	if kind != LimitsUpdateRaise {
		if w.c.Base != nil {
			b := applyChange(*w.c.Base, c)
			p.base = &b
			if sameLimits(b, p.next) {
				p.base, p.expires = nil, 0 // nothing temporary is left
			}
		}
		return p, nil
	}
	switch {
	case until > 0 && durationSeconds > 0:
		return p, invalid("raise %s: give duration_seconds or until, not both", w.scope)
	case until > 0:
		p.expires = until
	case durationSeconds > 0:
		if durationSeconds > int64(w.s.MaxRaise/time.Second) {
			return p, invalid("raise %s: duration_seconds %d is longer than the longest raise, %s", w.scope, durationSeconds, w.s.MaxRaise)
		}
		p.expires = now + durationSeconds*1000
	default:
		return p, invalid("raise %s: duration_seconds or until is required", w.scope)
	}
	if p.expires <= now {
		return p, invalid("raise %s: until %s has passed", w.scope, clock(p.expires))
	}
	if p.expires-now > w.s.MaxRaise.Milliseconds() {
		return p, invalid("raise %s: it would end at %s, later than the longest raise (%s) allows", w.scope, clock(p.expires), w.s.MaxRaise)
	}
	if w.c.Base == nil {
		b := cloneLimits(w.c.Overrides)
		p.base, p.baseApprovedBy = &b, w.c.ApprovedBy
	}
	return p, nil
}

// planApprove applies the pending change as its requester asked, approved
// by req's operator.
func (w *limitsRun) planApprove(now int64, req LimitsRequest, id IdentityCheck) (limitsPlan, error) {
	pend := w.c.Pending
	switch {
	case pend == nil:
		return limitsPlan{}, conflict("approve %s: no change is pending", w.scope)
	case now >= pend.ExpiresAt:
		return limitsPlan{}, conflict("approve %s: %s's change expired at %s", w.scope, pend.RequestedBy, clock(pend.ExpiresAt))
	case req.Operator == pend.RequestedBy:
		return limitsPlan{}, conflict("approve %s: %s asked for the change; four eyes need a different operator", w.scope, req.Operator)
	case !req.Admin:
		return limitsPlan{}, conflict("approve %s: approving a change takes the admin role", w.scope)
	}
	if err := w.vouched("approve", req, id); err != nil {
		return limitsPlan{}, err
	}
	c := limitsChange{limits: pend.Limits, clear: pend.Clear}
	p, err := w.planChange(now, pend.Kind, c, pend.DurationSeconds, pend.Until)
	if err != nil {
		return limitsPlan{}, conflict("approve %s: %s's change can no longer apply: %v", w.scope, pend.RequestedBy, err)
	}
	p.action = domain.LimitsApprove
	p.approvedBy = req.Operator
	return p, nil
}

// apply makes the planned change: state, history, the command and (when
// the overrides moved) the record to publish, and the Web UI. It returns
// the publish sequence an update waits for.
func (w *limitsRun) apply(ctx workflow.Context, req LimitsRequest, p limitsPlan) int64 {
	now := workflow.Now(ctx).UnixMilli()
	id, _ := recordedIdentity(ctx)
	cmd := domain.LimitsCommand{
		CmdID: req.CmdID, CorrID: req.CorrID, TS: now, Scope: w.scope, Action: p.action,
		Operator: req.Operator, Reason: req.Reason, Old: cloneLimits(w.c.Overrides), New: cloneLimits(p.next),
		Identity: id.Identity,
	}
	if cmd.CorrID == "" {
		cmd.CorrID = req.CmdID
	}
	switch p.action {
	case domain.LimitsRequest:
		w.c.Pending = p.pending
		cmd.ExpiresAt = p.pending.ExpiresAt
		cmd.Reason = fmt.Sprintf("%s (%s: needs a second operator's approval by %s)", req.Reason, p.pending.Why, clock(p.pending.ExpiresAt))
		return w.publish(ctx, cmd, false)
	case domain.LimitsReject, domain.LimitsApprove:
		// A second operator settles the pending change: the command stays
		// the requester's, with this operator as the one who decided.
		pend := w.c.Pending
		w.c.Pending = nil
		cmd.Operator, cmd.ApprovedBy, cmd.CorrID = pend.RequestedBy, req.Operator, pend.CmdID
		if p.action == domain.LimitsReject {
			cmd.Reason = fmt.Sprintf("%s's change rejected by %s: %s", pend.RequestedBy, req.Operator, req.Reason)
			return w.publish(ctx, cmd, false)
		}
		cmd.Reason = fmt.Sprintf("%s (approved by %s: %s)", pend.Reason, req.Operator, req.Reason)
	}
	w.c.Overrides, w.c.Base, w.c.ExpiresAt = p.next, p.base, p.expires
	if p.base == nil {
		w.c.ExpiresAt = 0
	}
	w.c.ApprovedBy, w.c.BaseApprovedBy = p.approvedBy, p.baseApprovedBy
	if w.c.Base != nil {
		cmd.ExpiresAt = w.c.ExpiresAt
	}
	w.c.UpdatedBy, w.c.Reason = cmd.Operator, cmd.Reason
	w.c.LastCmdID, w.c.CorrID = cmd.CmdID, cmd.CorrID
	return w.publish(ctx, cmd, true)
}

// onDeadline handles the timers that are due: the approval window ending
// (EXPIRE) and a raise expiring (REVERT).
func (w *limitsRun) onDeadline(ctx workflow.Context) {
	w.refreshSettings(ctx)
	now := workflow.Now(ctx).UnixMilli()
	if p := w.c.Pending; p != nil && now >= p.ExpiresAt {
		w.inputs++
		w.c.Pending = nil
		w.publish(ctx, domain.LimitsCommand{
			CmdID: p.CmdID + "-expired", CorrID: p.CmdID, TS: now, Scope: w.scope, Action: domain.LimitsExpire,
			Operator: p.RequestedBy, Old: cloneLimits(w.c.Overrides), New: cloneLimits(w.c.Overrides), ExpiresAt: p.ExpiresAt,
			Reason: fmt.Sprintf("%s's change (%s) not approved by a second operator within %s: dropped",
				p.RequestedBy, p.Reason, w.s.ApprovalWindow),
		}, false)
	}
	if w.c.Base != nil && now >= w.c.ExpiresAt {
		w.inputs++
		w.revert(ctx, fmt.Sprintf("raise expired at %s", clock(w.c.ExpiresAt)))
	}
}

// revert ends the raise in force, putting back the overrides from before
// it (REVERT); why says what ended it.
func (w *limitsRun) revert(ctx workflow.Context, why string) {
	now := workflow.Now(ctx).UnixMilli()
	cmd := domain.LimitsCommand{
		CmdID: fmt.Sprintf("revert-%s-%d", w.scope, w.c.ExpiresAt), CorrID: w.c.CorrID, TS: now, Scope: w.scope,
		Action: domain.LimitsRevert, Operator: "system", Old: cloneLimits(w.c.Overrides), New: cloneLimits(*w.c.Base),
		Reason: why + ": " + describeChange(w.defaults(), w.c.Overrides, *w.c.Base),
	}
	w.c.Overrides, w.c.Base, w.c.ExpiresAt = *w.c.Base, nil, 0
	w.c.ApprovedBy, w.c.BaseApprovedBy = w.c.BaseApprovedBy, ""
	w.c.UpdatedBy, w.c.Reason, w.c.LastCmdID = cmd.Operator, cmd.Reason, cmd.CmdID
	w.publish(ctx, cmd, true)
}

// publish stamps cmd (and, if the overrides moved, a new record version),
// appends it to the history, queues the publication and updates the Web
// UI. It returns the publish sequence number.
func (w *limitsRun) publish(ctx workflow.Context, cmd domain.LimitsCommand, record bool) int64 {
	now := workflow.Now(ctx)
	pub := activities.LimitsPublication{Command: cmd}
	if record {
		w.c.Version = max(w.c.Version+1, now.UnixMicro())
		w.c.UpdatedTS = now.UnixMilli()
		info := workflow.GetInfo(ctx).WorkflowExecution
		rec := domain.LimitsRecord{
			Scope: w.scope, Limits: cloneLimits(w.c.Overrides), Version: w.c.Version, UpdatedTS: w.c.UpdatedTS,
			UpdatedBy: w.c.UpdatedBy, Reason: w.c.Reason, LastCmdID: cmd.CmdID, CorrID: cmd.CorrID,
			WorkflowID: info.ID, RunID: info.RunID,
		}
		if anyBeyond(w.c.Overrides, w.ceiling()) {
			rec.ApprovedBy = w.c.ApprovedBy
		}
		pub.Record = &rec
	}
	pub.Command.Version = w.c.Version
	w.c.History = append(w.c.History, pub.Command)
	if n := len(w.c.History) - w.s.HistoryLimit; n > 0 {
		w.c.History = slices.Clone(w.c.History[n:])
	}
	w.queue = append(w.queue, pub)
	w.enqueued++
	w.upsertVisibility(ctx)
	w.log.Info("limits change", "corr_id", cmd.CorrID, "action", cmd.Action, "cmd_id", cmd.CmdID,
		"operator", cmd.Operator, "version", w.c.Version, "limits", describeLimits(w.c.Overrides))
	return w.enqueued
}
