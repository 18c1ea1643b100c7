package router

import (
	"strconv"
	"sync"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// Table is the router's view of killswitch.state.v1, laid out for the
// decision: one map per scope type keyed by the bare id, so deciding an order
// never builds a scope string. It implements killstate.Sink.
//
// ApplyState and DeleteState may run concurrently with Decide. Decide updates
// token buckets, so a table serves one deciding goroutine at a time, which
// is how the router uses it.
type Table struct {
	mu     sync.Mutex
	global *entry
	// byType holds ACCOUNT, SYMBOL and STRATEGY entries by id.
	byType [3]map[string]*entry
	n      int
	clock  func() time.Time
	stale  int64
}

// entry is one scope's state with everything a decision reads precomputed.
type entry struct {
	scope   domain.Scope
	status  domain.Status
	version int64
	corrID  string
	// reason is the audit reason of a DROP or THROTTLE this scope decides;
	// passReason that of an ALLOW through this scope's throttle.
	reason     string
	passReason string
	// Token bucket of a THROTTLED scope: rate tokens per second, burst one
	// second of rate (at least one token), refilled lazily at decision time.
	rate   float64
	burst  float64
	tokens float64
	last   int64 // UnixNano of the last refill
}

// NewTable returns an empty table. clock dates the start of a new throttle's
// token bucket; nil means time.Now.
func NewTable(clock func() time.Time) *Table {
	if clock == nil {
		clock = time.Now
	}
	t := &Table{clock: clock}
	for i := range t.byType {
		t.byType[i] = make(map[string]*entry)
	}
	return t
}

func typeIndex(t domain.ScopeType) int {
	switch t {
	case domain.ScopeAccount:
		return 0
	case domain.ScopeSymbol:
		return 1
	case domain.ScopeStrategy:
		return 2
	}
	return -1
}

func (t *Table) slot(s domain.Scope) (m map[string]*entry, id string, global bool, ok bool) {
	if s == domain.Global {
		return nil, "", true, true
	}
	i := typeIndex(s.Type())
	if i < 0 {
		return nil, "", false, false
	}
	return t.byType[i], s.ID(), false, true
}

// ApplyState stores st unless the table holds the same or a newer version of
// its scope. A scope that stays THROTTLED keeps its bucket (capped at the new
// burst); a scope that becomes THROTTLED starts with an empty bucket, so a
// throttle never opens with a burst.
func (t *Table) ApplyState(st domain.State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, id, global, ok := t.slot(st.Scope)
	if !ok {
		return
	}
	var cur *entry
	if global {
		cur = t.global
	} else {
		cur = m[id]
	}
	if cur != nil && cur.version >= st.Version {
		t.stale++
		return
	}
	e := &entry{
		scope:   st.Scope,
		status:  st.Status,
		version: st.Version,
		corrID:  st.CorrID,
	}
	switch st.Status {
	case domain.StatusKilled:
		e.reason = reasonText(st.Scope, "KILLED", st.Reason)
	case domain.StatusThrottled:
		e.rate = st.MaxRatePerSecond
		e.burst = max(e.rate, 1)
		rate := strconv.FormatFloat(e.rate, 'g', -1, 64)
		e.reason = reasonText(st.Scope, "THROTTLED at "+rate+"/s, no token", st.Reason)
		e.passReason = "within the throttle of " + string(st.Scope) + " (" + rate + "/s)"
		if cur != nil && cur.status == domain.StatusThrottled {
			e.tokens = min(cur.tokens, e.burst)
			e.last = cur.last
		} else {
			e.last = t.clock().UnixNano()
		}
	}
	if global {
		t.global = e
	} else {
		m[id] = e
	}
	if cur == nil {
		t.n++
	}
}

func reasonText(s domain.Scope, what, why string) string {
	if why == "" {
		return string(s) + " " + what
	}
	return string(s) + " " + what + ": " + why
}

// DeleteState forgets a scope (a tombstone on the state topic).
func (t *Table) DeleteState(s domain.Scope) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, id, global, ok := t.slot(s)
	if !ok {
		return
	}
	if global {
		if t.global != nil {
			t.global = nil
			t.n--
		}
		return
	}
	if _, had := m[id]; had {
		delete(m, id)
		t.n--
	}
}

// Len is the number of scopes held, whatever their status.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Stale counts state records ignored because their version was not newer
// than the one held.
func (t *Table) Stale() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stale
}

// Lookup returns the status and version held for a scope.
func (t *Table) Lookup(s domain.Scope) (status domain.Status, version int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, id, global, valid := t.slot(s)
	if !valid {
		return "", 0, false
	}
	e := t.global
	if !global {
		e = m[id]
	}
	if e == nil {
		return "", 0, false
	}
	return e.status, e.version, true
}

// Verdict is the outcome of deciding one order against the table.
type Verdict struct {
	Decision domain.Decision
	// Status is the status of the deciding scope for a DROP or THROTTLE,
	// else ACTIVE.
	Status domain.Status
	// Scope is the scope that decided a DROP or THROTTLE, or whose throttle
	// an ALLOW passed; empty otherwise.
	Scope domain.Scope
	// Reason says why, for the audit.
	Reason string
	// CorrID is the corr_id of the kill or throttle behind a DROP or THROTTLE.
	CorrID string
	// Version is the state version of Scope.
	Version int64
	// Matches are the order's scopes the table holds as KILLED or THROTTLED,
	// most general first; NMatches of them are set.
	Matches  [4]domain.Scope
	NMatches int
}

// Audit reasons that do not depend on a scope.
const (
	ReasonNoKill    = "no matching kill"
	ReasonCancel    = "CANCEL is never blocked"
	ReasonDuplicate = "order_id already seen within the dedup window"
)

// Decide returns the verdict for o at time now (UnixNano): a CANCEL is
// ALLOWed; else the most general KILLED scope DROPs it; else each matching
// THROTTLED scope must have a token (all are then taken) or the most general
// one without a token THROTTLEs it; else ALLOW. Decide does not allocate.
func (t *Table) Decide(o *domain.Order, now int64) Verdict {
	v := Verdict{Decision: domain.DecisionAllow, Status: domain.StatusActive, Reason: ReasonNoKill}
	t.mu.Lock()
	var es [4]*entry
	n := 0
	if e := t.global; e != nil && e.status != domain.StatusActive {
		es[n] = e
		n++
	}
	if e := t.byType[0][o.AccountID]; e != nil && e.status != domain.StatusActive {
		es[n] = e
		n++
	}
	if e := t.byType[1][o.Symbol]; e != nil && e.status != domain.StatusActive {
		es[n] = e
		n++
	}
	if o.Strategy != "" {
		if e := t.byType[2][o.Strategy]; e != nil && e.status != domain.StatusActive {
			es[n] = e
			n++
		}
	}
	if n == 0 {
		t.mu.Unlock()
		if o.Type == domain.OrderCancel {
			v.Reason = ReasonCancel
		}
		return v
	}
	for i := 0; i < n; i++ {
		v.Matches[i] = es[i].scope
	}
	v.NMatches = n
	if o.Type == domain.OrderCancel {
		t.mu.Unlock()
		v.Reason = ReasonCancel
		return v
	}
	for i := 0; i < n; i++ {
		if e := es[i]; e.status == domain.StatusKilled {
			v.set(domain.DecisionDrop, e, e.reason)
			t.mu.Unlock()
			return v
		}
	}
	// Every remaining match is THROTTLED: refill all, then take a token
	// from each only if each has one.
	var blocked *entry
	for i := 0; i < n; i++ {
		e := es[i]
		if now > e.last {
			e.tokens = min(e.burst, e.tokens+float64(now-e.last)*e.rate/1e9)
			e.last = now
		}
		if blocked == nil && e.tokens < 1 {
			blocked = e
		}
	}
	if blocked != nil {
		v.set(domain.DecisionThrottle, blocked, blocked.reason)
		t.mu.Unlock()
		return v
	}
	for i := 0; i < n; i++ {
		es[i].tokens--
	}
	e := es[0]
	v.Scope, v.Version, v.Reason = e.scope, e.version, e.passReason
	t.mu.Unlock()
	return v
}

func (v *Verdict) set(d domain.Decision, e *entry, reason string) {
	v.Decision = d
	v.Status = e.status
	v.Scope = e.scope
	v.Reason = reason
	v.CorrID = e.corrID
	v.Version = e.version
}
