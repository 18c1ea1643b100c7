package tests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/workflows"
)

// fakeControl stands in for Temporal: it applies operator updates to an
// in-memory state per scope, the way the KillSwitch workflow would, and can be
// told to fail like an unreachable Temporal.
type fakeControl struct {
	mu       sync.Mutex
	states   map[domain.Scope]domain.State
	history  map[domain.Scope][]workflows.Transition
	requests []fakeCall
	// down makes every call block until its context ends, like a Temporal
	// frontend that does not answer.
	down bool
	// publish, when set, receives every new state, like the state topic.
	publish func(domain.State)
	version int64
}

type fakeCall struct {
	Update string
	Req    workflows.OperatorRequest
}

func newFakeControl() *fakeControl {
	return &fakeControl{states: map[domain.Scope]domain.State{}, history: map[domain.Scope][]workflows.Transition{}}
}

func (f *fakeControl) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeControl) calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.requests...)
}

func (f *fakeControl) wait(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("temporal: %w", ctx.Err())
}

func (f *fakeControl) Operate(ctx context.Context, update string, req workflows.OperatorRequest) (domain.State, error) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return domain.State{}, f.wait(ctx)
	}
	defer f.mu.Unlock()
	if err := req.Validate(); err != nil {
		return domain.State{}, err
	}
	f.requests = append(f.requests, fakeCall{update, req})
	cur, open := f.states[req.Scope]
	if !open {
		cur = domain.State{Scope: req.Scope, Status: domain.StatusActive}
	}
	next := cur
	switch update {
	case workflows.UpdateKill:
		next.Status = domain.StatusKilled
		next.CorrID = domain.NewID()
	case workflows.UpdateThrottle:
		if req.MaxRatePerSecond > 1e6 {
			return domain.State{}, fmt.Errorf("update throttle: %w",
				temporal.NewApplicationError("max_rate_per_second above the configured ceiling", workflows.ErrTypeInvalid))
		}
		next.Status = domain.StatusThrottled
		next.MaxRatePerSecond = req.MaxRatePerSecond
		next.CorrID = domain.NewID()
	case workflows.UpdateUnkill:
		if !open {
			return domain.State{}, fmt.Errorf("unkill %s: %w", req.Scope, workflows.ErrNoIncident)
		}
		if cur.Status == domain.StatusActive {
			return domain.State{}, fmt.Errorf("update unkill: %w",
				temporal.NewApplicationError(fmt.Sprintf("%s is ACTIVE; nothing to unkill", req.Scope), workflows.ErrTypeConflict))
		}
		next.Status = domain.StatusActive
		next.MaxRatePerSecond = 0
	case workflows.UpdateExtend, workflows.UpdatePin, workflows.UpdateUnpin:
		if !open {
			return domain.State{}, fmt.Errorf("%s %s: %w", update, req.Scope, workflows.ErrNoIncident)
		}
	default:
		return domain.State{}, fmt.Errorf("unknown update %q", update)
	}
	f.version++
	next.Version = f.version
	next.UpdatedBy = req.Operator
	next.Reason = req.Reason
	next.LastCmdID = req.CmdID
	next.UpdatedTS = time.Now().UnixMilli()
	next.WorkflowID = req.Scope.WorkflowID()
	next.Trigger = domain.TriggerOperator
	f.states[req.Scope] = next
	f.history[req.Scope] = append(f.history[req.Scope], workflows.Transition{
		TS: next.UpdatedTS, From: cur.Status, To: next.Status, Action: actionOf(update),
		Trigger: domain.TriggerOperator, Operator: req.Operator, Reason: req.Reason, CmdID: req.CmdID, Version: next.Version,
	})
	if f.publish != nil {
		f.publish(next)
	}
	return next, nil
}

func actionOf(update string) domain.Action {
	return map[string]domain.Action{
		workflows.UpdateKill: domain.ActionKill, workflows.UpdateUnkill: domain.ActionUnkill,
		workflows.UpdateThrottle: domain.ActionThrottle, workflows.UpdateExtend: domain.ActionExtend,
		workflows.UpdatePin: domain.ActionPin, workflows.UpdateUnpin: domain.ActionUnpin,
	}[update]
}

func (f *fakeControl) History(ctx context.Context, scope domain.Scope, runID string) ([]workflows.Transition, error) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return nil, f.wait(ctx)
	}
	defer f.mu.Unlock()
	h, ok := f.history[scope]
	if !ok {
		return nil, fmt.Errorf("history of %s: %w", scope, workflows.ErrNoIncident)
	}
	return append([]workflows.Transition(nil), h...), nil
}

func (f *fakeControl) Incidents(ctx context.Context, scope domain.Scope, limit int) ([]api.Incident, error) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return nil, f.wait(ctx)
	}
	defer f.mu.Unlock()
	st, ok := f.states[scope]
	if !ok {
		return nil, nil
	}
	return []api.Incident{
		{WorkflowID: scope.WorkflowID(), RunID: "run-2", Status: "RUNNING", StartTS: st.UpdatedTS, KillState: string(st.Status)},
		{WorkflowID: scope.WorkflowID(), RunID: "run-1", Status: "COMPLETED", StartTS: st.UpdatedTS - 60_000, CloseTS: st.UpdatedTS - 1000},
	}, nil
}

func (f *fakeControl) Check(ctx context.Context) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return serviceerror.NewUnavailable("connection refused")
	}
	return nil
}

// apiHarness is a Server over a fake Temporal with one token per role.
type apiHarness struct {
	t      *testing.T
	srv    *api.Server
	ts     *httptest.Server
	ctl    *fakeControl
	lim    *fakeLimits
	table  *killstate.Table
	idx    *index.SQLite
	tokens map[string]string // name → token
}

// newAPIHarness starts a Server whose tokens are viewer "vera", operators
// "olga" and "oscar", and admins "ada" and "adam" (a second pair of eyes). The fake publishes each new state into
// the table, as the state topic would.
func newAPIHarness(t *testing.T, hooks ...func(*api.Config)) *apiHarness {
	t.Helper()
	h := &apiHarness{t: t, ctl: newFakeControl(), lim: newFakeLimits(), tokens: map[string]string{}}
	h.table = killstate.NewTable(nil)
	h.ctl.publish = h.table.ApplyState
	var entries []api.TokenEntry
	for name, role := range map[string]api.Role{"vera": api.RoleViewer, "olga": api.RoleOperator, "oscar": api.RoleOperator, "ada": api.RoleAdmin, "adam": api.RoleAdmin} {
		tok := api.NewToken()
		h.tokens[name] = tok
		entries = append(entries, api.TokenEntry{Name: name, Role: role, SHA256: api.HashToken(tok)})
	}
	toks, err := api.NewTokens(entries)
	if err != nil {
		t.Fatal(err)
	}
	h.idx, err = index.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.idx.Close() })
	cfg := api.Config{
		Control:         h.ctl,
		Limits:          h.lim,
		States:          h.table,
		Index:           h.idx,
		Tokens:          toks,
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		UpstreamTimeout: 300 * time.Millisecond,
		RateLimit:       1000,
		RateBurst:       1000,
	}
	for _, hook := range hooks {
		hook(&cfg)
	}
	h.srv, err = api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ts = httptest.NewServer(validateOpenAPI(t, h.srv.Handler()))
	t.Cleanup(h.ts.Close)
	return h
}

// do sends a request as the named token holder ("" for none) and returns
// the status, content type and body.
func (h *apiHarness) do(method, path, who, body string) (int, string, string) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case who == "":
	case strings.HasPrefix(who, "raw:"):
		req.Header.Set("Authorization", strings.TrimPrefix(who, "raw:"))
	default:
		tok, ok := h.tokens[who]
		if !ok {
			h.t.Fatalf("no token for %q", who)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}
