package workflows

import "go.temporal.io/sdk/workflow"

// Changes to the KillSwitch workflow's commands (timers, activities, search
// attribute and memo upserts, continue-as-new) must not break runs already
// in flight. Each such change is gated by workflow.GetVersion with an id
// from this list, keeping the old branch until no run of it can be open
// (a run lives at most as long as its incident plus its continuations), and
// TestReplay replays the histories recorded in testdata/ to prove it.
// The Limits workflow follows the same rule: it has no changes yet, and its
// first will take an id starting "limits-" here. Record new histories for
// a new path with
//
//	go test ./workflows -run 'TestRecord.*Histories' -args -record
const (
	// versionIdleVisibility: a run that ends without a kill (a rejected
	// operator kill started it) upserts its search attributes and memo, so
	// the Web UI lists it under its scope.
	versionIdleVisibility = "idle-run-visibility"
	// versionPriorState: a new run (not a continuation) first reads the
	// scope's last published state with the PriorState local activity, so
	// its versions start above the previous incident's and offences count
	// across incidents.
	versionPriorState = "prior-state"
	// versionDrainAtClose: signals buffered when a run is about to complete
	// are applied instead of dropped with the run.
	versionDrainAtClose = "drain-at-close"
	// versionBreachAfterNormal: a breach forgets the normal before it
	// whatever it asks for (also one the workflow cannot act on); a normal
	// the detector decided before the last breach is stale and ignored,
	// while a later one may reuse the forgotten normal's cmd_id; a throttle
	// rule breached on probation ends the probation (THROTTLED at the
	// lower rate until a cooldown and a normal), and probation ends only
	// after a normal that came after the last breach.
	versionBreachAfterNormal = "breach-after-normal"
	// versionFourEyesEveryRelease: on a four-eyes scope unpin needs the
	// approvals as unkill does, and a breach clears pending approvals.
	versionFourEyesEveryRelease = "four-eyes-every-release"
	// versionVisibilityAfterPublish: the search attributes show a state
	// once it is published (routers enforce only what is published); until
	// then the memo says what is pending and why.
	versionVisibilityAfterPublish = "visibility-after-publish"
	// versionVerifiedIdentity: every applied operator update records the
	// verdict on its operator's identity (a side effect marker), its
	// transition and command say verified or claimed, and four eyes count
	// verified approvals only (unless FourEyesAcceptClaimed). A run that
	// applied an update before the change keeps the old path to its end.
	versionVerifiedIdentity = "verified-identity"
	// versionSummaries: every timer carries a summary in words ("cooldown
	// until 09:09:30 UTC") and every publish local activity one of what it
	// publishes, for the Web UI's timeline.
	versionSummaries = "ui-summaries"
	// versionLimitTrigger: a breach with trigger limit (the detector
	// escalating repeated pre-trade limit BLOCKs) kills with that trigger
	// and pins the scope: no auto-unkill until an operator acts.
	versionLimitTrigger = "limit-trigger"
)

// newPath reports whether this run takes the new path of change id. Call it
// only where the old and the new path differ: a run recorded before the
// change replays the old path, a run that reaches the point later takes
// the new one.
func newPath(ctx workflow.Context, id string) bool {
	return workflow.GetVersion(ctx, id, workflow.DefaultVersion, 1) >= 1
}
