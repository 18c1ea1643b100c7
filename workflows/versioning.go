package workflows

// Changes to the KillSwitch workflow's commands (timers, activities, search
// attribute and memo upserts, continue-as-new) must not break runs already
// in flight. Each such change is gated by workflow.GetVersion with an id
// from this list, keeping the old branch until no run of it can be open
// (a run lives at most as long as its incident plus its continuations), and
// TestReplay replays the histories recorded in testdata/ to prove it.
// Record new histories for a new path with
//
//	go test ./workflows -run TestRecordHistories -record
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
)
