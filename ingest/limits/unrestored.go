package limits

import (
	"slices"
	"strconv"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// A record of the router's changelog that does not restore (Restore fails:
// a bug, a corrupted log, a record of a later release) holds usage nobody
// can read back: orders the partition allowed, counted in windows and in
// credit, of scopes the record would have named. Skipping it would hand
// those scopes budget again, so the engine fails closed instead
// (FailUsageClosed), for as long as the lost usage could count, on every
// order the router decides, whatever its partition (the partition's share
// of a SYMBOL, STRATEGY or GLOBAL window is in the aggregates every order
// checks, and an account's orders come through another partition when a
// client's partitioner differs):
//
//   - an order held to a window cap whose window still reaches back to the
//     record's latest possible order;
//   - an order of an account with a credit_limit, up to the end of that
//     order's trading day.
//
// The order is BLOCKed as KindUnrestoredUsage, naming the most general such
// scope. With the default limits that is every order for a minute and every
// order of an account with a credit limit for the rest of the day: a
// corrupted changelog is an incident, and /readyz and the
// riskgate_router_limits_unrestored_partitions alert name it.
//
// The credit part ends early once the router has rebuilt the trading day's
// credit of every account from orders.gated.v1 (RebuildCredit, see
// CreditRebuild); nothing else ends it early: a checkpoint of the partition
// carries it (a restart or the next owner keeps failing closed, or goes on
// with windows only once the credit was rebuilt), and revoking the
// partition drops it (its next owner replays the record itself). A CANCEL
// passes, as always.

// unrestored is a partition whose usage a changelog record could not
// restore.
type unrestored struct {
	part int32
	// latest is the latest time (Unix ms, effective, as orders count) of
	// an order the lost record could hold; day is its trading day.
	latest int64
	day    int32
	// rebuilt: the credit of day was rebuilt (RebuildCredit), so only an
	// order of an earlier day (a clock still short of it) is blocked for
	// credit.
	rebuilt bool
	why     string
}

// markUnrestored is the scope type byte of a checkpoint entry that carries
// an unrestored partition's latest time (uvarint) instead of a key's usage;
// markUnrestoredWindows the same once its credit was rebuilt, which the
// checkpoint's usage then holds. A release that predates them cannot read
// such a checkpoint.
const (
	markUnrestored        = 4
	markUnrestoredWindows = 5
)

// FailUsageClosed fails partition part closed on a changelog record that
// Restore refused (see above). latest is the latest wall time (Unix ms) an
// order counted in the record can have been decided at (the router passes
// the record's timestamp plus its transaction timeout); the engine adds
// its FutureSkew, as an order may count that much ahead of the clock. why
// says which record it was, for FailedClosed.
func (e *Engine) FailUsageClosed(part int32, latest int64, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failUsage(max(part, 0), min(latest+e.skew, maxTS), why, true)
}

// failUsage fails partition part closed on usage lost up to latest: on its
// windows, and on its credit unless credit is false (a checkpoint written
// once the credit was rebuilt: it holds the credit, and replaces what
// records before it held). A record lost after the rebuild fails the
// credit closed again.
func (e *Engine) failUsage(part int32, latest int64, why string, credit bool) {
	u := e.unrestoredIn(part)
	if u == nil {
		e.unrestored = append(e.unrestored, unrestored{part: part, latest: latest, why: why})
		u = &e.unrestored[len(e.unrestored)-1]
	} else if latest > u.latest {
		u.latest, u.why = latest, why
	}
	u.day, u.rebuilt = e.cal.dayOf(u.latest), !credit
}

// unrestoredScope returns the most general scope (index into l) whose
// usage an order counting at second sec of trading day day, held to limits
// l, cannot be checked against because of unrestored usage, or -1.
func (e *Engine) unrestoredScope(sec int64, day int32, l *[4]*resolved) int {
	scope := len(l)
	for i := range e.unrestored {
		u := &e.unrestored[i]
		// An order of second s counts in the window of second t while
		// s > t - window.
		last := u.latest / 1000
		for s := 0; s < scope; s++ {
			if x := l[s]; s == tAccount && x.credit != none && (day < u.day || day == u.day && !u.rebuilt) ||
				(x.capOrders != none || x.capNotional != none) && sec < last+int64(x.window) {
				scope = s
			}
		}
	}
	if scope == len(l) {
		return -1
	}
	return scope
}

// expired reports whether no order at or after the engine's clock can be
// blocked by u any longer: every window allowed has passed its latest
// order, and its trading day is over or its credit was rebuilt.
func (u *unrestored) expired(clock int64, today int32) bool {
	return clock/1000 >= u.latest/1000+domain.MaxLimitWindowSeconds && (today > u.day || u.rebuilt && today == u.day)
}

// dropExpiredUnrestored forgets the unrestored partitions that block
// nothing any longer.
func (e *Engine) dropExpiredUnrestored() {
	kept := e.unrestored[:0]
	for _, u := range e.unrestored {
		if !u.expired(e.clock, e.today) {
			kept = append(kept, u)
		}
	}
	clear(e.unrestored[len(kept):])
	e.unrestored = kept
}

// revokeUnrestored forgets partition part's unrestored usage.
func (e *Engine) revokeUnrestored(part int32) {
	for i, u := range e.unrestored {
		if u.part == part {
			e.unrestored = append(e.unrestored[:i], e.unrestored[i+1:]...)
			return
		}
	}
}

// unrestoredIn returns partition part's unrestored usage, or nil.
func (e *Engine) unrestoredIn(part int32) *unrestored {
	for i := range e.unrestored {
		if e.unrestored[i].part == part {
			return &e.unrestored[i]
		}
	}
	return nil
}

// Unrestored lists the partitions failing closed on a changelog record
// that did not restore, by partition: "changelog partition <n> usage not
// restored (<why>; orders counted up to <time>)".
func (e *Engine) Unrestored() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.unrestored))
	for i := range e.unrestored {
		out = append(out, e.unrestored[i].describe())
	}
	slices.Sort(out)
	return out
}

// describe names u for Unrestored.
func (u *unrestored) describe() string {
	s := "changelog partition " + strconv.Itoa(int(u.part)) + " usage not restored (" + u.why + "; orders counted up to " +
		time.UnixMilli(u.latest).UTC().Format(time.RFC3339)
	if u.rebuilt {
		s += "; the day's credit rebuilt from " + domain.TopicGated + ", window caps only"
	}
	return s + ")"
}
