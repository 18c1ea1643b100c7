package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/workflows"
)

// The limits routes (DESIGN §9, issue 13): read a scope's effective
// limits, change them through its Limits workflow, and approve or reject a
// change waiting for a second operator. The workflow decides what needs
// that approval; the API decides who may ask: a viewer reads, an operator
// changes within the ceilings of the limits file, an admin beyond them (the
// request says so: LimitsRequest.Admin) and approves. GLOBAL needs admin,
// as it does for kills.

// LimitsList is the body of GET /v1/limits.
type LimitsList struct {
	// Scopes are the scopes whose limits differ from their type's
	// defaults or have a change pending, with their views.
	Scopes []workflows.LimitsView `json:"scopes"`
	// Warnings name the scopes whose view could not be read.
	Warnings []string `json:"warnings,omitempty"`
}

// maxLimitedScopes bounds GET /v1/limits.
const maxLimitedScopes = 500

// maxRaise bounds how long a raise may last.
const maxRaise = 7 * 24 * time.Hour

// limitsOp describes one mutating limits route.
type limitsOp struct {
	update string
	// needs is the least role; GLOBAL always needs admin.
	needs Role
	// limits: the body carries limits (set, raise); nulls clear (set).
	limits, clears bool
	raise          bool
	symbolOnly     bool
}

var (
	limSet        = limitsOp{update: workflows.LimitsUpdateSet, needs: RoleOperator, limits: true, clears: true}
	limRaise      = limitsOp{update: workflows.LimitsUpdateRaise, needs: RoleOperator, limits: true, raise: true}
	limApprove    = limitsOp{update: workflows.LimitsUpdateApprove, needs: RoleAdmin}
	limReject     = limitsOp{update: workflows.LimitsUpdateReject, needs: RoleOperator}
	limRestrict   = limitsOp{update: workflows.LimitsUpdateRestrict, needs: RoleOperator, symbolOnly: true}
	limUnrestrict = limitsOp{update: workflows.LimitsUpdateUnrestrict, needs: RoleOperator, symbolOnly: true}
)

// needLimits writes a 503 when no LimitsControl is configured.
func (s *Server) needLimits(w http.ResponseWriter, r *http.Request) bool {
	if s.limits == nil {
		s.problem(w, r, http.StatusServiceUnavailable, "Limits unavailable", "this API has no Temporal client for the Limits workflows")
		return false
	}
	return true
}

// defaultView is the view of a scope that has no Limits workflow: its
// type's defaults from the limits file.
func (s *Server) defaultView(scope domain.Scope) workflows.LimitsView {
	v := workflows.LimitsView{
		Scope:    scope,
		Limits:   s.limitsCfg.Defaults.Of(scope.Type()).Values(),
		Ceilings: s.limitsCfg.Ceilings.Of(scope.Type()).Values(),
		Source:   map[string]string{},
		State:    workflows.LimitStateDefault,
	}
	for _, f := range setFields(v.Limits) {
		v.Source[f] = workflows.LimitSourceDefault
	}
	return v
}

// getLimits serves GET /v1/limits/{scope}.
func (s *Server) getLimits(w http.ResponseWriter, r *http.Request) {
	scope, err := scopeParam(r)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid scope", err.Error())
		return
	}
	if !s.needLimits(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	v, err := s.limits.QueryLimits(ctx, scope)
	if errors.Is(err, workflows.ErrNoLimits) {
		s.writeJSON(w, http.StatusOK, s.defaultView(scope))
		return
	}
	if err != nil {
		s.upstreamProblem(w, r, classify(err), "read the limits of "+string(scope), err)
		return
	}
	s.writeJSON(w, http.StatusOK, v)
}

// listLimits serves GET /v1/limits: every scope whose limits are not its
// type's defaults. It reads Temporal visibility (LimitState != DEFAULT)
// rather than the compacted risk.limits.v1 topic because only the workflow
// knows what an operator acts on here — a change waiting for approval, a
// raise and when it reverts — and the topic holds the overrides alone.
// While Temporal is down it answers 503; the router enforces the last
// published limits meanwhile.
func (s *Server) listLimits(w http.ResponseWriter, r *http.Request) {
	if !s.needLimits(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	scopes, err := s.limits.LimitedScopes(ctx, maxLimitedScopes)
	if err != nil {
		s.upstreamProblem(w, r, classify(err), "list the scopes with limits", err)
		return
	}
	out := LimitsList{Scopes: []workflows.LimitsView{}}
	views, errs := s.queryViews(ctx, scopes)
	for i, sc := range scopes {
		switch err := errs[i]; {
		case errors.Is(err, workflows.ErrNoLimits):
			// closed since it was listed
		case err != nil:
			out.Warnings = append(out.Warnings, fmt.Sprintf("limits of %s: %v", sc, err))
		default:
			out.Scopes = append(out.Scopes, views[i])
		}
	}
	s.writeJSON(w, http.StatusOK, out)
}

// queryConcurrency bounds the queries one list sends to Temporal at once.
const queryConcurrency = 8

// queryViews queries the views of scopes, a few at a time, in order.
func (s *Server) queryViews(ctx context.Context, scopes []domain.Scope) ([]workflows.LimitsView, []error) {
	views := make([]workflows.LimitsView, len(scopes))
	errs := make([]error, len(scopes))
	sem := make(chan struct{}, queryConcurrency)
	var wg sync.WaitGroup
	for i, sc := range scopes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			views[i], errs[i] = s.limits.QueryLimits(ctx, sc)
		})
	}
	wg.Wait()
	return views, errs
}

// changeLimits returns the handler of one mutating limits route.
func (s *Server) changeLimits(o limitsOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := IdentityFrom(r.Context())
		scope, err := scopeParam(r)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Invalid scope", err.Error())
			return
		}
		var body LimitsBody
		if status, title, detail := decodeBody(r, &body); status != 0 {
			s.problem(w, r, status, title, detail)
			return
		}
		need := o.needs
		if scope == domain.Global {
			need = RoleAdmin
		}
		if !id.Role.Allows(need) {
			s.problem(w, r, http.StatusForbidden, "Insufficient role",
				fmt.Sprintf("%s of the limits of %s needs the %s role; token %q has %s", o.update, scope, need, id.Name, id.Role))
			return
		}
		if s.refuseImpersonation(w, r, scope, id, body.Operator) {
			return
		}
		if o.symbolOnly && scope.Type() != domain.ScopeSymbol {
			s.problem(w, r, http.StatusBadRequest, "Invalid scope", fmt.Sprintf("%s applies to SYMBOL scopes only, not %s", o.update, scope))
			return
		}
		req, status, title, detail := s.limitsRequest(o, scope, id, &body)
		if status != 0 {
			s.problem(w, r, status, title, detail)
			return
		}
		if !s.settleCmdID(w, r, &req.CmdID) {
			return
		}
		if !s.needLimits(w, r) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		v, err := s.limits.OperateLimits(ctx, o.update, req)
		action := "LIMITS_" + strings.ToUpper(o.update)
		log := s.log.With("action", action, "scope", scope, "operator", id.Name, "cmd_id", req.CmdID)
		if err != nil {
			s.updateFailed(w, r, log, action, "limits change failed", fmt.Sprintf("limits %s %s (cmd_id %s)", o.update, scope, req.CmdID), err)
			return
		}
		s.metrics.actions.WithLabelValues(action, "ok").Inc()
		log.Info("limits change", "state", v.State, "applied", v.Applied, "version", v.Version, "reason", req.Reason)
		code := http.StatusOK
		if !v.Applied && o.update != workflows.LimitsUpdateApprove && o.update != workflows.LimitsUpdateReject {
			// Four eyes: the change waits for a second operator.
			code = http.StatusAccepted
		}
		s.writeJSON(w, code, v)
	}
}

// limitsRequest checks a body against its route and builds the request
// (cmd_id aside). A non-zero status is the problem to answer.
func (s *Server) limitsRequest(o limitsOp, scope domain.Scope, id Identity, body *LimitsBody) (workflows.LimitsRequest, int, string, string) {
	req := workflows.LimitsRequest{
		CmdID: body.CmdID, Scope: scope, Operator: id.Name,
		Reason: strings.TrimSpace(body.Reason), Admin: id.Role.Allows(RoleAdmin),
	}
	switch {
	case req.Reason == "":
		return req, http.StatusBadRequest, "Reason required", "every change of limits must say why: send a non-empty reason"
	case len(req.Reason) > maxReason:
		return req, http.StatusBadRequest, "Reason too long", fmt.Sprintf("reason is %d bytes; the limit is %d", len(req.Reason), maxReason)
	case !o.limits && len(body.Limits) > 0:
		return req, http.StatusBadRequest, "Invalid request", o.update + " takes no limits: send only a reason"
	case o.limits && len(body.Limits) == 0:
		return req, http.StatusBadRequest, "Invalid request", "limits is required: an object of limit fields, e.g. {\"max_orders\": 200}"
	case !o.raise && (body.DurationSeconds != 0 || body.Until != 0):
		return req, http.StatusBadRequest, "Invalid request", "duration_seconds and until belong to a raise (POST …/raise)"
	}
	if o.limits {
		v, clear, err := parseLimits(body.Limits, scope.Type())
		if err != nil {
			return req, http.StatusBadRequest, "Invalid limit", err.Error()
		}
		if len(clear) > 0 && !o.clears {
			return req, http.StatusBadRequest, "Invalid limit",
				clear[0] + ": a raise sets values; clear a field with PUT /v1/limits/{scope} and a null"
		}
		req.Limits, req.Clear = v, clear
		// The workflow judges the change with the worker's limits file; this
		// answers an operator's request beyond the ceilings with a 403 before
		// Temporal is asked (give the API the worker's --limits file).
		if over := beyondCeilings(s.limitsCfg, scope.Type(), v); len(over) > 0 && !req.Admin {
			return req, http.StatusForbidden, "Beyond the ceilings",
				fmt.Sprintf("%s above the %s ceilings of the limits file: only an admin may ask for that (and a second operator approves it); token %q has %s",
					strings.Join(over, ", "), scope.Type(), id.Name, id.Role)
		}
	}
	if o.raise {
		req.DurationSeconds, req.Until = body.DurationSeconds, body.Until
		now := s.cfg.Now()
		switch {
		case (req.DurationSeconds == 0) == (req.Until == 0):
			return req, http.StatusBadRequest, "Invalid raise", "a raise needs one of duration_seconds or until (Unix milliseconds)"
		case req.DurationSeconds < 0 || time.Duration(req.DurationSeconds)*time.Second > maxRaise:
			return req, http.StatusBadRequest, "Invalid raise", fmt.Sprintf("duration_seconds %d is outside 1..%d", req.DurationSeconds, int64(maxRaise/time.Second))
		case req.Until != 0 && (req.Until <= now.UnixMilli() || req.Until > now.Add(maxRaise).UnixMilli()):
			return req, http.StatusBadRequest, "Invalid raise", fmt.Sprintf("until %d must be in the future, within %s", req.Until, maxRaise)
		}
	}
	return req, 0, "", ""
}

// LimitsHistory is the body of GET /v1/limits/{scope}/history.
type LimitsHistory struct {
	Scope domain.Scope `json:"scope"`
	// Changes are the scope's changes of limits, newest first: who, why,
	// old → new (risk.limits.commands.v1, from the audit index).
	Changes []domain.LimitsCommand `json:"changes"`
}

// limitsHistory serves GET /v1/limits/{scope}/history?since=&limit=, from
// the audit index, so it answers while Temporal is down.
func (s *Server) limitsHistory(w http.ResponseWriter, r *http.Request) {
	scope, err := scopeParam(r)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid scope", err.Error())
		return
	}
	if !s.needIndex(w, r) {
		return
	}
	q := index.LimitsCommandQuery{Scope: scope, Limit: 50}
	v := r.URL.Query()
	if q.Since, err = parseTime(v.Get("since"), s.cfg.Now()); err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid history query", "since: "+err.Error())
		return
	}
	if !s.limitParam(w, r, v, "Invalid history query", 1000, &q.Limit) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	cmds, err := s.index.LimitsCommands(ctx, q)
	if err != nil {
		s.indexProblem(w, r, "query limits changes", err)
		return
	}
	s.writeJSON(w, http.StatusOK, LimitsHistory{Scope: scope, Changes: cmds})
}
