package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// What the limits query, every update and the Web UI show of a scope's
// Limits workflow: the effective limits with their sources, the search
// attributes LimitScope and LimitState, and the memo and current details
// in words.

// limitState is the LimitState of the run's state.
func (w *limitsRun) limitState() string {
	switch {
	case w.c.Pending != nil:
		return LimitStatePendingApproval
	case w.c.Base != nil:
		return LimitStateTemporary
	case !emptyLimits(w.c.Overrides):
		return LimitStateOverridden
	}
	return LimitStateDefault
}

// view is the LimitsView of the run's state.
func (w *limitsRun) view(applied bool) LimitsView {
	def := w.defaults()
	v := LimitsView{
		Scope: w.scope, Limits: overlay(def, w.c.Overrides), Overrides: cloneLimits(w.c.Overrides),
		Source: map[string]string{}, State: w.limitState(), Version: w.c.Version, UpdatedTS: w.c.UpdatedTS,
		UpdatedBy: w.c.UpdatedBy, Reason: w.c.Reason, Ceilings: cloneLimits(w.ceiling()), Applied: applied,
	}
	for _, f := range limitFields {
		if _, ok := f.get(&v.Limits); !ok {
			continue
		}
		_, own := f.get(&w.c.Overrides)
		switch {
		case own && w.c.Base != nil && !sameField(f, &w.c.Overrides, w.c.Base):
			v.Source[f.name] = LimitSourceTemporary
		case own:
			v.Source[f.name] = LimitSourceOverride
		default:
			v.Source[f.name] = LimitSourceDefault
		}
	}
	if w.c.Base != nil {
		v.ExpiresAt = w.c.ExpiresAt
	}
	if anyBeyond(w.c.Overrides, w.ceiling()) {
		v.ApprovedBy = w.c.ApprovedBy
	}
	if p := w.c.Pending; p != nil {
		cp := *p
		cp.Limits, cp.Clear = cloneLimits(p.Limits), append([]string(nil), p.Clear...)
		v.Pending = &cp
	}
	return v
}

// upsertVisibility makes the Web UI agree with the workflow: the search
// attributes (only when they change), the memo and the current details.
func (w *limitsRun) upsertVisibility(ctx workflow.Context) {
	sa := [2]string{string(w.scope), w.limitState()}
	if sa != w.sa {
		if err := workflow.UpsertTypedSearchAttributes(ctx, saLimitScope.ValueSet(sa[0]), saLimitState.ValueSet(sa[1])); err != nil {
			w.log.Error("upsert search attributes", "error", err)
		} else {
			w.sa = sa
		}
	}
	details := w.describe()
	if err := workflow.UpsertMemo(ctx, map[string]any{"summary": details}); err != nil {
		w.log.Error("upsert memo", "error", err)
	}
	workflow.SetCurrentDetails(ctx, details)
}

// describe says the scope's limits in words: "TEMPORARY: max_orders=500,
// set by olga at 13:05:00 UTC (desk rebalancing); the raise expires at
// 13:35:00 UTC, then max_orders 500 → default (100)".
func (w *limitsRun) describe() string {
	var b strings.Builder
	state := w.limitState()
	if w.c.Pending != nil {
		switch {
		case w.c.Base != nil:
			state = LimitStateTemporary
		case !emptyLimits(w.c.Overrides):
			state = LimitStateOverridden
		default:
			state = LimitStateDefault
		}
	}
	if state == LimitStateDefault {
		fmt.Fprintf(&b, "DEFAULT: the %s defaults (%s)", w.scope.Type(), describeLimits(w.defaults()))
	} else {
		fmt.Fprintf(&b, "%s: %s", state, describeLimits(w.c.Overrides))
	}
	if w.c.UpdatedBy != "" {
		fmt.Fprintf(&b, ", by %s at %s (%s)", w.c.UpdatedBy, clock(w.c.UpdatedTS), w.c.Reason)
	}
	if w.c.Base != nil {
		fmt.Fprintf(&b, "; the raise expires at %s, then %s", clock(w.c.ExpiresAt),
			describeChange(w.defaults(), w.c.Overrides, *w.c.Base))
	}
	if by := w.view(false).ApprovedBy; by != "" {
		fmt.Fprintf(&b, "; beyond the ceilings with %s's approval", by)
	}
	if p := w.c.Pending; p != nil {
		next := w.c.Overrides
		if c, err := w.change(p.Kind, LimitsRequest{Limits: p.Limits, Clear: p.Clear}); err == nil {
			next = applyChange(w.c.Overrides, c)
		}
		fmt.Fprintf(&b, "; PENDING_APPROVAL: %s asks to %s %s (%s): %s needs a second operator's approval by %s",
			p.RequestedBy, p.Kind, describeChange(w.defaults(), w.c.Overrides, next), p.Reason, p.Why, clock(p.ExpiresAt))
	}
	return b.String()
}
