package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadyzServesTheDetail: with Detail set, /readyz answers with it,
// ready or not, so an operator sees why (for the router: a state too old,
// scopes held KILLED by undecodable records).
func TestReadyzServesTheDetail(t *testing.T) {
	ready := false
	h := opsEndpoint{Gatherer: newRoleRegistry(), Ready: func() bool { return ready }, NotReady: "not yet",
		Detail: func() string {
			if ready {
				return "ready; failing closed: ACCOUNT:1"
			}
			return "not ready: state too old"
		}}.handler()
	get := func() (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "state too old") {
		t.Errorf("not ready: %d %q", code, body)
	}
	ready = true
	if code, body := get(); code != http.StatusOK || !strings.Contains(body, "failing closed: ACCOUNT:1") {
		t.Errorf("ready: %d %q", code, body)
	}
}
