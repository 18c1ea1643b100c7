// Incidents: deciding when a breach opens one and is signalled, when a
// scope is handled or released, adopting kills the engine did not start,
// closing an incident with a normal, and the periodic tick.

package detector

import (
	"github.com/riskgate/riskgate/domain"
)

// incident is the detector's view of one scope's incident.
type incident struct {
	// open, read for every order and by the eviction sweep, comes first:
	// it shares the key's first cache line.
	open       bool
	under      bool  // every rule under its threshold since underSince
	replayed   bool  // opened while rebuilding; resolved at the first live evaluation
	underSince int64 // event ms
	breachTS   int64
	action     domain.Action
	corrID     string
	// cmd and signalledAt are the cmd_id and event time of the last breach
	// signal, for resending it while nothing shows the workflow got it;
	// resends counts the resends of cmd, which space out (resendGap).
	cmd         string
	signalledAt int64
	resends     int
}

func (e *Engine) state(s domain.Scope) (domain.State, bool) {
	if e.status == nil {
		return domain.State{}, false
	}
	return e.status(s)
}

// decide applies the once-per-incident rule to one evaluation.
func (e *Engine) decide(k *key, dc *dimConfig, mask uint64, live bool, ob *Observation) {
	inc := &k.inc
	if mask == 0 {
		if !inc.open {
			e.maybeRisk(k, dc, 0, live, false)
			return
		}
		if !inc.under {
			inc.under, inc.underSince = true, k.clock
		}
		if k.clock-inc.underSince >= e.normalAfter {
			e.closeIncident(k, live)
		}
		e.maybeRisk(k, dc, 0, live, false)
		return
	}
	inc.under = false
	p := primary(dc, mask)
	signal, cmd := false, inc.corrID
	switch {
	case !inc.open:
		*inc = incident{open: true, action: p.Action, breachTS: k.clock, corrID: corrID(k.scope, ob)}
		cmd = inc.corrID
		e.setOpen(k)
		if !live {
			inc.replayed = true
			break
		}
		// Signalled whatever the scope's state: a KILLED scope's workflow
		// may still hold the normal of an earlier incident and would
		// auto-unkill on it; the breach makes it forget the normal, and
		// otherwise changes nothing for a scope already killed.
		signal = true
	case live && inc.replayed:
		inc.replayed = false
		// The rebuild cannot tell whether this breach was signalled, nor
		// whether a normal went out since: send it again (the workflow
		// applies one cmd_id once), unless an operator released the scope
		// after it.
		signal = !e.released(k.scope, inc)
	case live && inc.cmd == "":
		// An adopted kill (an operator's, or one from before a restart or
		// an eviction) is breached: its workflow may hold a normal. The
		// breach is named by its own crossing order, not by the adopted
		// corr_id, which may be an earlier breach's cmd_id.
		signal = !e.released(k.scope, inc)
		inc.action, cmd = p.Action, corrID(k.scope, ob)
		if inc.corrID == "" {
			inc.corrID = cmd
		}
	case p.Action == domain.ActionKill && inc.action == domain.ActionThrottle:
		inc.action = domain.ActionKill
		signal, cmd = live, inc.cmd+":"+string(domain.ActionKill)
	case live && k.clock-inc.signalledAt >= resignalAfter && !e.handled(k.scope, inc) &&
		k.clock-inc.signalledAt >= e.resendGap(k.scope, inc):
		// Still in breach, and nothing on the state topic shows the workflow
		// got the signal (or the workflow released the scope by itself while
		// it was in breach): send it again rather than let the runaway go
		// on. The cmd_id is the same, so a workflow that did get it applies
		// it once.
		e.stats.Resent++
		e.sink.Breach(e.breachSignal(k, p, ob, inc.cmd))
		inc.signalledAt = k.clock
		inc.resends++
	}
	if signal {
		e.stats.Breaches++
		if cmd != inc.cmd {
			inc.resends = 0
		}
		inc.cmd, inc.signalledAt = cmd, k.clock
		e.sink.Breach(e.breachSignal(k, p, ob, cmd))
	}
	e.maybeRisk(k, dc, mask, live, signal)
}

// resignalAfter is how long (event time) an open incident waits for the
// state topic to show its breach was handled before the breach is resent.
const resignalAfter = 10_000

// Resends of a breach Temporal has accepted: it is in the run's history
// and will be applied, so the state topic showing nothing yet means the
// workflow is slow, and a resend would only give it more to do (in a mass
// kill on a loaded server, one more workflow task per scope every 10 s).
// It is still resent, in case the run was ended by hand without acting,
// after resendDelivered and then at doubling gaps up to resendMax: never
// abandoned while the scope breaches.
const (
	resendDelivered int64 = 60_000
	resendMax       int64 = 300_000
)

// resendGap is how long (event time) after its last signal an unhandled
// breach waits before it is sent again. A scope the workflow released by
// itself while in breach needs the breach again now; an undelivered one
// costs nothing to resend (the dispatcher holds one per scope); a
// delivered one waits (resendDelivered).
func (e *Engine) resendGap(s domain.Scope, inc *incident) int64 {
	if e.delivered == nil || !e.delivered.Delivered(s, inc.cmd) || e.releasedBySystem(s, inc) {
		return resignalAfter
	}
	return min(resendDelivered<<min(inc.resends, 8), resendMax)
}

// releasedBySystem reports whether the state shows the workflow made the
// scope ACTIVE by itself (auto-unkill, end of probation) after the
// incident began.
func (e *Engine) releasedBySystem(s domain.Scope, inc *incident) bool {
	st, ok := e.state(s)
	return ok && st.Status == domain.StatusActive && st.Trigger == domain.TriggerSystem && st.UpdatedTS >= inc.breachTS-1000
}

// handled reports whether the state topic shows the scope's workflow saw the
// incident: the scope is killed or throttled, or an operator released it
// after the breach.
func (e *Engine) handled(s domain.Scope, inc *incident) bool {
	st, ok := e.state(s)
	return ok && (st.Status != domain.StatusActive || released(st, inc))
}

// released reports whether the scope's state shows it made ACTIVE after
// the incident began by anyone but the workflow itself: an operator's
// release, which a resend must not undo. The workflow ending a kill on its
// own (auto-unkill, end of probation) while the scope is still in breach is
// no such decision, and the breach goes to it again.
func (e *Engine) released(s domain.Scope, inc *incident) bool {
	st, ok := e.state(s)
	return ok && st.Status == domain.StatusActive && released(st, inc)
}

func released(st domain.State, inc *incident) bool {
	return st.UpdatedTS >= inc.breachTS-1000 && st.Trigger != domain.TriggerSystem
}

// corrID is the incident's id, derived from the crossing order so that a
// rebuilt detector names a re-sent incident the same (the workflow then
// deduplicates by cmd_id).
func corrID(s domain.Scope, ob *Observation) string {
	if ob == nil || ob.OrderID == "" {
		return domain.NewID()
	}
	return "det:" + string(s) + ":" + ob.OrderID
}

func (e *Engine) breachSignal(k *key, r *compiledRule, ob *Observation, cmdID string) domain.BreachSignal {
	v, _ := e.value(k, r)
	dc := &e.dims[k.dim]
	sig := domain.BreachSignal{
		CmdID:     cmdID,
		TS:        k.clock,
		Scope:     k.scope,
		Rule:      r.Name,
		Metric:    string(r.Metric),
		Value:     v,
		Threshold: r.Threshold,
		Window:    windowName(dc.windows[r.win]),
		Action:    r.Action,
		CorrID:    k.inc.corrID,
	}
	if r.Action == domain.ActionThrottle {
		sig.MaxRatePerSecond = r.MaxRatePerSecond
	}
	sig.Reason = r.Name + ": " + string(r.Metric) + " " + formatFloat(v) + " > " + formatFloat(r.Threshold) + " over " + sig.Window
	if ob != nil && ob.OrderID != "" {
		sig.Reason += " at order " + ob.OrderID
	}
	return sig
}

func (e *Engine) closeIncident(k *key, live bool) {
	k.inc = incident{}
	e.setClosed(k)
	if !live {
		return
	}
	st, ok := e.state(k.scope)
	if ok && st.Status != domain.StatusActive {
		k.adopted = st.Version
		e.stats.Normals++
		e.sink.Normal(domain.NormalSignal{
			CmdID:  "det-normal:" + string(k.scope) + ":" + itoa(st.Version),
			TS:     k.clock,
			Scope:  k.scope,
			Reason: "under every threshold for " + e.rules.NormalAfter.String(),
		})
	}
}

func (e *Engine) setOpen(k *key) {
	if k.openSlot < 0 {
		k.openSlot = len(e.open)
		e.open = append(e.open, k)
	}
}

func (e *Engine) setClosed(k *key) {
	if k.openSlot < 0 {
		return
	}
	last := e.open[len(e.open)-1]
	e.open[k.openSlot] = last
	last.openSlot = k.openSlot
	e.open = e.open[:len(e.open)-1]
	k.openSlot = -1
}

// Tick moves time on without orders: keys in an incident are re-evaluated
// at now (so a scope whose orders stopped is still found normal), and a
// 1/64 share of the keys is scanned for eviction. live(k) says whether a key's partition is past
// its rebuild; nil means all are.
func (e *Engine) Tick(now int64, live func(t domain.ScopeType, part int32) bool) {
	for i := len(e.open) - 1; i >= 0; i-- {
		if i >= len(e.open) {
			continue
		}
		k := e.open[i]
		if live != nil && !live(dimTypes[k.dim], k.part) {
			continue
		}
		dc := &e.dims[k.dim]
		e.advance(k, dc, now)
		mask := e.evaluate(k, dc)
		if mask != 0 {
			k.inc.under = false
			continue
		}
		if !k.inc.under {
			k.inc.under, k.inc.underSince = true, k.clock
		}
		if k.clock-k.inc.underSince >= e.normalAfter {
			e.closeIncident(k, true)
		}
	}
	e.evict(now)
	if e.symTicks++; e.symTicks >= symCheckTicks {
		e.symTicks = 0
		e.compactSymbols()
	}
}

// Adopt makes the engine watch a scope that is KILLED or THROTTLED without a
// detector incident (an operator's kill, or one from before a restart), so
// that it reports the scope normal once it has stayed under every threshold
// for NormalAfter. It is a no-op for a state version already reported.
func (e *Engine) Adopt(st domain.State, part int32, now int64) {
	if st.Status == domain.StatusActive {
		return
	}
	d, ok := dimOf(st.Scope.Type())
	if !ok || len(e.dims[d].rules) == 0 {
		return
	}
	k := e.lookup(d, st.Scope.ID(), part, false)
	if k != nil && (k.inc.open || k.adopted >= st.Version) {
		return
	}
	if k == nil {
		if k = e.lookup(d, st.Scope.ID(), part, true); k == nil {
			return
		}
		e.advance(k, &e.dims[d], now)
		k.lastOrder = now
	}
	k.adopted = st.Version
	k.inc = incident{open: true, action: domain.ActionKill, corrID: st.CorrID, breachTS: now}
	e.setOpen(k)
}
