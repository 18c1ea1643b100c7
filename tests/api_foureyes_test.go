package tests

import (
	"net/http"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// An unpin of GLOBAL, like an unkill, waits for a second admin: the API
// answers 202 with the pending approval until it is given.
func TestAPIUnpinWaitsForFourEyes(t *testing.T) {
	h := newAPIHarness(t)
	h.ctl.mu.Lock()
	// The workflow's answer to a first unpin: still pinned, one approval.
	h.ctl.states[domain.Global] = domain.State{Scope: domain.Global, Status: domain.StatusKilled,
		Approvals: []domain.Approval{{Operator: "ada", Reason: "all clear", CmdID: "c1"}}}
	h.ctl.mu.Unlock()
	status, _, body := h.do("DELETE", "/v1/scopes/GLOBAL/pin", "ada", `{"reason":"all clear"}`)
	if status != http.StatusAccepted {
		t.Fatalf("first unpin of GLOBAL: %d %s, want 202 while the second approval is pending", status, body)
	}
	if st := decodeAs[domain.State](t, body); len(st.Approvals) != 1 || st.Approvals[0].Operator != "ada" {
		t.Errorf("pending approvals %+v", st.Approvals)
	}
}
