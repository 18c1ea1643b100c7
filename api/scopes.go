package api

import (
	"net/http"
	"strings"

	"github.com/riskgate/riskgate/domain"
)

// ScopeList is the body of GET /v1/scopes.
type ScopeList struct {
	Scopes []domain.State `json:"scopes"`
	// Ready is false while the kill-state table is still bootstrapping, so
	// the list may be incomplete.
	Ready bool `json:"ready"`
}

// listScopes serves GET /v1/scopes?status=KILLED&type=ACCOUNT.
func (s *Server) listScopes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var status domain.Status
	if v := q.Get("status"); v != "" {
		status = domain.Status(strings.ToUpper(v))
		if !status.Valid() {
			s.problem(w, r, http.StatusBadRequest, "Invalid status filter", "status must be ACTIVE, KILLED or THROTTLED, not "+quote(v))
			return
		}
	}
	var typ domain.ScopeType
	if v := q.Get("type"); v != "" {
		typ = domain.ScopeType(strings.ToUpper(v))
		switch typ {
		case domain.ScopeGlobal, domain.ScopeAccount, domain.ScopeSymbol, domain.ScopeStrategy:
		default:
			s.problem(w, r, http.StatusBadRequest, "Invalid type filter", "type must be GLOBAL, ACCOUNT, SYMBOL or STRATEGY, not "+quote(v))
			return
		}
	}
	out := ScopeList{Scopes: []domain.State{}, Ready: s.cfg.StateReady()}
	for _, st := range s.states.All() {
		if status != "" && st.Status != status {
			continue
		}
		if typ != "" && st.Scope.Type() != typ {
			continue
		}
		out.Scopes = append(out.Scopes, st)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// healthz serves GET /healthz (and the demo's /health): the process is up.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// whoami serves GET /v1/whoami: the identity of the caller's token, so the
// dashboard can check a token at login.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	id, _ := IdentityFrom(r.Context())
	s.writeJSON(w, http.StatusOK, id)
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + s + `"`
}
