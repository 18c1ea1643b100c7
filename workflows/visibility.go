package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/domain"
)

// What the Temporal Web UI shows of a run: search attributes (KillStatus and
// the others), the memo and the current details. Routers enforce only what
// is published to killswitch.state.v1, so the search attributes follow
// publication: during a Kafka outage they keep the status the routers
// enforce, and the memo says which transition is waiting and why.

// maxErrorInMemo bounds the publish error quoted in the memo.
const maxErrorInMemo = 200

// upsertVisibility makes the Web UI agree with the workflow: search
// attributes (only when they change), memo and current details in words.
func (w *killSwitch) upsertVisibility(ctx workflow.Context) {
	st := w.c.State
	if w.visAfterPublish {
		st = w.shown
	}
	sa := [4]string{string(w.scope), string(w.scope.Type()), string(st.Status), string(st.Trigger)}
	if sa != w.sa {
		err := workflow.UpsertTypedSearchAttributes(ctx,
			saScope.ValueSet(sa[0]), saScopeType.ValueSet(sa[1]), saStatus.ValueSet(sa[2]), saTrigger.ValueSet(sa[3]))
		if err != nil {
			w.log.Error("upsert search attributes", "corr_id", st.CorrID, "error", err)
		} else {
			w.sa = sa
		}
	}
	w.upsertMemo(ctx)
}

// upsertMemo brings the memo and the current details up to date.
func (w *killSwitch) upsertMemo(ctx workflow.Context) {
	details := w.describe()
	if err := workflow.UpsertMemo(ctx, map[string]any{"summary": details}); err != nil {
		w.log.Error("upsert memo", "corr_id", w.c.State.CorrID, "error", err)
	}
	workflow.SetCurrentDetails(ctx, details)
}

// refreshDetails updates the current details only (no history event).
func (w *killSwitch) refreshDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, w.describe())
}

// showTransition is what a transition changes in the Web UI. On the old path
// the search attributes show the new state at once; on the new one they
// keep showing what the routers enforce (a new run's first transition sets
// them, so the run is listed under its scope), the memo says what is
// pending, and onPublished moves them on.
func (w *killSwitch) showTransition(ctx workflow.Context) {
	w.visAfterPublish = newPath(ctx, versionVisibilityAfterPublish)
	w.upsertVisibility(ctx)
}

// onPublished records that last, the newest state of a batch, is on the
// state topic: from now on the search attributes show it.
func (w *killSwitch) onPublished(ctx workflow.Context, last domain.State) {
	w.shown = last
	w.failingSince, w.publishErr = 0, ""
	if w.visAfterPublish {
		w.upsertVisibility(ctx)
	}
}

// onPublishFailed says in the memo, once per outage, that a transition is
// not published and the routers still enforce the previous state.
func (w *killSwitch) onPublishFailed(ctx workflow.Context, err error) {
	if !w.visAfterPublish || w.failingSince != 0 {
		return
	}
	w.failingSince = workflow.Now(ctx).UnixMilli()
	w.publishErr = err.Error()
	if len(w.publishErr) > maxErrorInMemo {
		w.publishErr = w.publishErr[:maxErrorInMemo] + "…"
	}
	w.upsertMemo(ctx)
}

func clock(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05 UTC") }

func rate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) + "/s" }

// describe says in words what happened and what happens next, for the
// memo and the Web UI's current details.
func (w *killSwitch) describe() string {
	st := w.c.State
	by := string(st.Trigger)
	if st.Trigger == domain.TriggerOperator {
		by = "operator " + st.UpdatedBy
	}
	var b strings.Builder
	switch st.Status {
	case domain.StatusActive:
		if !w.c.Started {
			b.WriteString("ACTIVE: the run ended without a kill")
			break
		}
		fmt.Fprintf(&b, "ACTIVE again, released by %s at %s: %s", by, clock(st.UpdatedTS), st.Reason)
	case domain.StatusKilled:
		fmt.Fprintf(&b, "KILLED by %s: %s", by, st.Reason)
		if w.c.CooldownExpired {
			fmt.Fprintf(&b, "; cooldown ended at %s", clock(st.CooldownUntil))
		} else if st.CooldownUntil > 0 {
			fmt.Fprintf(&b, "; cooldown until %s", clock(st.CooldownUntil))
		}
		switch {
		case w.c.Pinned:
			b.WriteString("; auto-unkill pinned off until an operator acts")
		case !st.AutoUnkillEnabled:
			b.WriteString("; no auto-unkill: an operator must unkill")
		case !w.c.Normal && !w.s.IgnoreNormal:
			b.WriteString("; auto-unkill once the detector reports the scope normal")
		default:
			b.WriteString("; auto-unkill to probation after the cooldown")
		}
	case domain.StatusThrottled:
		if w.c.Probation {
			if w.c.ProbationOver {
				fmt.Fprintf(&b, "THROTTLED at %s: probation over, but the scope breached since; ACTIVE once the detector reports it normal",
					rate(st.MaxRatePerSecond))
				break
			}
			fmt.Fprintf(&b, "THROTTLED at %s on probation after auto-unkill; ACTIVE at %s unless it breaches again",
				rate(st.MaxRatePerSecond), clock(st.CooldownUntil))
			if !st.AutoUnkillEnabled {
				b.WriteString(" (pinned: an operator must unkill)")
			}
			break
		}
		fmt.Fprintf(&b, "THROTTLED at %s by %s: %s", rate(st.MaxRatePerSecond), by, st.Reason)
		if st.CooldownUntil > 0 && st.AutoUnkillEnabled {
			fmt.Fprintf(&b, "; lifted after %s", clock(st.CooldownUntil))
		}
	}
	if n := len(st.Approvals); n > 0 {
		names := make([]string, n)
		for i, a := range st.Approvals {
			names[i] = a.Operator
		}
		pol := w.s.approvals(w.scope.Type())
		fmt.Fprintf(&b, "; %s approved by %s (%d of %d), another operator must approve by %s",
			strings.ToLower(string(w.approvalAction())), strings.Join(names, ", "), n, pol.Required, clock(w.approvalExpiry()))
	}
	if w.enqueued > w.published {
		fmt.Fprintf(&b, "; %s not yet published to %s", st.Status, domain.TopicState)
		if w.failingSince != 0 {
			fmt.Fprintf(&b, " (failing since %s: %s)", clock(w.failingSince), w.publishErr)
		}
		fmt.Fprintf(&b, ": routers enforce %s until it is", w.enforced())
	}
	return b.String()
}

// enforced is the status the routers enforce: the last one published.
func (w *killSwitch) enforced() domain.Status {
	if w.shown.Status == "" {
		return domain.StatusActive
	}
	return w.shown.Status
}
