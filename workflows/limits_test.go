package workflows_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// TestLimitsSet: a set applies its fields at once (OVERRIDDEN, source
// override), publishes the command then the record, and a clear puts the
// field back on its default with a record of empty limits, never a
// tombstone, at a higher version.
func TestLimitsSet(t *testing.T) {
	h := newLimitsHarness(t, "ACCOUNT:1", limitsSettings(), time.Time{})
	set := h.update(time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Limits: maxOrders(500), CorrID: "corr-1"})
	clr := h.update(2*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Clear: []string{"max_orders"}})
	var hist []workflows.LimitsChange
	h.at(3*time.Second, func() {
		v, err := h.env.QueryWorkflow(workflows.LimitsQueryHistory)
		if err == nil {
			err = v.Get(&hist)
		}
		if err != nil {
			t.Errorf("history: %v", err)
		}
	})
	h.run(nil, time.Minute)

	if set.Err != nil || !set.View.Applied || set.View.State != workflows.LimitStateOverridden || effMaxOrders(set.View) != 500 {
		t.Fatalf("set: %+v (err %v), want OVERRIDDEN max_orders 500, applied", set.View, set.Err)
	}
	if set.View.Source["max_orders"] != workflows.LimitSourceOverride || set.View.Source["max_order_qty"] != workflows.LimitSourceDefault {
		t.Errorf("set: sources %v, want max_orders override and max_order_qty default", set.View.Source)
	}
	if clr.Err != nil || clr.View.State != workflows.LimitStateDefault || effMaxOrders(clr.View) != 100 || clr.View.Source["max_orders"] != workflows.LimitSourceDefault {
		t.Fatalf("clear: %+v (err %v), want DEFAULT max_orders 100 from the default", clr.View, clr.Err)
	}
	pubs := h.checkPubs()
	if got := actions(pubs); !slices.Equal(got, []domain.LimitsAction{domain.LimitsSet, domain.LimitsSet}) {
		t.Fatalf("published %v, want SET, SET", got)
	}
	first, second := pubs[0], pubs[1]
	if first.Record == nil || first.Record.Limits.MaxOrders == nil || *first.Record.Limits.MaxOrders != 500 || first.Command.CorrID != "corr-1" ||
		first.Command.Old.MaxOrders != nil || *first.Command.New.MaxOrders != 500 || first.Command.Operator != "olga" {
		t.Errorf("first publication %+v record %+v, want max_orders none → 500 by olga, corr-1", first.Command, first.Record)
	}
	if second.Record == nil || second.Record.Limits != (domain.LimitValues{}) {
		t.Errorf("after the clear: record %+v, want one of empty limits", second.Record)
	}
	if len(hist) != 2 || hist[0].Action != domain.LimitsSet || *hist[0].New.MaxOrders != 500 || hist[1].New.MaxOrders != nil {
		t.Errorf("history %+v, want the two sets, old → new", hist)
	}
}

// TestLimitsRaiseRevertsAtExpiry: a raise on top of an override is
// TEMPORARY until its timer fires, exactly at its expiry, and puts the
// override back; a set during the raise outlasts it.
func TestLimitsRaiseRevertsAtExpiry(t *testing.T) {
	h := newLimitsHarness(t, "ACCOUNT:2", limitsSettings(), time.Time{})
	start := h.env.Now()
	h.update(time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Limits: maxOrders(200)})
	raise := h.update(2*time.Second, workflows.LimitsUpdateRaise, workflows.LimitsRequest{
		Limits: domain.LimitValues{MaxOrders: i64(500), MaxOrderQty: f64(200_000)}, DurationSeconds: 30})
	set := h.update(10*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Limits: domain.LimitValues{MaxOrderQty: f64(50_000)}})
	during := h.query(20 * time.Second)
	after := h.query(40 * time.Second)
	h.run(nil, time.Minute)

	wantExpiry := start.Add(32 * time.Second).UnixMilli()
	if raise.Err != nil || raise.View.State != workflows.LimitStateTemporary || raise.View.ExpiresAt != wantExpiry ||
		raise.View.Source["max_orders"] != workflows.LimitSourceTemporary || effMaxOrders(raise.View) != 500 {
		t.Fatalf("raise: %+v (err %v), want TEMPORARY max_orders 500 until %d", raise.View, raise.Err, wantExpiry)
	}
	if set.Err != nil || during.Source["max_order_qty"] != workflows.LimitSourceOverride || during.Source["max_orders"] != workflows.LimitSourceTemporary {
		t.Errorf("during the raise: sources %v (set err %v), want max_orders temporary, max_order_qty override", during.Source, set.Err)
	}
	if after.State != workflows.LimitStateOverridden || effMaxOrders(*after) != 200 || after.ExpiresAt != 0 ||
		after.Limits.MaxOrderQty == nil || *after.Limits.MaxOrderQty != 50_000 {
		t.Errorf("after expiry: %+v, want OVERRIDDEN max_orders 200, max_order_qty 50000", *after)
	}
	pubs := h.checkPubs()
	want := []domain.LimitsAction{domain.LimitsSet, domain.LimitsRaise, domain.LimitsSet, domain.LimitsRevert}
	if got := actions(pubs); !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	rv := pubs[3]
	if rv.At != 32*time.Second || rv.Record == nil || *rv.Record.Limits.MaxOrders != 200 || *rv.Record.Limits.MaxOrderQty != 50_000 {
		t.Errorf("revert at %v: %+v, want at 32s back to max_orders 200 keeping max_order_qty 50000", rv.At, rv.Record)
	}
	if pubs[1].Command.ExpiresAt != wantExpiry {
		t.Errorf("RAISE command expires_at %d, want %d", pubs[1].Command.ExpiresAt, wantExpiry)
	}
}

// TestLimitsFourEyes: a change beyond a ceiling waits for a second,
// different admin within the window: approved it applies (the record names
// the approver, so routers do not clamp it), rejected or expired it is
// dropped; the requester cannot approve, nor can an operator without admin,
// and without admin nobody may ask for it at all.
func TestLimitsFourEyes(t *testing.T) {
	beyond := func(who string) workflows.LimitsRequest {
		return workflows.LimitsRequest{Operator: who, Admin: true, Limits: maxOrders(5000)}
	}
	t.Run("approved", func(t *testing.T) {
		h := newLimitsHarness(t, "ACCOUNT:3", limitsSettings(), time.Time{})
		req := h.update(time.Second, workflows.LimitsUpdateSet, beyond("alice"))
		self := h.update(2*time.Second, workflows.LimitsUpdateApprove, workflows.LimitsRequest{Operator: "alice", Admin: true})
		noAdmin := h.update(3*time.Second, workflows.LimitsUpdateApprove, workflows.LimitsRequest{Operator: "carl"})
		ok := h.update(time.Minute, workflows.LimitsUpdateApprove, workflows.LimitsRequest{Operator: "bob", Admin: true})
		h.run(nil, 20*time.Minute)
		if req.Err != nil || req.View.Applied || req.View.State != workflows.LimitStatePendingApproval || req.View.Pending == nil ||
			effMaxOrders(req.View) != 100 {
			t.Fatalf("request: %+v (err %v), want PENDING_APPROVAL, not applied, max_orders still 100", req.View, req.Err)
		}
		if !self.Rejected || !workflows.IsConflict(self.Err) {
			t.Errorf("approval by the requester: %+v, want rejected as a conflict", self)
		}
		if !noAdmin.Rejected || !workflows.IsConflict(noAdmin.Err) {
			t.Errorf("approval without admin: %+v, want rejected as a conflict", noAdmin)
		}
		if ok.Err != nil || !ok.View.Applied || effMaxOrders(ok.View) != 5000 || ok.View.ApprovedBy != "bob" || ok.View.Pending != nil {
			t.Fatalf("approval: %+v (err %v), want max_orders 5000 approved by bob", ok.View, ok.Err)
		}
		pubs := h.checkPubs()
		if got := actions(pubs); !slices.Equal(got, []domain.LimitsAction{domain.LimitsRequest, domain.LimitsApprove}) {
			t.Fatalf("published %v, want REQUEST, APPROVE", got)
		}
		if pubs[0].Record != nil {
			t.Errorf("REQUEST published a record: %+v", pubs[0].Record)
		}
		a := pubs[1]
		if a.Record == nil || a.Record.ApprovedBy != "bob" || *a.Record.Limits.MaxOrders != 5000 ||
			a.Command.Operator != "alice" || a.Command.ApprovedBy != "bob" {
			t.Errorf("APPROVE: command %+v record %+v, want alice's change approved by bob", a.Command, a.Record)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		h := newLimitsHarness(t, "ACCOUNT:4", limitsSettings(), time.Time{})
		h.update(time.Second, workflows.LimitsUpdateSet, beyond("alice"))
		rej := h.update(time.Minute, workflows.LimitsUpdateReject, workflows.LimitsRequest{Operator: "bob"})
		late := h.update(2*time.Minute, workflows.LimitsUpdateApprove, workflows.LimitsRequest{Operator: "bob", Admin: true})
		h.run(nil, 20*time.Minute)
		if rej.Err != nil || rej.View.Pending != nil || rej.View.State != workflows.LimitStateDefault {
			t.Fatalf("reject: %+v (err %v), want DEFAULT with nothing pending", rej.View, rej.Err)
		}
		if !late.Rejected || !workflows.IsConflict(late.Err) {
			t.Errorf("approval after the reject: %+v, want a conflict", late)
		}
		pubs := h.checkPubs()
		if got := actions(pubs); !slices.Equal(got, []domain.LimitsAction{domain.LimitsRequest, domain.LimitsReject}) || pubs[1].Record != nil {
			t.Fatalf("published %v (reject record %+v), want REQUEST, REJECT and no record", got, pubs[1].Record)
		}
	})
	t.Run("expired", func(t *testing.T) {
		h := newLimitsHarness(t, "ACCOUNT:5", limitsSettings(), time.Time{})
		h.update(time.Second, workflows.LimitsUpdateSet, beyond("alice"))
		pending := h.query(5 * time.Minute)
		late := h.update(11*time.Minute, workflows.LimitsUpdateApprove, workflows.LimitsRequest{Operator: "bob", Admin: true})
		after := h.query(12 * time.Minute)
		h.run(nil, 20*time.Minute)
		if pending.State != workflows.LimitStatePendingApproval {
			t.Errorf("within the window: %s, want PENDING_APPROVAL", pending.State)
		}
		if !late.Rejected || !workflows.IsConflict(late.Err) {
			t.Errorf("approval after the window: %+v, want a conflict", late)
		}
		if after.State != workflows.LimitStateDefault || after.Pending != nil || effMaxOrders(*after) != 100 {
			t.Errorf("after the window: %+v, want DEFAULT", *after)
		}
		pubs := h.checkPubs()
		if got := actions(pubs); !slices.Equal(got, []domain.LimitsAction{domain.LimitsRequest, domain.LimitsExpire}) {
			t.Fatalf("published %v, want REQUEST, EXPIRE", got)
		}
		if pubs[1].At != time.Second+10*time.Minute {
			t.Errorf("EXPIRE at %v, want at the window's end, 10m1s", pubs[1].At)
		}
	})
	t.Run("operator without admin", func(t *testing.T) {
		h := newLimitsHarness(t, "ACCOUNT:6", limitsSettings(), time.Time{})
		req := beyond("carl")
		req.Admin = false
		res := h.update(time.Second, workflows.LimitsUpdateRaise, workflows.LimitsRequest{Operator: "carl", Limits: maxOrders(5000), DurationSeconds: 60})
		set := h.update(2*time.Second, workflows.LimitsUpdateSet, req)
		h.run(nil, time.Minute)
		for name, r := range map[string]*limitsResult{"raise": res, "set": set} {
			if !r.Rejected || !workflows.IsConflict(r.Err) {
				t.Errorf("%s beyond the ceiling without admin: %+v, want rejected as a conflict", name, r)
			}
		}
		if pubs := h.checkPubs(); len(pubs) != 0 {
			t.Errorf("published %v, want nothing", actions(pubs))
		}
	})
	t.Run("second request while one is pending", func(t *testing.T) {
		h := newLimitsHarness(t, "ACCOUNT:7", limitsSettings(), time.Time{})
		h.update(time.Second, workflows.LimitsUpdateSet, beyond("alice"))
		again := h.update(2*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Operator: "bob", Admin: true, Limits: maxOrders(3000)})
		within := h.update(3*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Operator: "bob", Limits: maxOrders(300)})
		h.run(nil, time.Minute)
		if !again.Rejected || !workflows.IsConflict(again.Err) {
			t.Errorf("a second change needing approval: %+v, want a conflict", again)
		}
		if within.Err != nil || effMaxOrders(within.View) != 300 || within.View.Pending == nil {
			t.Errorf("a change within the ceilings while one is pending: %+v (err %v), want applied, the other still pending", within.View, within.Err)
		}
	})
}

// TestLimitsCeilingsPerScopeType: the same change is within one scope
// type's ceiling and beyond another's; GLOBAL waits for approval on any
// loosening, and tightening never waits.
func TestLimitsCeilingsPerScopeType(t *testing.T) {
	for _, tc := range []struct {
		scope   domain.Scope
		limits  domain.LimitValues
		clear   []string
		pending bool
	}{
		{"ACCOUNT:8", maxOrders(builtinCeiling(domain.ScopeAccount)), nil, false},
		{"ACCOUNT:8", maxOrders(builtinCeiling(domain.ScopeAccount) + 1), nil, true},
		{"ACCOUNT:8", domain.LimitValues{CreditLimit: f64(300_000_000)}, nil, true},
		{"ACCOUNT:8", domain.LimitValues{CollarPct: f64(20)}, nil, false}, // a collar where there was none tightens
		{"SYMBOL:AAPL", maxOrders(5000), nil, false},
		{"SYMBOL:AAPL", maxOrders(20_000), nil, true},
		{"SYMBOL:AAPL", domain.LimitValues{CollarPct: f64(60)}, nil, true},
		{"SYMBOL:AAPL", domain.LimitValues{WindowSeconds: i64(10)}, nil, false}, // shorter window: looser, but no ceiling
		{"STRATEGY:VWAP", maxOrders(5000), nil, false},
		{"STRATEGY:VWAP", maxOrders(30_000), nil, true},
		{"GLOBAL", maxOrders(100), nil, false},
		{"GLOBAL", maxOrders(300_000), nil, true},
		{"GLOBAL", domain.LimitValues{WindowSeconds: i64(30)}, nil, true},
		{"GLOBAL", domain.LimitValues{WindowSeconds: i64(120)}, nil, false},
	} {
		t.Run(string(tc.scope)+" "+describe(tc.limits), func(t *testing.T) {
			h := newLimitsHarness(t, tc.scope, limitsSettings(), time.Time{})
			res := h.update(time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Admin: true, Limits: tc.limits, Clear: tc.clear})
			h.run(nil, time.Minute)
			if res.Err != nil {
				t.Fatalf("set: %v", res.Err)
			}
			if got := res.View.Pending != nil; got != tc.pending || res.View.Applied == tc.pending {
				t.Errorf("pending %v applied %v (%+v), want pending %v", got, res.View.Applied, res.View.Pending, tc.pending)
			}
		})
	}
}

func describe(v domain.LimitValues) string {
	switch {
	case v.MaxOrders != nil:
		return "max_orders"
	case v.CreditLimit != nil:
		return "credit_limit"
	case v.CollarPct != nil:
		return "collar_pct"
	case v.WindowSeconds != nil:
		return "window_seconds"
	}
	return "other"
}

// TestLimitsSameCmdIDTwice: an update repeated with its cmd_id returns
// what the first returned and changes nothing more.
func TestLimitsSameCmdIDTwice(t *testing.T) {
	h := newLimitsHarness(t, "ACCOUNT:9", limitsSettings(), time.Time{})
	req := workflows.LimitsRequest{CmdID: "cmd-once", Limits: maxOrders(300)}
	first := h.update(time.Second, workflows.LimitsUpdateSet, req)
	h.update(2*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Limits: maxOrders(400)})
	again := h.update(3*time.Second, workflows.LimitsUpdateSet, req)
	now := h.query(4 * time.Second)
	h.run(nil, time.Minute)
	if first.Err != nil || again.Err != nil {
		t.Fatalf("errors %v, %v", first.Err, again.Err)
	}
	if effMaxOrders(again.View) != 300 || again.View.Version != first.View.Version {
		t.Errorf("repeat returned %+v, want the first result (max_orders 300, version %d)", again.View, first.View.Version)
	}
	if effMaxOrders(*now) != 400 {
		t.Errorf("after the repeat max_orders %d, want 400: the repeat must not apply again", effMaxOrders(*now))
	}
	if pubs := h.checkPubs(); len(pubs) != 2 {
		t.Errorf("published %v, want two SETs", actions(pubs))
	}
}

// TestLimitsRestrict: restrict and unrestrict are for SYMBOL scopes only.
func TestLimitsRestrict(t *testing.T) {
	h := newLimitsHarness(t, "SYMBOL:GME", limitsSettings(), time.Time{})
	r := h.update(time.Second, workflows.LimitsUpdateRestrict, workflows.LimitsRequest{})
	u := h.update(2*time.Second, workflows.LimitsUpdateUnrestrict, workflows.LimitsRequest{})
	h.run(nil, time.Minute)
	if r.Err != nil || r.View.Limits.Restricted == nil || !*r.View.Limits.Restricted {
		t.Errorf("restrict: %+v (err %v)", r.View, r.Err)
	}
	if u.Err != nil || (u.View.Limits.Restricted != nil && *u.View.Limits.Restricted) || u.View.State != workflows.LimitStateDefault {
		t.Errorf("unrestrict: %+v (err %v), want back on the default", u.View, u.Err)
	}
	if got := actions(h.checkPubs()); !slices.Equal(got, []domain.LimitsAction{domain.LimitsRestrict, domain.LimitsUnrestrict}) {
		t.Errorf("published %v", got)
	}

	a := newLimitsHarness(t, "ACCOUNT:10", limitsSettings(), time.Time{})
	bad := a.update(time.Second, workflows.LimitsUpdateRestrict, workflows.LimitsRequest{})
	noEnd := a.update(2*time.Second, workflows.LimitsUpdateRaise, workflows.LimitsRequest{Limits: maxOrders(200)})
	unknown := a.update(3*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Clear: []string{"max_everything"}})
	a.run(nil, time.Minute)
	for name, r := range map[string]*limitsResult{"restrict an account": bad, "raise without an end": noEnd, "clear an unknown field": unknown} {
		if !r.Rejected || !workflows.IsInvalid(r.Err) {
			t.Errorf("%s: %+v, want rejected as invalid", name, r)
		}
	}
}

// TestLimitsContinueAsNewWithPendingRaise: a run that continues as new with
// a raise in force and a change pending hands both to the next run, whose
// timers fire at the same absolute times: the raise reverts on time and the
// pending change expires on time.
func TestLimitsContinueAsNewWithPendingRaise(t *testing.T) {
	s := limitsSettings()
	s.MaxInputsPerRun = 2
	h := newLimitsHarness(t, "ACCOUNT:11", s, time.Time{})
	start := h.env.Now()
	h.update(time.Second, workflows.LimitsUpdateRaise, workflows.LimitsRequest{Limits: maxOrders(500), DurationSeconds: 120})
	h.update(2*time.Second, workflows.LimitsUpdateSet, workflows.LimitsRequest{Operator: "alice", Admin: true, Limits: maxOrders(5000)})
	h.env.ExecuteWorkflow(workflows.LimitsWorkflowName, workflows.LimitsInput{Scope: h.scope})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first run ended with %v, want continue-as-new", err)
	}
	var in workflows.LimitsInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.Carry == nil || in.Carry.Base == nil || in.Carry.Pending == nil || in.Carry.ExpiresAt != start.Add(121*time.Second).UnixMilli() {
		t.Fatalf("carry %+v, want the raise (until +121s) and the pending change", in.Carry)
	}
	ended := h.env.Now()

	next := newLimitsHarness(t, "ACCOUNT:11", limitsSettings(), ended)
	mid := next.query(time.Second)
	next.run(in.Carry, 15*time.Minute)
	if mid.State != workflows.LimitStatePendingApproval || effMaxOrders(*mid) != 500 || mid.Source["max_orders"] != workflows.LimitSourceTemporary {
		t.Errorf("next run: %+v, want the raise in force and the change pending", *mid)
	}
	pubs := next.checkPubs()
	if got := actions(pubs); !slices.Equal(got, []domain.LimitsAction{domain.LimitsRevert, domain.LimitsExpire}) {
		t.Fatalf("next run published %v, want REVERT then EXPIRE", got)
	}
	if at := ended.Add(pubs[0].At); !at.Equal(start.Add(121 * time.Second)) {
		t.Errorf("reverted at %v, want %v", at, start.Add(121*time.Second))
	}
	if at := ended.Add(pubs[1].At); !at.Equal(start.Add(2*time.Second + 10*time.Minute)) {
		t.Errorf("expired at %v, want %v", at, start.Add(2*time.Second+10*time.Minute))
	}
	if pubs[0].Record == nil || pubs[0].Record.Limits.MaxOrders != nil || pubs[0].Record.Version <= in.Carry.Version {
		t.Errorf("revert record %+v, want empty limits above version %d", pubs[0].Record, in.Carry.Version)
	}
}

// TestLimitsCancelRevertsRaise: a raise never outlives its workflow.
func TestLimitsCancelRevertsRaise(t *testing.T) {
	h := newLimitsHarness(t, "ACCOUNT:12", limitsSettings(), time.Time{})
	h.update(time.Second, workflows.LimitsUpdateRaise, workflows.LimitsRequest{Limits: maxOrders(500), DurationSeconds: 3600})
	h.run(nil, time.Minute)
	pubs := h.checkPubs()
	if got := actions(pubs); !slices.Equal(got, []domain.LimitsAction{domain.LimitsRaise, domain.LimitsRevert}) || pubs[1].Record.Limits.MaxOrders != nil {
		t.Fatalf("published %v, want RAISE then REVERT to the defaults at the cancellation", got)
	}
}
