package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
)

// priorStateTimeout bounds how long a new run waits for the scope's prior
// state before it goes on without it: a kill must not wait on a follower
// that cannot bootstrap.
const priorStateTimeout = 10 * time.Second

// seenLimit bounds the cmd_ids remembered for idempotency (and carried by
// continue-as-new). Signals are retried within seconds, so the newest few
// thousand are plenty.
const seenLimit = 4096

var (
	saScope     = temporal.NewSearchAttributeKeyKeyword(SAKillScope)
	saScopeType = temporal.NewSearchAttributeKeyKeyword(SAKillScopeType)
	saStatus    = temporal.NewSearchAttributeKeyKeyword(SAKillStatus)
	saTrigger   = temporal.NewSearchAttributeKeyKeyword(SAKillTrigger)
)

// KillSwitch is the workflow of one scope's incident, with the default
// settings. Workers register New(settings) under WorkflowName instead.
func KillSwitch(ctx workflow.Context, in Input) (domain.State, error) {
	return run(ctx, in, DefaultSettings())
}

// New returns the KillSwitch workflow with defaults for runs whose Input
// carries no Settings. Register it under WorkflowName.
func New(defaults Settings) func(workflow.Context, Input) (domain.State, error) {
	defaults = defaults.WithDefaults()
	return func(ctx workflow.Context, in Input) (domain.State, error) {
		return run(ctx, in, defaults)
	}
}

// killSwitch is one run of the workflow. Handlers and the main loop share it;
// workflow code runs one coroutine at a time, so no locking is needed.
type killSwitch struct {
	s     Settings
	scope domain.Scope
	c     Carry
	log   log.Logger

	seen map[string]struct{}

	// queue holds transitions not yet published; a single publisher
	// coroutine drains it, so one scope never has two publishes in flight.
	queue      []activities.Publication
	publishing bool
	enqueued   int64
	published  int64

	breachCh workflow.ReceiveChannel
	normalCh workflow.ReceiveChannel
	wake     workflow.Channel

	inputs      int
	startMS     int64
	idleExpired bool
	// ready says the run knows where it starts from (the prior state is
	// read); update handlers wait for it before they change anything.
	ready bool

	timer deadlineTimer

	sa [4]string // search attribute values last upserted
	// shown is the last state published, the one routers enforce; with
	// visAfterPublish (versionVisibilityAfterPublish) the search attributes
	// show it rather than the workflow's newest state.
	shown           domain.State
	visAfterPublish bool
	// summaries is 1 once the run has decided, with versionSummaries, to
	// give its timers and local activities summaries, -1 if not.
	summaries int8
	// failingSince (Unix ms) and publishErr describe a publish that has
	// been failing, for the memo; zero when publishing works.
	failingSince int64
	publishErr   string
}

func run(ctx workflow.Context, in Input, defaults Settings) (domain.State, error) {
	scope, err := domain.ParseScope(string(in.Scope))
	if err != nil {
		return domain.State{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("start KillSwitch: %v", err), ErrTypeInvalid, err)
	}
	w := &killSwitch{
		scope:   scope,
		seen:    map[string]struct{}{},
		startMS: workflow.Now(ctx).UnixMilli(),
		log:     log.With(workflow.GetLogger(ctx), "scope", scope),
	}
	w.s = resolveSettings(ctx, in, defaults)
	if in.Carry != nil {
		w.c = *in.Carry
		for _, id := range w.c.Seen {
			w.seen[id] = struct{}{}
		}
	} else {
		info := workflow.GetInfo(ctx)
		w.c.State = domain.State{
			Scope:             scope,
			Status:            domain.StatusActive,
			AutoUnkillEnabled: true,
			WorkflowID:        info.WorkflowExecution.ID,
		}
	}
	w.c.State.RunID = workflow.GetInfo(ctx).WorkflowExecution.RunID
	w.shown = w.c.State
	// Decided before the handlers exist: an update delivered with the start
	// runs as soon as its handler is registered, and on the old path it must
	// not wait for anything.
	readPrior := in.Carry == nil &&
		workflow.GetVersion(ctx, versionPriorState, workflow.DefaultVersion, 1) >= 1
	w.ready = !readPrior
	if err := w.setup(ctx); err != nil {
		return w.c.State, err
	}
	if readPrior {
		w.adoptPrior(ctx)
		w.ready = true
	}
	if in.Breach != nil {
		w.c.Pending = append([]PendingSignal{{Breach: in.Breach}}, w.c.Pending...)
	}
	return w.run(ctx)
}

// adoptPrior starts a new incident where the scope's previous one left off:
// its version above the last published one (even if the workflow clock is
// behind it) and the offences of the offence window, so repeated incidents
// pin the scope. Without the prior state (it could not be read in time) the
// run goes on from workflow time alone rather than delay a kill.
func (w *killSwitch) adoptPrior(ctx workflow.Context) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: priorStateTimeout,
		StartToCloseTimeout:    priorStateTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    100 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Second,
		},
	})
	var prior domain.State
	if err := workflow.ExecuteLocalActivity(lctx, activities.PriorStateName, w.scope).Get(lctx, &prior); err != nil {
		w.log.Error("prior state unavailable: versions start from workflow time and earlier incidents' offences are not counted",
			"error", err)
		return
	}
	if prior.Scope != w.scope || prior.Version <= 0 {
		return
	}
	w.c.State.Version = max(w.c.State.Version, prior.Version)
	w.c.Offences = w.offencesSince(prior.Offences, workflow.Now(ctx).UnixMilli())
	w.log.Info("prior state adopted", "prior_run_id", prior.RunID, "prior_status", prior.Status,
		"prior_version", prior.Version, "offences", len(w.c.Offences))
}

// offencesSince returns the offences still inside the offence window at
// now (Unix ms), as a new slice.
func (w *killSwitch) offencesSince(offences []int64, now int64) []int64 {
	cut := now - w.s.OffenceWindow.Milliseconds()
	var out []int64
	for _, t := range offences {
		if t > cut {
			out = append(out, t)
		}
	}
	return out
}

// resolveSettings takes the run's settings from its input or, for a fresh
// run, from the worker's defaults recorded once in history.
func resolveSettings(ctx workflow.Context, in Input, defaults Settings) Settings {
	if in.Settings != nil {
		return in.Settings.WithDefaults()
	}
	var s Settings
	enc := workflow.SideEffect(ctx, func(workflow.Context) any { return defaults })
	if err := enc.Get(&s); err != nil {
		return defaults
	}
	return s.WithDefaults()
}

// setup registers the query and update handlers and opens the signal channels.
func (w *killSwitch) setup(ctx workflow.Context) error {
	w.breachCh = workflow.GetSignalChannelWithOptions(ctx, SignalBreach, workflow.SignalChannelOptions{
		Description: "Detector breach: {cmd_id, scope, rule, metric, value, threshold, window, reason, action?, max_rate_per_second?}. Kills (or throttles) the scope."})
	w.normalCh = workflow.GetSignalChannelWithOptions(ctx, SignalNormal, workflow.SignalChannelOptions{
		Description: "Detector: the scope has stayed under every rule. {cmd_id, scope}. Lets auto-unkill proceed after the cooldown."})
	w.wake = workflow.NewBufferedChannel(ctx, 1)
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryState, func() (domain.State, error) {
		return w.stateView(), nil
	}, workflow.QueryHandlerOptions{Description: "The scope's current state, as published to killswitch.state.v1 (plus pending approvals)."}); err != nil {
		return fmt.Errorf("set query %s: %w", QueryState, err)
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryHistory, func() ([]Transition, error) {
		return slices.Clone(w.c.History), nil
	}, workflow.QueryHandlerOptions{Description: "Every transition of this incident: from, to, action, who, why, when."}); err != nil {
		return fmt.Errorf("set query %s: %w", QueryHistory, err)
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryIncident, func() (Carry, error) {
		c := w.c
		c.State = w.stateView()
		c.History = slices.Clone(c.History)
		c.Seen = w.seenList()
		c.Offences = slices.Clone(c.Offences)
		c.Pending = nil
		return c, nil
	}, workflow.QueryHandlerOptions{Description: "Everything the run knows of its incident (state, history, offences, applied cmd_ids)."}); err != nil {
		return fmt.Errorf("set query %s: %w", QueryIncident, err)
	}
	const body = "{cmd_id, scope, reason, operator"
	updates := []struct {
		name     string
		validate func(workflow.Context, OperatorRequest) error
		apply    func(workflow.Context, OperatorRequest) int64
		doc      string
	}{
		{UpdateKill, w.validateKill, w.applyKill, "Operator kill: " + body + ", cooldown_seconds?, auto_unkill?}. Returns the new state."},
		{UpdateUnkill, w.validateUnkill, w.applyUnkill, "Operator release, now: " + body + "}. GLOBAL needs two different operators."},
		{UpdateThrottle, w.validateThrottle, w.applyThrottle, "Operator throttle: " + body + ", max_rate_per_second}."},
		{UpdateExtend, w.validateExtend, w.applyExtend, "Extend the cooldown: " + body + ", cooldown_seconds}."},
		{UpdatePin, w.validatePin, w.applyPin, "Pin: no auto-unkill until unpinned. " + body + "}."},
		{UpdateUnpin, w.validateUnpin, w.applyUnpin, "Unpin: auto-unkill allowed again. " + body + "}. GLOBAL needs two different operators."},
	}
	for _, u := range updates {
		validate, apply := u.validate, u.apply
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, req OperatorRequest) (domain.State, error) {
				return w.handleUpdate(ctx, req, apply)
			},
			workflow.UpdateHandlerOptions{
				Description: u.doc,
				Validator: func(ctx workflow.Context, req OperatorRequest) error {
					if err := w.validateRequest(req); err != nil {
						return err
					}
					if w.isSeen(req.CmdID) {
						return nil // a repeat: the handler answers with the current state
					}
					return validate(ctx, req)
				},
			})
		if err != nil {
			return fmt.Errorf("set update %s: %w", u.name, err)
		}
	}
	return nil
}

// run is the main loop: it applies signals and timers until the incident is
// over, continuing as new when the history grows large.
func (w *killSwitch) run(ctx workflow.Context) (domain.State, error) {
	if w.c.Started {
		w.upsertVisibility(ctx)
	}
	// Apply every input already delivered (the SignalWithStart signal,
	// carried signals, a burst) before the publisher starts, so the first
	// publish carries the settled state rather than one per input.
	pending := w.c.Pending
	w.c.Pending = nil
	for _, p := range pending {
		w.applyPending(ctx, p)
	}
	w.drainSignals(ctx)
	workflow.Go(ctx, w.publisher)

	for {
		for !w.finished() {
			if w.shouldContinueAsNew(ctx) {
				return w.continueAsNew(ctx)
			}
			sel := workflow.NewSelector(ctx)
			// Normal before breach: when both arrive together the breach
			// is applied last and wins, keeping the scope killed.
			sel.AddReceive(w.normalCh, func(c workflow.ReceiveChannel, _ bool) {
				var sig NormalSignal
				c.Receive(ctx, &sig)
				w.inputs++
				w.onNormal(ctx, sig)
			})
			sel.AddReceive(w.breachCh, func(c workflow.ReceiveChannel, _ bool) {
				var sig BreachSignal
				c.Receive(ctx, &sig)
				w.inputs++
				w.onBreach(ctx, sig)
			})
			sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) {
				c.Receive(ctx, nil)
			})
			if f := w.armTimer(ctx); f != nil {
				sel.AddFuture(f, func(workflow.Future) {
					w.timer.fired()
					w.onDeadline(ctx)
				})
			}
			sel.Select(ctx)
		}
		w.timer.stop()
		// Let every publish land and every update return before the run
		// completes; an update in between may reopen the incident.
		if err := workflow.Await(ctx, func() bool {
			return w.idle() && workflow.AllHandlersFinished(ctx)
		}); err != nil {
			return w.c.State, err
		}
		if w.finished() && w.drainAtClose(ctx) {
			continue
		}
		if w.finished() {
			w.log.Info("incident closed", "corr_id", w.c.State.CorrID, "version", w.c.State.Version)
			return w.c.State, nil
		}
	}
}

// drainAtClose applies the signals that arrived while the run was closing
// (in its last workflow task): completing would drop them, and a breach
// right after a release must kill again. It reports whether any was applied.
func (w *killSwitch) drainAtClose(ctx workflow.Context) bool {
	if w.breachCh.Len() == 0 && w.normalCh.Len() == 0 {
		return false
	}
	if workflow.GetVersion(ctx, versionDrainAtClose, workflow.DefaultVersion, 1) < 1 {
		return false
	}
	w.drainSignals(ctx)
	return true
}

// finished says the run has nothing left to do: the incident began and is
// over, or nothing ever happened before the idle timeout.
func (w *killSwitch) finished() bool {
	if w.c.Started {
		return w.c.State.Status == domain.StatusActive
	}
	return w.idleExpired
}

func (w *killSwitch) idle() bool { return len(w.queue) == 0 && !w.publishing }

// drainSignals applies every signal already buffered, without blocking.
func (w *killSwitch) drainSignals(ctx workflow.Context) {
	w.buffered(func(p PendingSignal) {
		w.inputs++
		w.applyPending(ctx, p)
	})
}

func (w *killSwitch) shouldContinueAsNew(ctx workflow.Context) bool {
	return runFull(ctx, w.s.MaxHistoryEvents, w.inputs, w.s.MaxInputsPerRun)
}

// runFull reports whether a run should continue as new: Temporal suggests
// it, its history has maxEvents events, or it has applied maxInputs inputs.
func runFull(ctx workflow.Context, maxEvents, inputs, maxInputs int) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() ||
		info.GetCurrentHistoryLength() >= maxEvents ||
		inputs >= maxInputs
}

// continueAsNew hands the incident to a new run once every publish has landed
// and every update handler has returned. Signals still buffered travel as
// Pending, in the order the main loop would have applied them.
func (w *killSwitch) continueAsNew(ctx workflow.Context) (domain.State, error) {
	w.timer.stop()
	if err := workflow.Await(ctx, func() bool {
		return w.idle() && workflow.AllHandlersFinished(ctx)
	}); err != nil {
		return w.c.State, err
	}
	carry := w.c
	carry.Pending = nil
	w.buffered(func(p PendingSignal) { carry.Pending = append(carry.Pending, p) })
	carry.Seen = w.seenList()
	w.log.Info("continuing as new", "corr_id", w.c.State.CorrID, "inputs", w.inputs,
		"pending", len(carry.Pending), "history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	s := w.s
	return w.c.State, workflow.NewContinueAsNewError(ctx, WorkflowName, Input{Scope: w.scope, Settings: &s, Carry: &carry})
}

// publisher publishes queued transitions in order, one local activity at a
// time, retrying until each batch lands.
func (w *killSwitch) publisher(ctx workflow.Context) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute,
		StartToCloseTimeout:    10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    50 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Second,
		},
	})
	for {
		if err := workflow.Await(ctx, func() bool { return len(w.queue) > 0 }); err != nil {
			return
		}
		batch := slices.Clone(w.queue)
		actx := lctx
		if w.withSummaries(ctx) {
			opts := workflow.GetLocalActivityOptions(lctx)
			opts.Summary = publishStateSummary(batch)
			actx = workflow.WithLocalActivityOptions(ctx, opts)
		}
		w.publishing = true
		err := workflow.ExecuteLocalActivity(actx, activities.PublishName, batch).Get(actx, nil)
		w.publishing = false
		if err != nil {
			var canceled *temporal.CanceledError
			if errors.As(err, &canceled) {
				return
			}
			last := batch[len(batch)-1].State
			w.log.Error("publish failed, retrying", "corr_id", last.CorrID, "version", last.Version, "error", err)
			w.onPublishFailed(ctx, err)
			if w.withSummaries(ctx) {
				_ = workflow.NewTimerWithOptions(ctx, 5*time.Second,
					workflow.TimerOptions{Summary: "retry publishing to " + domain.TopicState}).Get(ctx, nil)
			} else {
				_ = workflow.Sleep(ctx, 5*time.Second)
			}
			continue
		}
		w.queue = w.queue[len(batch):]
		w.published += int64(len(batch))
		w.onPublished(ctx, batch[len(batch)-1].State)
	}
}

// handleUpdate applies an accepted operator request once (by cmd_id) and
// returns the state it produced after that state has been published.
func (w *killSwitch) handleUpdate(ctx workflow.Context, req OperatorRequest, apply func(workflow.Context, OperatorRequest) int64) (domain.State, error) {
	// An UpdateWithStart arrives while the run still reads its prior state;
	// its transition must be versioned above the previous incident's.
	if err := workflow.Await(ctx, func() bool { return w.ready }); err != nil {
		return w.stateView(), err
	}
	if w.isSeen(req.CmdID) {
		return w.stateView(), nil
	}
	w.markSeen(req.CmdID)
	w.inputs++
	if newPath(ctx, versionVerifiedIdentity) {
		ctx = w.recordIdentity(ctx, req)
	}
	seq := apply(ctx, req)
	st := w.stateView()
	w.wakeUp()
	if seq > 0 {
		if err := workflow.Await(ctx, func() bool { return w.published >= seq }); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (w *killSwitch) wakeUp() { w.wake.SendAsync(struct{}{}) }

// stateView is a copy of the current state safe to hand out.
func (w *killSwitch) stateView() domain.State {
	st := w.c.State
	st.Approvals = slices.Clone(st.Approvals)
	return st
}

func (w *killSwitch) isSeen(id string) bool {
	if id == "" {
		return false
	}
	_, ok := w.seen[id]
	return ok
}

func (w *killSwitch) markSeen(id string) {
	if id == "" {
		return
	}
	w.seen[id] = struct{}{}
	w.c.Seen = append(w.c.Seen, id)
	if len(w.c.Seen) > 2*seenLimit {
		for _, old := range w.c.Seen[:len(w.c.Seen)-seenLimit] {
			delete(w.seen, old)
		}
		w.c.Seen = slices.Clone(w.c.Seen[len(w.c.Seen)-seenLimit:])
	}
}

func (w *killSwitch) seenList() []string {
	if len(w.c.Seen) > seenLimit {
		return slices.Clone(w.c.Seen[len(w.c.Seen)-seenLimit:])
	}
	return slices.Clone(w.c.Seen)
}

// cmdID returns id, or a deterministic one for an input that had none
// (a signal typed into the Web UI, say).
func (w *killSwitch) cmdID(ctx workflow.Context, id string) string {
	if id != "" {
		return id
	}
	w.c.Seq++
	return fmt.Sprintf("%s-%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, w.c.Seq)
}
