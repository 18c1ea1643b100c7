package workflows

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// The Limits workflow (DESIGN §9): one run per scope at a time, living as
// long as the scope has limits to look after, continuing as new when its
// history grows. Every change goes through one applier (limits_updates.go),
// which queues its publication; one publisher coroutine publishes them in
// order, so a scope never has two publishes in flight. Its timers (a raise
// expiring, a four-eyes window ending) are absolute times in its state, so
// they survive worker and Temporal restarts and continue-as-new.

var (
	saLimitScope = temporal.NewSearchAttributeKeyKeyword(SALimitScope)
	saLimitState = temporal.NewSearchAttributeKeyKeyword(SALimitState)
)

// NewLimits returns the Limits workflow with the worker's settings (the
// limits file's defaults and ceilings). Register it under LimitsWorkflowName.
func NewLimits(settings LimitsSettings) func(workflow.Context, LimitsInput) (LimitsView, error) {
	settings = settings.WithDefaults()
	return func(ctx workflow.Context, in LimitsInput) (LimitsView, error) {
		return runLimits(ctx, in, settings)
	}
}

// limitsRun is one run of a scope's Limits workflow. Handlers and the main
// loop share it; workflow code runs one coroutine at a time.
type limitsRun struct {
	scope  domain.Scope
	worker LimitsSettings // the worker's settings, recorded into s
	s      LimitsSettings
	c      LimitsCarry
	log    log.Logger

	queue      []activities.LimitsPublication
	publishing bool
	enqueued   int64
	published  int64
	wake       workflow.Channel
	inputs     int

	timer deadlineTimer

	sa [2]string // search attribute values last upserted
}

func runLimits(ctx workflow.Context, in LimitsInput, worker LimitsSettings) (LimitsView, error) {
	scope, err := domain.ParseScope(string(in.Scope))
	if err != nil {
		return LimitsView{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("start Limits: %v", err), ErrTypeInvalid, err)
	}
	w := &limitsRun{scope: scope, worker: worker, log: log.With(workflow.GetLogger(ctx), "scope", scope)}
	if in.Carry != nil {
		w.c = *in.Carry
	}
	if w.c.Applied == nil {
		w.c.Applied = map[string]LimitsView{}
	}
	// Recorded before any handler exists: a validator judges a change by
	// the ceilings, and an update sent with the start is validated as
	// soon as its handler is registered.
	w.refreshSettings(ctx)
	if err := w.setup(ctx); err != nil {
		return w.view(false), err
	}
	w.upsertVisibility(ctx)
	workflow.Go(ctx, w.publisher)
	for {
		if w.shouldContinueAsNew(ctx) {
			return w.continueAsNew(ctx)
		}
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		if f := w.armTimer(ctx); f != nil {
			sel.AddFuture(f, func(workflow.Future) {
				w.timer.fired()
				w.onDeadline(ctx)
			})
		}
		sel.Select(ctx)
		if ctx.Err() != nil {
			return w.cancelled(ctx)
		}
	}
}

// cancelled ends a run an operator cancelled. The overrides published stay
// in force, but a raise in force must not outlive the timer that would
// have reverted it: it is reverted now, and what is left to publish is
// published, before the run ends.
func (w *limitsRun) cancelled(ctx workflow.Context) (LimitsView, error) {
	w.timer.stop()
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// The publisher's local activity in flight, if any, ends cancelled
	// first: one publish in flight, even now.
	_ = workflow.Await(dctx, func() bool { return !w.publishing })
	if w.c.Base != nil {
		w.revert(dctx, fmt.Sprintf("the limits workflow was cancelled before the raise's expiry at %s", clock(w.c.ExpiresAt)))
	}
	for len(w.queue) > 0 {
		if !w.publishBatch(dctx) {
			_ = workflow.NewTimerWithOptions(dctx, 5*time.Second, workflow.TimerOptions{Summary: "retry publishing to " + domain.TopicLimits}).Get(dctx, nil)
		}
	}
	return w.view(true), temporal.NewCanceledError(fmt.Sprintf("limits of %s: cancelled", w.scope))
}

// refreshSettings records the worker's settings in history when they
// differ from those recorded last (a mutable side effect writes a marker
// only then), so a limits file changed under a running workflow applies
// from its next update or timer, and a replay reads what was recorded.
func (w *limitsRun) refreshSettings(ctx workflow.Context) {
	enc := workflow.MutableSideEffect(ctx, "limits-settings",
		func(workflow.Context) any { return w.worker },
		func(a, b any) bool { return reflect.DeepEqual(a, b) })
	var s LimitsSettings
	if err := enc.Get(&s); err != nil {
		w.log.Error("recorded limits settings do not decode; using the worker's", "error", err)
		s = w.worker
	}
	w.s = s.WithDefaults()
}

func (w *limitsRun) defaults() domain.LimitValues { return w.s.Defaults[w.scope.Type()] }
func (w *limitsRun) ceiling() domain.LimitValues  { return w.s.Ceilings[w.scope.Type()] }

// setup registers the queries and the updates, all from one table.
func (w *limitsRun) setup(ctx workflow.Context) error {
	w.wake = workflow.NewBufferedChannel(ctx, 1)
	if err := workflow.SetQueryHandlerWithOptions(ctx, LimitsQueryLimits, func() (LimitsView, error) {
		return w.view(true), nil
	}, workflow.QueryHandlerOptions{Description: "The scope's effective limits, the source of each (default, override, temporary), a raise's expiry and the pending change."}); err != nil {
		return fmt.Errorf("set query %s: %w", LimitsQueryLimits, err)
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, LimitsQueryHistory, func() ([]LimitsChange, error) {
		return slices.Clone(w.c.History), nil
	}, workflow.QueryHandlerOptions{Description: "The scope's latest limit changes: who, why, old → new."}); err != nil {
		return fmt.Errorf("set query %s: %w", LimitsQueryHistory, err)
	}
	const body = "{cmd_id, scope, reason, operator, admin?"
	updates := []struct {
		name string
		doc  string
	}{
		{LimitsUpdateSet, "Set overrides: " + body + ", limits: {field: value}, clear: [field]}. Beyond a ceiling (or loosening GLOBAL) it waits for a second operator."},
		{LimitsUpdateRaise, "Temporary change: " + body + ", limits, duration_seconds | until}. Reverted by a timer."},
		{LimitsUpdateApprove, "Approve the pending change (a second, different admin): " + body + "}."},
		{LimitsUpdateReject, "Reject the pending change: " + body + "}."},
		{LimitsUpdateRestrict, "Restrict a SYMBOL (no orders in it): " + body + "}."},
		{LimitsUpdateUnrestrict, "Lift a SYMBOL's restriction (back to the default): " + body + "}."},
	}
	for _, u := range updates {
		kind := u.name
		err := workflow.SetUpdateHandlerWithOptions(ctx, kind,
			func(ctx workflow.Context, req LimitsRequest) (LimitsView, error) {
				return w.handle(ctx, kind, req)
			},
			workflow.UpdateHandlerOptions{
				Description: u.doc,
				Validator: func(ctx workflow.Context, req LimitsRequest) error {
					if err := w.validateRequest(req); err != nil {
						return err
					}
					if _, seen := w.c.Applied[req.CmdID]; seen {
						return nil // a repeat: the handler answers as the first time
					}
					_, err := w.plan(ctx, kind, req, UpdateIdentity(ctx))
					return err
				},
			})
		if err != nil {
			return fmt.Errorf("set update %s: %w", kind, err)
		}
	}
	return nil
}

func (w *limitsRun) validateRequest(req LimitsRequest) error {
	if err := req.Validate(); err != nil {
		return invalid("%v", err)
	}
	if req.Scope != w.scope {
		return invalid("request for %s sent to the limits workflow of %s", req.Scope, w.scope)
	}
	if req.CmdID == "" {
		return invalid("limits of %s: cmd_id is required", w.scope)
	}
	return nil
}

// handle applies an accepted update once (by cmd_id) and returns the view
// it produced, after its publication has landed.
func (w *limitsRun) handle(ctx workflow.Context, kind string, req LimitsRequest) (LimitsView, error) {
	if v, seen := w.c.Applied[req.CmdID]; seen {
		return v, nil
	}
	w.refreshSettings(ctx)
	ctx = recordIdentity(ctx, w.log, req.Operator, req.CmdID)
	id, _ := recordedIdentity(ctx)
	// Judged again with the settings and the identity recorded now: the
	// validator saw the worker's previous settings if the limits file
	// changed in between.
	p, err := w.plan(ctx, kind, req, id)
	if err != nil {
		return w.view(false), err
	}
	w.inputs++
	seq := w.apply(ctx, req, p)
	v := w.view(p.action != domain.LimitsRequest)
	w.remember(req.CmdID, v)
	w.wakeUp()
	if err := workflow.Await(ctx, func() bool { return w.published >= seq }); err != nil {
		return v, err
	}
	return v, nil
}

// remember keeps the result of cmdID, forgetting the oldest beyond
// appliedLimit.
func (w *limitsRun) remember(cmdID string, v LimitsView) {
	w.c.Applied[cmdID] = v
	w.c.AppliedOrder = append(w.c.AppliedOrder, cmdID)
	if n := len(w.c.AppliedOrder) - appliedLimit; n > 0 {
		for _, id := range w.c.AppliedOrder[:n] {
			delete(w.c.Applied, id)
		}
		w.c.AppliedOrder = slices.Clone(w.c.AppliedOrder[n:])
	}
}

func (w *limitsRun) wakeUp() { w.wake.SendAsync(struct{}{}) }

func (w *limitsRun) idle() bool { return len(w.queue) == 0 && !w.publishing }

func (w *limitsRun) shouldContinueAsNew(ctx workflow.Context) bool {
	return runFull(ctx, w.s.MaxHistoryEvents, w.inputs, w.s.MaxInputsPerRun)
}

// continueAsNew hands the state, with its pending raise and approval (whose
// timers the next run arms again from their absolute times), to a new run
// once every publish has landed and every update has returned.
func (w *limitsRun) continueAsNew(ctx workflow.Context) (LimitsView, error) {
	w.timer.stop()
	if err := workflow.Await(ctx, func() bool { return w.idle() && workflow.AllHandlersFinished(ctx) }); err != nil {
		return w.view(true), err
	}
	carry := w.c
	w.log.Info("continuing as new", "inputs", w.inputs, "version", w.c.Version,
		"history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return w.view(true), workflow.NewContinueAsNewError(ctx, LimitsWorkflowName, LimitsInput{Scope: w.scope, Carry: &carry})
}

// nextDeadline is the earliest time something happens by itself, Unix ms,
// or 0, with the timer's summary in words.
func (w *limitsRun) nextDeadline() (int64, string) {
	var at int64
	var what string
	if w.c.Base != nil && w.c.ExpiresAt > 0 {
		at, what = w.c.ExpiresAt, "raise expires "+clock(w.c.ExpiresAt)
	}
	if p := w.c.Pending; p != nil {
		switch {
		case at == 0 || p.ExpiresAt < at:
			at, what = p.ExpiresAt, "four-eyes window ends "+clock(p.ExpiresAt)
		case p.ExpiresAt == at:
			what += "; four-eyes window ends"
		}
	}
	return at, what
}

// armTimer returns a future ready at the next deadline, its timer summarized.
func (w *limitsRun) armTimer(ctx workflow.Context) workflow.Future {
	at, what := w.nextDeadline()
	return w.timer.arm(ctx, at, func() (string, bool) { return what, true })
}

// publisher publishes queued changes in order, one local activity at a
// time, retrying until each batch lands.
func (w *limitsRun) publisher(ctx workflow.Context) {
	for {
		if err := workflow.Await(ctx, func() bool { return len(w.queue) > 0 && !w.publishing }); err != nil {
			return
		}
		if !w.publishBatch(ctx) {
			if ctx.Err() != nil {
				return
			}
			_ = workflow.NewTimerWithOptions(ctx, 5*time.Second,
				workflow.TimerOptions{Summary: "retry publishing to " + domain.TopicLimits}).Get(ctx, nil)
		}
	}
}

// publishBatch publishes what is queued with one local activity and
// reports whether it landed.
func (w *limitsRun) publishBatch(ctx workflow.Context) bool {
	batch := slices.Clone(w.queue)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute,
		StartToCloseTimeout:    10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    50 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Second,
		},
		Summary: publishSummary(batch),
	})
	w.publishing = true
	err := workflow.ExecuteLocalActivity(lctx, activities.PublishLimitsName, batch).Get(lctx, nil)
	w.publishing = false
	if err != nil {
		var canceled *temporal.CanceledError
		if !errors.As(err, &canceled) {
			w.log.Error("limits publish failed, retrying", "version", w.c.Version, "error", err)
		}
		return false
	}
	w.queue = w.queue[len(batch):]
	w.published += int64(len(batch))
	return true
}

// publishSummary says what a batch publishes, for the Web UI's timeline:
// "SET v1764684000000000 of ACCOUNT:1 to risk.limits.v1".
func publishSummary(batch []activities.LimitsPublication) string {
	last := batch[len(batch)-1]
	s := fmt.Sprintf("%s of %s to %s", last.Command.Action, last.Command.Scope, domain.TopicLimitsCommands)
	if last.Record != nil {
		s = fmt.Sprintf("%s v%d of %s (%s) to %s and %s", last.Command.Action, last.Record.Version, last.Command.Scope,
			describeLimits(last.Record.Limits), domain.TopicLimits, domain.TopicLimitsCommands)
	}
	if len(batch) > 1 {
		s = fmt.Sprintf("%d changes, the last %s", len(batch), s)
	}
	return "publish " + s
}
