package router

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/idhash"
	"github.com/riskgate/riskgate/ingest/limits"
)

// Table is the router's view of killswitch.state.v1, laid out for the
// decision: one map per scope type keyed by the bare id, so deciding an order
// never builds a scope string. It implements killstate.Sink and
// killstate.RecordSink.
//
// ApplyState and DeleteState may run concurrently with Decide. Decide updates
// token buckets, so a table serves one deciding goroutine at a time, which
// is how the router uses it.
//
// Throttles across a group of routers: the instances of one consumer group
// share orders.v1 by partition, and each keeps its own token buckets, so a
// table scales the buckets of a throttle by its instance's share of the
// partitions (SetPartitionShare: owned / total). What the group then
// enforces for a throttle of R orders/s:
//
//   - ACCOUNT:a is exact. orders.v1 is keyed by account, so every order of a
//     goes to the one instance owning its partition, which keeps the full
//     rate R and burst R: the group admits what one router would.
//   - GLOBAL, SYMBOL:s and STRATEGY:t are split. An instance owning k of P
//     partitions admits at rate R·k/P with a burst of max(R·k/P, 1) tokens.
//     Once every partition is owned by exactly one instance, the group never
//     admits more than R/s sustained (its bursts add up to at most R plus one
//     token per instance). It admits close to R when the scope's orders are
//     spread over the partitions in proportion to the instances' shares, and
//     less when they are not: an instance whose partitions carry most of the
//     scope's flow still admits only its share of R, and the others' tokens
//     go unused. With one instance owning every partition, it is exact.
//
// While a rebalance moves partitions, an instance's share follows its own
// assign and revoke callbacks; the group's total share may briefly differ
// from 1 (under cooperative rebalancing it is below 1, never above).
type Table struct {
	mu     sync.Mutex
	global *entry
	// byType holds ACCOUNT, SYMBOL and STRATEGY entries by id; hot indexes
	// the KILLED and THROTTLED ones among them, the only ones a decision
	// looks up, so the index it probes stays small and cache-resident.
	byType [3]map[string]entry
	hot    [3]hotIndex
	n      int
	clock  func() time.Time
	stale  int64
	// bad holds the scopes failed closed (FailClosed) until a newer
	// decodable record or a tombstone arrives, by scope.
	bad map[domain.Scope]string
	// share scales the buckets of throttles whose flow spreads over
	// partitions (GLOBAL, SYMBOL, STRATEGY); 1 until SetPartitionShare.
	share float64
}

// failedClosed is a scope held KILLED because its latest state record could
// not be decoded.
type failedClosed struct {
	scope domain.Scope
	why   string
}

// entry is one scope's state. It is small (ACTIVE scopes are most of a
// large table); what only KILLED and THROTTLED scopes need is in hot.
type entry struct {
	scope   domain.Scope
	version int64
	status  domain.Status // one of the domain constants, never a decoded copy
	hot     *hotState
}

// hotEntry is the allocation behind a KILLED or THROTTLED scope's entry in
// the hot index.
type hotEntry struct {
	check uint64 // the id's check hash (see hotIndex)
	entry
	hotState
}

// hotState is what a decision reads from a KILLED or THROTTLED scope.
type hotState struct {
	corrID string
	// reason is the audit reason of a DROP or THROTTLE this scope decides;
	// passReason that of an ALLOW through this scope's throttle;
	// cancelReason that of the REJECT of a CANCEL that may not pass.
	reason       string
	passReason   string
	cancelReason string
	// Token bucket of a THROTTLED scope: rate tokens per second, burst one
	// second of rate (at least one token), refilled lazily at decision time.
	// With split, the scope's flow spreads over partitions, and rate and
	// burst are scaled by the table's share at each refill.
	rate   float64
	burst  float64
	tokens float64
	last   int64 // UnixNano of the last refill
	split  bool
}

// NewTable returns an empty table. clock dates the start of a new throttle's
// token bucket; nil means time.Now.
func NewTable(clock func() time.Time) *Table {
	if clock == nil {
		clock = time.Now
	}
	t := &Table{clock: clock, share: 1, bad: make(map[domain.Scope]string)}
	for i := range t.byType {
		t.byType[i] = make(map[string]entry)
		t.hot[i] = newHotIndex(i) // typeIndex: idhash.Account, and so on
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

func (t *Table) slot(s domain.Scope) (typ int, id string, global bool, ok bool) {
	if s == domain.Global {
		return -1, "", true, true
	}
	i := typeIndex(s.Type())
	if i < 0 {
		return -1, "", false, false
	}
	return i, s.ID(), false, true
}

// get returns the entry held for a scope, under t.mu.
func (t *Table) get(typ int, id string, global bool) (entry, bool) {
	if global {
		if t.global == nil {
			return entry{}, false
		}
		return *t.global, true
	}
	e, ok := t.byType[typ][id]
	return e, ok
}

// canonical maps a valid status to its constant, so a table entry never
// keeps a decoded string alive.
func canonical(s domain.Status) domain.Status {
	switch s {
	case domain.StatusKilled:
		return domain.StatusKilled
	case domain.StatusThrottled:
		return domain.StatusThrottled
	}
	return domain.StatusActive
}

// ApplyState stores st unless the table holds the same or a newer version of
// its scope. A scope that stays THROTTLED keeps its bucket (capped at the new
// burst); a scope that becomes THROTTLED starts with an empty bucket, so a
// throttle never opens with a burst.
func (t *Table) ApplyState(st domain.State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apply(st.Scope, st.Status, st.MaxRatePerSecond, st.Version, st.CorrID, st.Reason, false)
}

// ApplyStateRecord applies a killswitch.state.v1 record value without
// building a domain.State when the value is a flat object of plain values,
// as the workflow writes it: only the fields a decision needs are read, and
// a record older than the one held allocates nothing. It reports false,
// having changed nothing, for any other value; the caller then decodes it
// with domain.DecodeState. What it applies is exactly what ApplyState would
// apply from domain.DecodeState's result.
func (t *Table) ApplyStateRecord(b []byte) bool {
	f, ok := parseStateFast(b)
	if !ok {
		return false
	}
	rawScope, ok1 := f.scope.value()
	rawStatus, ok2 := f.status.value()
	if !ok1 || !ok2 {
		return false
	}
	scope, err := domain.ParseScope(rawScope)
	status := domain.Status(rawStatus)
	if err != nil || !status.Valid() || status == domain.StatusThrottled && !(f.rate > 0) || f.version <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	typ, id, global, _ := t.slot(scope)
	if cur, had := t.get(typ, id, global); had && cur.version >= f.version {
		t.stale++
		return true
	}
	corrID, ok1 := f.corrID.value()
	why, ok2 := f.reason.value()
	if !ok1 || !ok2 {
		return false
	}
	t.apply(scope, status, f.rate, f.version, corrID, why, true)
	return true
}

// FailClosed holds scope KILLED, with why as the reason, until a decodable
// record newer than the one it held, or a tombstone, arrives: its latest
// state record could not be decoded, and a kill that record may have
// carried must hold (killstate.FailClosedSink).
func (t *Table) FailClosed(scope domain.Scope, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	typ, id, global, ok := t.slot(scope)
	if !ok {
		return
	}
	var version int64
	if cur, had := t.get(typ, id, global); had {
		version = cur.version
	}
	t.store(scope, domain.StatusKilled, 0, version, "", why, false)
	t.bad[scope] = why
}

// FailedClosed lists the scopes held KILLED by FailClosed, with why, by
// scope.
func (t *Table) FailedClosed() []failedClosed {
	t.mu.Lock()
	out := make([]failedClosed, 0, len(t.bad))
	for s, why := range t.bad {
		out = append(out, failedClosed{s, why})
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b failedClosed) int { return strings.Compare(string(a.scope), string(b.scope)) })
	return out
}

// apply is ApplyState under t.mu. With borrowed, the strings alias a record
// and are copied before the table keeps them.
func (t *Table) apply(scope domain.Scope, status domain.Status, rate float64, version int64, corrID, why string, borrowed bool) {
	typ, id, global, ok := t.slot(scope)
	if !ok {
		return
	}
	cur, had := t.get(typ, id, global)
	if had && cur.version >= version {
		t.stale++
		return
	}
	if len(t.bad) > 0 {
		delete(t.bad, scope)
	}
	t.store(scope, status, rate, version, corrID, why, borrowed)
}

// store sets scope's entry, whatever the version held, under t.mu.
func (t *Table) store(scope domain.Scope, status domain.Status, rate float64, version int64, corrID, why string, borrowed bool) {
	typ, id, global, _ := t.slot(scope)
	cur, had := t.get(typ, id, global)
	if had {
		scope = cur.scope // already owned
	} else if borrowed {
		scope = domain.Scope(strings.Clone(string(scope)))
	}
	if !global {
		_, id, _, _ = t.slot(scope)
	}
	e := entry{scope: scope, version: version, status: canonical(status)}
	var he *hotEntry
	if e.status != domain.StatusActive {
		if borrowed {
			corrID, why = strings.Clone(corrID), strings.Clone(why)
		}
		// One allocation keeps the entry and its hot state together, so
		// a decision touches adjacent memory.
		he = &hotEntry{hotState: hotState{corrID: corrID}}
		h := &he.hotState
		h.cancelReason = "CANCEL of an order_id not ALLOWed as a NEW order within the dedup window, under " +
			string(scope) + " " + string(e.status)
		if e.status == domain.StatusKilled {
			h.reason = reasonText(scope, "KILLED", why)
		} else {
			h.rate = rate
			h.burst = max(rate, 1)
			h.split = scope.Type() != domain.ScopeAccount
			r := strconv.FormatFloat(rate, 'g', -1, 64)
			h.reason = reasonText(scope, "THROTTLED at "+r+"/s, no token", why)
			h.passReason = "within the throttle of " + string(scope) + " (" + r + "/s)"
			if had && cur.status == domain.StatusThrottled {
				h.tokens = min(cur.hot.tokens, h.burst)
				h.last = cur.hot.last
			} else {
				h.last = t.clock().UnixNano()
			}
		}
		e.hot = h
		he.entry = e
	}
	if global {
		t.global = &e
	} else {
		t.byType[typ][id] = e
		if he == nil {
			t.hot[typ].remove(id)
		} else {
			t.hot[typ].set(id, he)
		}
	}
	if !had {
		t.n++
	}
}

func reasonText(s domain.Scope, what, why string) string {
	if why == "" {
		return string(s) + " " + what
	}
	return string(s) + " " + what + ": " + why
}

// SetPartitionShare tells the table that its router owns owned of the total
// partitions of orders.v1, so it scales the throttles of GLOBAL, SYMBOL and
// STRATEGY scopes to that share (see Table). A bucket holding more than its
// scaled burst is cut down at its next decision. total ≤ 0 restores the full
// rate.
func (t *Table) SetPartitionShare(owned, total int) {
	share := 1.0
	if total > 0 {
		share = float64(min(max(owned, 0), total)) / float64(total)
	}
	t.mu.Lock()
	t.share = share
	t.mu.Unlock()
}

// PartitionShare is the share set by SetPartitionShare, 1 by default.
func (t *Table) PartitionShare() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.share
}

// DeleteState forgets a scope (a tombstone on the state topic).
func (t *Table) DeleteState(s domain.Scope) {
	t.mu.Lock()
	defer t.mu.Unlock()
	typ, id, global, ok := t.slot(s)
	if !ok {
		return
	}
	delete(t.bad, s)
	if global {
		if t.global != nil {
			t.global = nil
			t.n--
		}
		return
	}
	if _, had := t.byType[typ][id]; had {
		delete(t.byType[typ], id)
		t.hot[typ].remove(id)
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
	typ, id, global, valid := t.slot(s)
	if !valid {
		return "", 0, false
	}
	e, ok := t.get(typ, id, global)
	if !ok {
		return "", 0, false
	}
	return e.status, e.version, true
}

// Verdict is the outcome of deciding one order against the table.
type Verdict struct {
	Decision domain.Decision
	// Status is the status of the deciding scope for a DROP, a THROTTLE or
	// the REJECT of a CANCEL, else ACTIVE.
	Status domain.Status
	// Scope is the scope that decided a DROP, a THROTTLE or the REJECT of a
	// CANCEL, or whose throttle an ALLOW passed; empty otherwise.
	Scope domain.Scope
	// Reason says why, for the audit.
	Reason string
	// CorrID is the corr_id of the kill or throttle behind a DROP, a
	// THROTTLE or the REJECT of a CANCEL.
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
	ReasonCancel    = "CANCEL of an order ALLOWed within the dedup window is never blocked"
	ReasonDuplicate = "order_id already seen within the dedup window"
	ReasonLimit     = "the order would cross a pre-trade limit"
)

// Decide returns the verdict for o at time now (UnixNano). A CANCEL whose
// order_id was ALLOWed as a NEW order within the dedup window (cancelsAllowed,
// which the caller's dedup window knows; ignored for a NEW order) is
// ALLOWed: stopping a kill from cancelling open orders is worse than no
// kill. Any other CANCEL is ALLOWed when no kill or throttle applies (it can
// cancel nothing this router let out, and harms nothing), else REJECTed by
// the most general KILLED scope, or THROTTLED one, that applies: it could
// only be a way through the kill. A NEW order: the most general KILLED scope
// DROPs it; else each matching THROTTLED scope must have a token (all are
// then taken) or the most general one without a token THROTTLEs it; else
// ALLOW. The buckets of GLOBAL, SYMBOL and STRATEGY throttles run at the
// table's partition share of their rate (see Table). Decide does not
// allocate.
func (t *Table) Decide(o *domain.Order, now int64, cancelsAllowed bool) Verdict {
	return t.DecideLimited(o, now, cancelsAllowed, false)
}

// DecideLimited is Decide for a NEW order that the pre-trade limits would
// BLOCK when blocked is set: a kill still DROPs it (the kill is the larger
// incident), else it is BLOCKed before any throttle is asked, so a BLOCKed
// order takes no throttle's token. A CANCEL is never BLOCKed.
func (t *Table) DecideLimited(o *domain.Order, now int64, cancelsAllowed, limited bool) (v Verdict) {
	t.mu.Lock()
	t.decideLocked(&v, o, t.hot[0].get(o.AccountID), t.hot[1].get(o.Symbol), t.hot[2].get(o.Strategy),
		now, cancelsAllowed, limited)
	t.mu.Unlock()
	return v
}

// Touch prefetches what deciding a chunk of prepared orders (DecideHashed
// with their IDs) reads of the table, changing nothing: the hot index slots
// of their scopes that its filter says may be held, then the entries in
// them. Most scopes are not KILLED or THROTTLED and cost nothing here; with
// thousands that are, their entries are mostly out of the CPU caches, and
// prefetched a chunk at a time their misses overlap instead of each
// stalling a decision (as the limits engine's Touch does for its keys).
func (t *Table) Touch(ps []limits.Prepared) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.touch(ps)
}

// Hold is Touch that keeps the table locked until Release, so that deciding
// the chunk (DecideHeld) takes no lock per order (as limits.Engine.Hold
// for the checks and commits). Until Release nothing else may be
// called on the table from the holding goroutine, and states applied from
// other goroutines wait for the chunk.
func (t *Table) Hold(ps []limits.Prepared) {
	t.mu.Lock()
	t.touch(ps)
}

// Release ends Hold.
func (t *Table) Release() { t.mu.Unlock() }

func (t *Table) touch(ps []limits.Prepared) {
	for i := range ps {
		ids := &ps[i].IDs
		t.hot[0].prefetchSlot(ids[idhash.Account])
		t.hot[1].prefetchSlot(ids[idhash.Symbol])
		t.hot[2].prefetchSlot(ids[idhash.Strategy])
	}
	for i := range ps {
		ids := &ps[i].IDs
		t.hot[0].prefetchEntry(ids[idhash.Account])
		t.hot[1].prefetchEntry(ids[idhash.Symbol])
		t.hot[2].prefetchEntry(ids[idhash.Strategy])
	}
}

// DecideHashed is DecideLimited into v of an order whose account, symbol
// and strategy ids ids holds, hashed with the process's scope seeds
// (idhash.OfScopes, as limits.Prepare hashes them): the router hashes an
// order's ids once for the limits and the kill table, and decides into the
// verdict it keeps, without copying one.
func (t *Table) DecideHashed(v *Verdict, o *domain.Order, ids *idhash.Scopes, now int64, cancelsAllowed, limited bool) {
	t.mu.Lock()
	t.DecideHeld(v, o, ids, now, cancelsAllowed, limited)
	t.mu.Unlock()
}

// DecideHeld is DecideHashed between Hold and Release.
func (t *Table) DecideHeld(v *Verdict, o *domain.Order, ids *idhash.Scopes, now int64, cancelsAllowed, limited bool) {
	t.decideLocked(v, o, t.hot[0].at(ids[idhash.Account]), t.hot[1].at(ids[idhash.Symbol]), t.hot[2].at(ids[idhash.Strategy]),
		now, cancelsAllowed, limited)
}

// decideLocked decides o into v, o's account, symbol and strategy being
// held in the hot index as acct, sym and strat (nil: not), with t.mu held.
func (t *Table) decideLocked(v *Verdict, o *domain.Order, acct, sym, strat *hotEntry, now int64, cancelsAllowed, limited bool) {
	limited = limited && o.Type != domain.OrderCancel
	*v = Verdict{Decision: domain.DecisionAllow, Status: domain.StatusActive, Reason: ReasonNoKill}
	var es [4]*entry
	n := 0
	if e := t.global; e != nil && e.status != domain.StatusActive {
		es[n] = e
		n++
	}
	// The three scopes written out: a loop over the ids costs more
	// instructions than the lookups.
	if acct != nil && o.AccountID != "" {
		es[n] = &acct.entry
		n++
	}
	if sym != nil && o.Symbol != "" {
		es[n] = &sym.entry
		n++
	}
	if strat != nil && o.Strategy != "" {
		es[n] = &strat.entry
		n++
	}
	if n == 0 {
		if o.Type == domain.OrderCancel && cancelsAllowed {
			v.Reason = ReasonCancel
		}
		if limited {
			v.Decision, v.Reason = domain.DecisionBlock, ReasonLimit
		}
		return
	}
	for i := 0; i < n; i++ {
		v.Matches[i] = es[i].scope
	}
	v.NMatches = n
	if o.Type == domain.OrderCancel {
		if cancelsAllowed {
			v.Reason = ReasonCancel
			return
		}
		// Named like a DROP: the most general killed scope, else the most
		// general throttled one.
		e := es[0]
		for i := 0; i < n; i++ {
			if es[i].status == domain.StatusKilled {
				e = es[i]
				break
			}
		}
		v.set(domain.DecisionReject, e, e.hot.cancelReason)
		return
	}
	for i := 0; i < n; i++ {
		if e := es[i]; e.status == domain.StatusKilled {
			v.set(domain.DecisionDrop, e, e.hot.reason)
			return
		}
	}
	if limited {
		// Matches stay in the audit: the order is also under a throttle.
		v.Decision, v.Reason = domain.DecisionBlock, ReasonLimit
		return
	}
	// Every remaining match is THROTTLED: refill all, then take a token
	// from each only if each has one.
	var blocked *entry
	for i := 0; i < n; i++ {
		h := es[i].hot
		rate, burst := h.rate, h.burst
		if h.split {
			rate *= t.share
			burst = max(burst*t.share, 1)
		}
		if now > h.last {
			h.tokens += float64(now-h.last) * rate / 1e9
			h.last = now
		}
		h.tokens = min(h.tokens, burst)
		if blocked == nil && h.tokens < 1 {
			blocked = es[i]
		}
	}
	if blocked != nil {
		v.set(domain.DecisionThrottle, blocked, blocked.hot.reason)
		return
	}
	for i := 0; i < n; i++ {
		es[i].hot.tokens--
	}
	e := es[0]
	v.Scope, v.Version, v.Reason = e.scope, e.version, e.hot.passReason
}

func (v *Verdict) set(d domain.Decision, e *entry, reason string) {
	v.Decision = d
	v.Status = e.status
	v.Scope = e.scope
	v.Reason = reason
	v.CorrID = e.hot.corrID
	v.Version = e.version
}
