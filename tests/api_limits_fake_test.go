package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/workflows"
)

// fakeLimits stands in for the Limits workflows behind the API: overrides
// per scope, a change beyond the ceilings (or any change of GLOBAL) waiting
// for a second operator, idempotent by cmd_id. It can be told to fail like
// an unreachable Temporal.
type fakeLimits struct {
	mu      sync.Mutex
	cfg     limits.Config
	views   map[domain.Scope]*workflows.LimitsView
	applied map[string]workflows.LimitsView
	calls   []fakeLimitsCall
	down    bool
	version int64
}

type fakeLimitsCall struct {
	Update string
	Req    workflows.LimitsRequest
}

func newFakeLimits() *fakeLimits {
	return &fakeLimits{cfg: limits.Default(), views: map[domain.Scope]*workflows.LimitsView{}, applied: map[string]workflows.LimitsView{}}
}

func (f *fakeLimits) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeLimits) requests() []fakeLimitsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func conflict(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), workflows.ErrTypeConflict)
}

func (f *fakeLimits) OperateLimits(ctx context.Context, update string, req workflows.LimitsRequest) (workflows.LimitsView, error) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		<-ctx.Done()
		return workflows.LimitsView{}, fmt.Errorf("temporal: %w", ctx.Err())
	}
	defer f.mu.Unlock()
	if err := req.Validate(); err != nil {
		return workflows.LimitsView{}, err
	}
	if v, ok := f.applied[req.CmdID]; ok {
		return v, nil
	}
	f.calls = append(f.calls, fakeLimitsCall{update, req})
	cur := f.views[req.Scope]
	if cur == nil {
		cur = &workflows.LimitsView{Scope: req.Scope}
		f.views[req.Scope] = cur
	}
	now := time.Now().UnixMilli()
	switch update {
	case workflows.LimitsUpdateSet, workflows.LimitsUpdateRaise, workflows.LimitsUpdateRestrict, workflows.LimitsUpdateUnrestrict:
		if cur.Pending != nil {
			return workflows.LimitsView{}, conflict("%s has a change pending approval", req.Scope)
		}
		lv, clear := req.Limits, req.Clear
		switch update {
		case workflows.LimitsUpdateRestrict:
			t := true
			lv.Restricted = &t
		case workflows.LimitsUpdateUnrestrict:
			clear = []string{"restricted"}
		}
		ceil := f.cfg.Ceilings.Of(req.Scope.Type())
		_, over := limits.Limits{}.Overlay(&lv).Clamp(ceil)
		if over || req.Scope == domain.Global {
			if !req.Admin {
				return workflows.LimitsView{}, temporal.NewApplicationError("beyond the ceilings needs an admin", workflows.ErrTypeInvalid)
			}
			cur.Pending = &workflows.PendingLimits{CmdID: req.CmdID, Kind: update, RequestedBy: req.Operator, Reason: req.Reason,
				Limits: lv, Clear: clear, DurationSeconds: req.DurationSeconds, RequestedTS: now, ExpiresAt: now + 600_000}
			f.refresh(cur)
			v := *cur
			v.Applied = false
			f.applied[req.CmdID] = v
			return v, nil
		}
		f.apply(cur, update, lv, clear, req.DurationSeconds, req.Operator, req.Reason)
	case workflows.LimitsUpdateApprove, workflows.LimitsUpdateReject:
		p := cur.Pending
		if p == nil {
			return workflows.LimitsView{}, conflict("%s has no change pending approval", req.Scope)
		}
		if p.RequestedBy == req.Operator {
			return workflows.LimitsView{}, conflict("%s asked for the change; another operator must approve or reject it", req.Operator)
		}
		cur.Pending = nil
		if update == workflows.LimitsUpdateApprove {
			f.apply(cur, p.Kind, p.Limits, p.Clear, p.DurationSeconds, req.Operator, req.Reason)
		}
	default:
		return workflows.LimitsView{}, fmt.Errorf("unknown update %q", update)
	}
	f.refresh(cur)
	v := *cur
	v.Applied = true
	f.applied[req.CmdID] = v
	return v, nil
}

func (f *fakeLimits) apply(cur *workflows.LimitsView, kind string, lv domain.LimitValues, clear []string, dur int64, who, why string) {
	o := limits.Limits{}.Overlay(&cur.Overrides).Overlay(&lv)
	cur.Overrides = withoutFields(o.Values(), clear)
	cur.ExpiresAt = 0
	if kind == workflows.LimitsUpdateRaise {
		cur.ExpiresAt = time.Now().Add(time.Duration(dur) * time.Second).UnixMilli()
	}
	f.version++
	cur.Version, cur.UpdatedBy, cur.Reason, cur.UpdatedTS = f.version, who, why, time.Now().UnixMilli()
}

// refresh recomputes the effective limits, their sources and the state.
func (f *fakeLimits) refresh(v *workflows.LimitsView) {
	def := f.cfg.Defaults.Of(v.Scope.Type())
	eff := def.Overlay(&v.Overrides)
	v.Limits = eff.Values()
	v.Source = map[string]string{}
	own := map[string]bool{}
	for _, k := range jsonKeys(v.Overrides) {
		own[k] = true
	}
	src := workflows.LimitSourceOverride
	if v.ExpiresAt != 0 {
		src = workflows.LimitSourceTemporary
	}
	for _, k := range jsonKeys(v.Limits) {
		v.Source[k] = workflows.LimitSourceDefault
		if own[k] {
			v.Source[k] = src
		}
	}
	switch {
	case v.Pending != nil:
		v.State = workflows.LimitStatePendingApproval
	case v.ExpiresAt != 0:
		v.State = workflows.LimitStateTemporary
	case len(own) > 0:
		v.State = workflows.LimitStateOverridden
	default:
		v.State = workflows.LimitStateDefault
	}
}

func (f *fakeLimits) QueryLimits(ctx context.Context, scope domain.Scope) (workflows.LimitsView, error) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		<-ctx.Done()
		return workflows.LimitsView{}, fmt.Errorf("temporal: %w", ctx.Err())
	}
	defer f.mu.Unlock()
	v, ok := f.views[scope]
	if !ok {
		return workflows.LimitsView{}, fmt.Errorf("limits of %s: %w", scope, workflows.ErrNoLimits)
	}
	return *v, nil
}

func (f *fakeLimits) LimitedScopes(ctx context.Context, limit int) ([]domain.Scope, error) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		<-ctx.Done()
		return nil, fmt.Errorf("temporal: %w", ctx.Err())
	}
	defer f.mu.Unlock()
	var out []domain.Scope
	for s, v := range f.views {
		if v.State != workflows.LimitStateDefault {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// jsonKeys are the JSON names of v's set fields.
func jsonKeys(v domain.LimitValues) []string {
	var m map[string]json.RawMessage
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &m)
	return slices.Sorted(maps.Keys(m))
}

// withoutFields is v with the named fields unset.
func withoutFields(v domain.LimitValues, names []string) domain.LimitValues {
	var m map[string]json.RawMessage
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &m)
	for _, n := range names {
		delete(m, n)
	}
	var out domain.LimitValues
	b, _ = json.Marshal(m)
	_ = json.Unmarshal(b, &out)
	return out
}
