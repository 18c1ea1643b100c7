package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/workflows"
)

// ScopeDetail is the body of GET /v1/scopes/{scope}.
type ScopeDetail struct {
	Scope domain.Scope `json:"scope"`
	// State is the last published state; nil if the scope was never acted on.
	State *domain.State `json:"state"`
	// Incident is the open run, with its transition history; nil when none.
	Incident *IncidentDetail `json:"incident"`
	// Incidents lists the scope's runs, newest first (the open one included).
	Incidents []Incident `json:"incidents"`
	// Commands are the scope's latest commands from the audit index.
	Commands []domain.Command `json:"commands"`
	// Warnings name the sources that could not be read; the rest is served.
	Warnings []string `json:"warnings,omitempty"`
}

// IncidentDetail is a run with its transition history.
type IncidentDetail struct {
	Incident
	History []workflows.Transition `json:"history"`
}

// scopeParam reads and validates the {scope} URL parameter.
func scopeParam(r *http.Request) (domain.Scope, error) {
	raw, err := url.PathUnescape(chi.URLParam(r, "scope"))
	if err != nil {
		return "", fmt.Errorf("%w: %v", domain.ErrInvalidScope, err)
	}
	return domain.ParseScope(raw)
}

// limitParam reads the limit query parameter into *n, left as it is when
// absent. A value that is not a whole number from 1 to most is answered with
// a 400 titled title; it reports whether the request may go on.
func (s *Server) limitParam(w http.ResponseWriter, r *http.Request, v url.Values, title string, most int, n *int) bool {
	l := v.Get("limit")
	if l == "" {
		return true
	}
	x, err := strconv.Atoi(l)
	if err != nil || x < 1 || x > most {
		s.problem(w, r, http.StatusBadRequest, title, fmt.Sprintf("limit must be between 1 and %d", most))
		return false
	}
	*n = x
	return true
}

// getScope serves GET /v1/scopes/{scope}. Temporal or the index being down
// degrades the answer (see Warnings) rather than failing it: the published
// state alone is what an operator needs most.
func (s *Server) getScope(w http.ResponseWriter, r *http.Request) {
	scope, err := scopeParam(r)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid scope", err.Error())
		return
	}
	out := ScopeDetail{Scope: scope, Incidents: []Incident{}, Commands: []domain.Command{}}
	if st, ok := s.states.Get(scope); ok {
		out.State = &st
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	incs, err := s.control.Incidents(ctx, scope, 20)
	if err != nil {
		out.Warnings = append(out.Warnings, "incidents from Temporal: "+err.Error())
	} else if incs != nil {
		out.Incidents = incs
	}
	for _, inc := range out.Incidents {
		if !inc.Open() {
			continue
		}
		hist, err := s.control.History(ctx, scope, inc.RunID)
		if err != nil {
			out.Warnings = append(out.Warnings, "history of the open incident: "+err.Error())
			break
		}
		out.Incident = &IncidentDetail{Incident: inc, History: hist}
		break
	}
	if s.index != nil {
		cmds, err := s.index.Commands(ctx, index.CommandQuery{Scope: scope, Limit: 50})
		if err != nil {
			out.Warnings = append(out.Warnings, "commands from the index: "+err.Error())
		} else {
			out.Commands = cmds
		}
	}
	if out.State == nil && len(out.Incidents) == 0 && len(out.Commands) == 0 && len(out.Warnings) == 0 {
		s.problem(w, r, http.StatusNotFound, "Unknown scope", fmt.Sprintf("%s has no state, incident or command", scope))
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}

// parseTime reads a time bound: Unix milliseconds, RFC 3339, or a duration
// ("10m") meaning that long before now. Empty is zero.
func parseTime(v string, now time.Time) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
		return ms, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d).UnixMilli(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UnixMilli(), nil
	}
	return 0, fmt.Errorf("%q is not Unix milliseconds, an RFC 3339 time or a duration such as 10m", v)
}

// needIndex writes a 503 when no index is configured.
func (s *Server) needIndex(w http.ResponseWriter, r *http.Request) bool {
	if s.index == nil {
		s.problem(w, r, http.StatusServiceUnavailable, "Audit index unavailable", "this API runs without an audit index (start the indexer and pass --data)")
		return false
	}
	return true
}

// indexProblem maps an index error.
func (s *Server) indexProblem(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, index.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "Not found", err.Error())
	case errors.Is(err, index.ErrBadCursor):
		s.problem(w, r, http.StatusBadRequest, "Invalid cursor", "cursor must be a value returned as next by a previous page")
	case errors.Is(err, context.DeadlineExceeded):
		s.problem(w, r, http.StatusServiceUnavailable, "Audit index unavailable", fmt.Sprintf("%s: no answer within %s", what, s.timeout))
	default:
		s.log.Error("index query failed", "what", what, "err", err)
		s.problem(w, r, http.StatusInternalServerError, "Index error", what+": "+err.Error())
	}
}

// auditQuery parses the audit filters shared by /v1/audit and /audit.
func (s *Server) auditQuery(r *http.Request) (index.AuditQuery, error) {
	v := r.URL.Query()
	q := index.AuditQuery{
		Account:  v.Get("account"),
		Symbol:   v.Get("symbol"),
		Strategy: v.Get("strategy"),
		CorrID:   v.Get("corr_id"),
		Cursor:   v.Get("cursor"),
	}
	for name, id := range map[string]string{"account": q.Account, "symbol": q.Symbol, "strategy": q.Strategy} {
		if id != "" {
			if err := domain.ValidateID(id); err != nil {
				return q, fmt.Errorf("%s: %v", name, err)
			}
		}
	}
	if d := v.Get("decision"); d != "" {
		q.Decision = domain.Decision(strings.ToUpper(d))
		switch q.Decision {
		case domain.DecisionAllow, domain.DecisionDrop, domain.DecisionThrottle, domain.DecisionDuplicate,
			domain.DecisionReject, domain.DecisionBlock:
		default:
			return q, fmt.Errorf("decision must be ALLOW, DROP, THROTTLE, DUPLICATE, REJECT or BLOCK, not %s", quote(d))
		}
	}
	now := s.cfg.Now()
	var err error
	if q.Since, err = parseTime(v.Get("since"), now); err != nil {
		return q, fmt.Errorf("since: %v", err)
	}
	if q.Until, err = parseTime(v.Get("until"), now); err != nil {
		return q, fmt.Errorf("until: %v", err)
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return q, fmt.Errorf("limit must be between 1 and 1000, not %s", quote(l))
		}
		q.Limit = n
	}
	return q, nil
}

// searchAudit serves GET /v1/audit: filtered, newest first, cursor-paged.
func (s *Server) searchAudit(w http.ResponseWriter, r *http.Request) {
	if page, ok := s.readAudit(w, r, true); ok {
		s.writeJSON(w, http.StatusOK, page)
	}
}

// demoAudit serves the original demo's GET /audit: the latest records as a
// plain array (same filters as /v1/audit, no paging).
func (s *Server) demoAudit(w http.ResponseWriter, r *http.Request) {
	if page, ok := s.readAudit(w, r, false); ok {
		s.writeJSON(w, http.StatusOK, page.Records)
	}
}

// readAudit runs the audit search a request asks for, from its cursor when
// paged, else from the newest record. On failure it has written the problem
// and returns false.
func (s *Server) readAudit(w http.ResponseWriter, r *http.Request, paged bool) (index.AuditPage, bool) {
	if !s.needIndex(w, r) {
		return index.AuditPage{}, false
	}
	q, err := s.auditQuery(r)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid audit query", err.Error())
		return index.AuditPage{}, false
	}
	if !paged {
		q.Cursor = ""
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	page, err := s.index.Audit(ctx, q)
	if err != nil {
		s.indexProblem(w, r, "search audit", err)
		return index.AuditPage{}, false
	}
	return page, true
}

// OrderDetail is the body of GET /v1/orders/{order_id}.
type OrderDetail struct {
	OrderID string `json:"order_id"`
	// Decision is the order's decision: that of the first record the
	// router decided (see decisive), REJECT when every submission was
	// refused as invalid.
	Decision domain.Decision `json:"decision"`
	// Records are every audit record of the order id, oldest first.
	Records []domain.AuditRecord `json:"records"`
	// Cause is the kill or throttle command behind a DROP or THROTTLE.
	Cause *domain.Command `json:"cause,omitempty"`
	// CauseState is the state that command produced, when still current.
	CauseState *domain.State `json:"cause_state,omitempty"`
	// Limit names the pre-trade limit behind a BLOCK, with its scope
	// (e.g. "ACCOUNT:12345 max_orders=100/60s").
	Limit string `json:"limit,omitempty"`
}

// getOrder serves GET /v1/orders/{order_id}: the decision and its cause (the
// kill or throttle behind a DROP or THROTTLE, the limit behind a BLOCK).
func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	if !s.needIndex(w, r) {
		return
	}
	id, err := url.PathUnescape(chi.URLParam(r, "order_id"))
	if err != nil || id == "" || len(id) > 128 {
		s.problem(w, r, http.StatusBadRequest, "Invalid order id", "order_id must be 1 to 128 characters")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	recs, err := s.index.Order(ctx, id)
	if err != nil {
		s.indexProblem(w, r, "look up order "+id, err)
		return
	}
	first := decisive(recs)
	out := OrderDetail{OrderID: id, Decision: first.Decision, Records: recs}
	if first.Decision == domain.DecisionBlock {
		// A BLOCK has no incident behind it: the router names the limit in
		// the record itself.
		out.Limit = first.Limit
	}
	if first.CorrID != "" {
		cmds, err := s.index.Commands(ctx, index.CommandQuery{CorrID: first.CorrID, Limit: 20})
		if err != nil {
			s.indexProblem(w, r, "commands of "+first.CorrID, err)
			return
		}
		// Commands come newest first; the cause is the earliest kill or
		// throttle of the incident.
		for i := len(cmds) - 1; i >= 0; i-- {
			if cmds[i].Action == domain.ActionKill || cmds[i].Action == domain.ActionThrottle {
				c := cmds[i]
				out.Cause = &c
				if st, ok := s.states.Get(c.Scope); ok && st.CorrID == c.CorrID {
					out.CauseState = &st
				}
				break
			}
		}
	}
	s.writeJSON(w, http.StatusOK, out)
}

// decisive returns the record of an order's decision among its audit
// records, oldest first: the first that is neither a REJECT nor a
// DUPLICATE. A REJECTed record (undecodable, invalid, keyed by another
// account) claims no order id, so a corrected resubmission under the same id
// is decided on its own, and that decision is the order's: the order went
// to market or not by it. Later submissions are DUPLICATEs of it. With no
// such record (every submission REJECTed, or only DUPLICATEs left in the
// index) it is the first record.
func decisive(recs []domain.AuditRecord) *domain.AuditRecord {
	for i := range recs {
		if d := recs[i].Decision; d != domain.DecisionReject && d != domain.DecisionDuplicate {
			return &recs[i]
		}
	}
	return &recs[0]
}

// SignalList is the body of GET /v1/signals.
type SignalList struct {
	Signals []domain.RiskSignal `json:"signals"`
}

// listSignals serves GET /v1/signals?scope=&breaching=true&since=10m&limit=.
func (s *Server) listSignals(w http.ResponseWriter, r *http.Request) {
	if !s.needIndex(w, r) {
		return
	}
	v := r.URL.Query()
	var q index.SignalQuery
	if sc := v.Get("scope"); sc != "" {
		scope, err := domain.ParseScope(sc)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Invalid scope", err.Error())
			return
		}
		q.Scope = scope
	}
	if b := v.Get("breaching"); b != "" {
		on, err := strconv.ParseBool(b)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Invalid signal query", "breaching must be true or false")
			return
		}
		q.Breaching = on
	}
	since, err := parseTime(v.Get("since"), s.cfg.Now())
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid signal query", "since: "+err.Error())
		return
	}
	q.Since = since
	if !s.limitParam(w, r, v, "Invalid signal query", 1000, &q.Limit) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	sigs, err := s.index.Signals(ctx, q)
	if err != nil {
		s.indexProblem(w, r, "query signals", err)
		return
	}
	s.writeJSON(w, http.StatusOK, SignalList{Signals: sigs})
}

// demoState serves the original demo's GET /state: scope → state.
func (s *Server) demoState(w http.ResponseWriter, r *http.Request) {
	out := make(map[domain.Scope]domain.State)
	for _, st := range s.states.All() {
		out[st.Scope] = st
	}
	s.writeJSON(w, http.StatusOK, out)
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Degraded lists dependencies that are down without making the API
	// unready: without Temporal, reads go on and actions answer 503.
	Degraded []string          `json:"degraded,omitempty"`
	Checks   map[string]string `json:"checks"`
}

// readyz serves GET /readyz: the kill state has bootstrapped from Kafka and
// the index answers (503 lists what is not). Temporal being down leaves the
// API ready but degraded: reads come from Kafka and the index, and the
// dashboard shows the outage.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), min(s.timeout, 3*time.Second))
	defer cancel()
	out := Readiness{Ready: true, Checks: map[string]string{}}
	fail := func(name, why string) {
		out.Ready = false
		out.Checks[name] = why
	}
	if s.cfg.StateReady() {
		out.Checks["kafka"] = "ok"
	} else {
		fail("kafka", "kill state is still bootstrapping from "+domain.TopicState)
	}
	if err := s.control.Check(ctx); err != nil {
		out.Degraded = append(out.Degraded, "temporal")
		out.Checks["temporal"] = "degraded: " + err.Error() + " (operator actions answer 503 until it is back)"
	} else {
		out.Checks["temporal"] = "ok"
	}
	switch {
	case s.index == nil:
		out.Checks["index"] = "not configured"
	case s.index.Ping(ctx) != nil:
		fail("index", "the audit index does not answer")
	default:
		out.Checks["index"] = "ok"
	}
	code := http.StatusOK
	if !out.Ready {
		code = http.StatusServiceUnavailable
	}
	s.writeJSON(w, code, out)
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
}
