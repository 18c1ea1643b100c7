// What a replay reports: per scope, what the candidate rules (and limits)
// would have done and, from the topics, what actually happened.

package replay

import (
	"time"

	"github.com/riskgate/riskgate/domain"
)

// Result is a replay's report.
type Result struct {
	// Source says what was replayed: a file, or orders.v1 over a range.
	Source string `json:"source"`
	// From and To bound the replay: the range read from the topics, or the
	// first and last order's ts of a file.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Rules names the candidate rules; Policy says how kills were modelled
	// ("" with NoKills).
	Rules   []string `json:"rules"`
	Policy  string   `json:"policy,omitempty"`
	NoKills bool     `json:"no_kills"`
	// Limits is set when candidate pre-trade limits were checked.
	Limits bool `json:"limits"`
	// Actual is set when what happened was read from the topics.
	Actual bool `json:"actual"`

	Counts Counts `json:"counts"`
	// BadInputs are the first bad inputs, with where they were.
	BadInputs []BadInput `json:"bad_inputs"`
	// Scopes are the scopes that breached, were killed, dropped or blocked
	// orders in the replay or in fact, ordered by first event.
	Scopes []ScopeResult `json:"scopes"`
	Totals Totals        `json:"totals"`

	// Elapsed is how long the replay took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Counts are what was read.
type Counts struct {
	// Orders are the valid orders replayed (NEW and CANCEL).
	Orders int64 `json:"orders"`
	// Cancels are the CANCELs among them: decided, never counted by the
	// detector, never dropped.
	Cancels int64 `json:"cancels"`
	// Late are orders more than the rules' lateness behind their
	// partition's newest order: decided, but left out of the windows, as
	// the detector leaves them out.
	Late int64 `json:"late"`
	// Bad are inputs that are not valid orders (or, from the topics, are
	// keyed by other than their account_id): counted, listed, skipped.
	Bad int64 `json:"bad"`
	// KeysPeak is the most detector keys held at once: the replay's memory
	// follows it, not the input's length.
	KeysPeak int `json:"keys_peak"`
}

// BadInput is one input that was not replayed.
type BadInput struct {
	// Where is "line N" of a file or "partition/offset" of orders.v1.
	Where string `json:"where"`
	Error string `json:"error"`
}

// Totals add up the scopes.
type Totals struct {
	CandidateKills    int     `json:"candidate_kills"`
	CandidateDropped  int64   `json:"candidate_dropped"`
	CandidateNotional float64 `json:"candidate_dropped_notional"`
	CandidateBlocked  int64   `json:"candidate_blocked"`
	ActualKills       int     `json:"actual_kills"`
	ActualDropped     int64   `json:"actual_dropped"`
	ActualBlocked     int64   `json:"actual_blocked"`
	// New, Gone, Earlier and Later count the scopes of each difference.
	New     int `json:"new"`
	Gone    int `json:"gone"`
	Earlier int `json:"earlier"`
	Later   int `json:"later"`
}

// ScopeResult is one scope's line of the report.
type ScopeResult struct {
	Scope     domain.Scope `json:"scope"`
	Candidate Outcome      `json:"candidate"`
	// Actual is what happened, when read from the topics.
	Actual *Outcome `json:"actual,omitempty"`
	// Diff compares the two, when Actual is set.
	Diff Diff `json:"diff"`

	lastCmd string // the last breach's cmd_id, to count incidents
}

// Outcome is what happened to one scope, in the replay or in fact.
type Outcome struct {
	// FirstBreach is the first breach of a rule or limit; nil when none.
	FirstBreach *Breach `json:"first_breach,omitempty"`
	// Incidents counts breaches signalled (one per incident).
	Incidents int `json:"incidents"`
	// Kills and Throttles count the scope's entries into KILLED and
	// THROTTLED (probation included).
	Kills     int `json:"kills"`
	Throttles int `json:"throttles"`
	// Dropped, Throttled and Blocked count the orders this scope decided;
	// the notionals are their qty × price (replay only: the audit does not
	// carry them).
	Dropped           int64   `json:"dropped"`
	DroppedNotional   float64 `json:"dropped_notional"`
	Throttled         int64   `json:"throttled"`
	ThrottledNotional float64 `json:"throttled_notional"`
	Blocked           int64   `json:"blocked"`
	BlockedNotional   float64 `json:"blocked_notional"`
	// Intervals are the spans the scope was KILLED or THROTTLED.
	Intervals []Interval `json:"intervals"`
}

// Breach is a scope's first breach.
type Breach struct {
	// Source is "rule" (the detector) or "limit" (a pre-trade limit); for
	// what happened, "operator" when an operator killed first.
	Source string `json:"source"`
	// Rule names the rule, or the limit ("ACCOUNT:1 max_orders=100/60s").
	Rule   string        `json:"rule"`
	Metric string        `json:"metric,omitempty"`
	Window string        `json:"window,omitempty"`
	Action domain.Action `json:"action,omitempty"`
	// OrderID and TS are the order it fired on and that order's ts; TS is
	// the kill's time when the order is not known.
	OrderID   string    `json:"order_id,omitempty"`
	TS        time.Time `json:"ts"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	// By is who acted, for what happened: detector, operator, system.
	By string `json:"by,omitempty"`
}

// Interval is a span of one status.
type Interval struct {
	Status domain.Status `json:"status"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	// Ongoing is true when the status still held at the end of the replay.
	Ongoing bool `json:"ongoing,omitempty"`
}

// DiffKind names how the candidate's first breach compares with what
// happened.
type DiffKind string

// Differences.
const (
	// DiffNone: neither breached (the scope is listed for its drops).
	DiffNone DiffKind = ""
	// DiffSame: the same order crossed the line.
	DiffSame DiffKind = "same"
	// DiffNew: the candidate would have acted where nothing did.
	DiffNew DiffKind = "new"
	// DiffGone: the scope was acted on, and the candidate would not have.
	DiffGone DiffKind = "gone"
	// DiffEarlier and DiffLater: both acted, the candidate on an earlier
	// or a later order.
	DiffEarlier DiffKind = "earlier"
	DiffLater   DiffKind = "later"
	// DiffOther: both acted at the same time on different orders.
	DiffOther DiffKind = "other order"
	// DiffOperator: an operator acted and the candidate did not; the
	// replay models no operator actions.
	DiffOperator DiffKind = "operator"
)

// Diff compares a scope's candidate with what happened.
type Diff struct {
	Kind DiffKind `json:"kind"`
	// By is the candidate's first breach time minus the actual one, when
	// both breached.
	By time.Duration `json:"by_ns,omitempty"`
}
