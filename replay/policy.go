// The KillSwitch workflow's policy, without Temporal: what a scope's state
// would have been, given the detector's breaches and normals.

package replay

import (
	"slices"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// incident is one scope's KillSwitch as the replay models it: the fields of
// the workflow's run that decide its transitions (workflows/signals.go,
// workflows/transitions.go). A release ends the run; the next breach starts
// a new one that keeps only the version and the offences, as adoptPrior does.
type incident struct {
	scope domain.Scope
	st    domain.State

	started         bool
	probation       bool // THROTTLED on probation after an auto-unkill
	probationOver   bool
	cooldownExpired bool
	normal          bool // the detector reported normal since the last breach
	pinned          bool
	cooldownMS      int64
	lastBreachTS    int64
	offences        []int64
	// seen holds the breach cmd_ids this run applied: the detector resends
	// a breach under the same cmd_id, which the workflow applies once.
	seen []string
}

// policy runs the incidents of every scope that ever breached, and tells
// apply each new state, as the workflow publishes it to
// killswitch.state.v1.
type policy struct {
	s       workflows.Settings
	byScope map[domain.Scope]*incident
	// live are the incidents whose state is not ACTIVE: the only ones with
	// a deadline.
	live    []*incident
	version int64
	apply   func(inc *incident, cmd domain.Action, trigger domain.Trigger, now int64)
	// next caches the earliest deadline of the live incidents (0: none);
	// dirty says it must be computed again.
	next  int64
	dirty bool
}

func newPolicy(s workflows.Settings, apply func(*incident, domain.Action, domain.Trigger, int64)) *policy {
	return &policy{s: s.WithDefaults(), byScope: map[domain.Scope]*incident{}, apply: apply}
}

// state is the scope's current state, for the detector's StatusFunc.
func (p *policy) state(s domain.Scope) (domain.State, bool) {
	inc := p.byScope[s]
	if inc == nil {
		return domain.State{}, false
	}
	return inc.st, true
}

func (p *policy) incident(s domain.Scope) *incident {
	inc := p.byScope[s]
	if inc == nil {
		inc = &incident{scope: s, st: domain.State{Scope: s, Status: domain.StatusActive, AutoUnkillEnabled: true}}
		p.byScope[s] = inc
	}
	return inc
}

// breach applies a detector breach at now (event time, ms): onBreach.
func (p *policy) breach(sig domain.BreachSignal, now int64) {
	inc := p.incident(sig.Scope)
	if slices.Contains(inc.seen, sig.CmdID) {
		return
	}
	inc.seen = append(inc.seen, sig.CmdID)
	action := sig.Action
	if action == "" {
		action = domain.ActionKill
	}
	// A breach always makes the workflow forget the last normal, even one
	// it cannot act on.
	inc.lastBreachTS = max(inc.lastBreachTS, sig.TS)
	inc.normal = false
	if action != domain.ActionKill && !(action == domain.ActionThrottle && sig.MaxRatePerSecond > 0) {
		return
	}
	st := inc.st
	onProbation := false
	switch {
	case st.Status == domain.StatusKilled:
		return
	case st.Status == domain.StatusThrottled && action == domain.ActionThrottle:
		// A throttle rule breached on probation turns the probation into a
		// throttle; a throttle rule breached under a throttle changes nothing.
		if onProbation = inc.probation; !onProbation {
			return
		}
	}
	next := st
	if next.CorrID == "" {
		next.CorrID = sig.CorrID
		if next.CorrID == "" {
			next.CorrID = sig.CmdID
		}
	}
	next.Reason = sig.Reason
	if action == domain.ActionThrottle {
		rate := sig.MaxRatePerSecond
		if onProbation {
			rate = min(rate, st.MaxRatePerSecond)
		}
		next.Status = domain.StatusThrottled
		next.MaxRatePerSecond = rate
		next.CooldownUntil = now + p.s.Cooldown.Milliseconds()
		next.AutoUnkillEnabled = !inc.pinned
		inc.probation, inc.probationOver, inc.cooldownExpired, inc.started = false, false, false, true
		p.transition(inc, next, domain.ActionThrottle, domain.TriggerDetector, now)
		return
	}
	cooldown := p.s.Cooldown.Milliseconds()
	if inc.probation && inc.cooldownMS > 0 {
		cooldown = min(2*inc.cooldownMS, p.s.MaxCooldown.Milliseconds())
	}
	inc.offences = append(p.offencesSince(inc.offences, now), now)
	if len(inc.offences) >= p.s.OffencesToPin {
		inc.pinned = true
	}
	next.Status = domain.StatusKilled
	next.MaxRatePerSecond = 0
	next.CooldownUntil = now + cooldown
	next.AutoUnkillEnabled = !inc.pinned
	inc.cooldownMS = cooldown
	inc.probation, inc.probationOver, inc.cooldownExpired, inc.started = false, false, false, true
	p.transition(inc, next, domain.ActionKill, domain.TriggerDetector, now)
}

// normal applies the detector's normal at now: onNormal. A normal decided
// before the last breach is stale.
func (p *policy) normal(sig domain.NormalSignal, now int64) {
	inc := p.byScope[sig.Scope]
	if inc == nil || sig.TS > 0 && sig.TS <= inc.lastBreachTS {
		return
	}
	inc.normal = true
	p.tryAutoUnkill(inc, now)
}

func (p *policy) offencesSince(offences []int64, now int64) []int64 {
	cut := now - p.s.OffenceWindow.Milliseconds()
	return slices.DeleteFunc(offences, func(t int64) bool { return t <= cut })
}

func (p *policy) normalSinceBreach(inc *incident) bool { return inc.normal || p.s.IgnoreNormal }

// deadline is when the incident's timer fires (0: none): nextDeadline.
func (inc *incident) deadline() int64 {
	st := &inc.st
	switch st.Status {
	case domain.StatusKilled:
		if !inc.cooldownExpired {
			return st.CooldownUntil
		}
	case domain.StatusThrottled:
		if inc.probation {
			if st.AutoUnkillEnabled && !inc.probationOver {
				return st.CooldownUntil
			}
		} else if !inc.cooldownExpired {
			return st.CooldownUntil
		}
	}
	return 0
}

// nextDeadline is the earliest timer of any incident, 0 when none is set.
func (p *policy) nextDeadline() int64 {
	if p.dirty {
		p.next, p.dirty = 0, false
		for _, inc := range p.live {
			if d := inc.deadline(); d > 0 && (p.next == 0 || d < p.next) {
				p.next = d
			}
		}
	}
	return p.next
}

// fire runs every timer due at now: onDeadline.
func (p *policy) fire(now int64) {
	for _, inc := range slices.Clone(p.live) {
		if d := inc.deadline(); d == 0 || d > now {
			continue
		}
		st := &inc.st
		switch st.Status {
		case domain.StatusKilled:
			inc.cooldownExpired = true
			p.tryAutoUnkill(inc, now)
		case domain.StatusThrottled:
			if !inc.probation {
				inc.cooldownExpired = true
				p.tryAutoUnkill(inc, now)
				break
			}
			if !p.normalSinceBreach(inc) {
				// Breached since the normal that began the probation: wait
				// for the next normal.
				inc.probationOver = true
				break
			}
			p.release(inc, now)
		}
	}
	p.dirty = true
}

// tryAutoUnkill ends a kill whose cooldown is over, when auto-unkill is
// allowed and the detector said normal since the last breach: to probation,
// or from a throttle or an overdue probation straight to ACTIVE.
func (p *policy) tryAutoUnkill(inc *incident, now int64) {
	st := inc.st
	if !inc.started || !st.AutoUnkillEnabled || !p.normalSinceBreach(inc) {
		return
	}
	if st.Status == domain.StatusThrottled && inc.probation {
		if inc.probationOver {
			p.release(inc, now)
		}
		return
	}
	if !inc.cooldownExpired {
		return
	}
	switch {
	case st.Status == domain.StatusKilled && p.s.Probation > 0:
		next := st
		next.Status = domain.StatusThrottled
		next.MaxRatePerSecond = p.s.ProbationRate
		next.CooldownUntil = now + p.s.Probation.Milliseconds()
		next.Reason = "auto-unkill after cooldown: probation"
		inc.probation, inc.probationOver = true, false
		p.transition(inc, next, domain.ActionThrottle, domain.TriggerSystem, now)
	case st.Status == domain.StatusKilled || st.Status == domain.StatusThrottled:
		p.release(inc, now)
	}
}

// release makes the scope ACTIVE and ends the run: the next breach starts
// a new one with the same version line and offences.
func (p *policy) release(inc *incident, now int64) {
	next := inc.st
	next.Status = domain.StatusActive
	next.MaxRatePerSecond = 0
	next.CooldownUntil = 0
	next.Reason = "auto-unkill"
	p.transition(inc, next, domain.ActionUnkill, domain.TriggerSystem, now)
	offences := inc.offences
	*inc = incident{scope: inc.scope, st: inc.st, offences: offences}
	inc.st.CorrID = ""
	inc.st.AutoUnkillEnabled = true
}

// transition stamps the new state and publishes it.
func (p *policy) transition(inc *incident, next domain.State, action domain.Action, trigger domain.Trigger, now int64) {
	p.version++
	next.Version = p.version
	next.UpdatedTS = now
	next.Trigger = trigger
	next.UpdatedBy = string(trigger)
	was := inc.st.Status
	inc.st = next
	switch {
	case was == domain.StatusActive && next.Status != domain.StatusActive:
		p.live = append(p.live, inc)
	case was != domain.StatusActive && next.Status == domain.StatusActive:
		p.live = slices.DeleteFunc(p.live, func(x *incident) bool { return x == inc })
	}
	p.dirty = true
	p.apply(inc, action, trigger, now)
}

// settingsSummary says in words what the policy runs with, for the report.
func settingsSummary(s workflows.Settings) string {
	s = s.WithDefaults()
	txt := "cooldown " + s.Cooldown.String() + " (doubled on a breach during probation, at most " + s.MaxCooldown.String() + ")"
	if s.Probation > 0 {
		txt += ", probation " + s.Probation.String() + " at " + trimFloat(s.ProbationRate) + " orders/s"
	} else {
		txt += ", no probation"
	}
	txt += ", pinned at offence " + itoa(int64(s.OffencesToPin)) + " within " + s.OffenceWindow.String()
	if s.IgnoreNormal {
		txt += ", auto-unkill without waiting for normal"
	}
	return txt
}
