package workflows_test

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// A Limits update is signed like a KillSwitch one, and the proof covers
// every field of the request: Admin above all, since it is what lets a
// change beyond the ceilings be requested.
func TestIdentityProofLimits(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	run := workflows.Run{ID: "run-1", Start: now.Add(-time.Hour)}
	to := workflows.UpdateTarget{WorkflowID: "limits/ACCOUNT:7", Update: workflows.LimitsUpdateSet}
	n := int64(200)
	good := workflows.LimitsRequest{CmdID: "c1", Scope: "ACCOUNT:7", Operator: "alice", Reason: "desk asked",
		Limits: domain.LimitValues{MaxOrders: &n}, Clear: []string{"credit_limit"}, DurationSeconds: 60}
	proof, err := testKeys.Sign(to, good, now)
	if err != nil {
		t.Fatal(err)
	}
	more := int64(2000)
	tests := []struct {
		name string
		req  workflows.LimitsRequest
		to   workflows.UpdateTarget
		want domain.Identity
	}{
		{"as signed", good, to, domain.IdentityVerified},
		{"admin claimed", func() workflows.LimitsRequest { r := good; r.Admin = true; return r }(), to, domain.IdentityClaimed},
		{"limit altered", func() workflows.LimitsRequest { r := good; r.Limits.MaxOrders = &more; return r }(), to, domain.IdentityClaimed},
		{"clear altered", func() workflows.LimitsRequest { r := good; r.Clear = nil; return r }(), to, domain.IdentityClaimed},
		{"duration altered", func() workflows.LimitsRequest { r := good; r.DurationSeconds = 6000; return r }(), to, domain.IdentityClaimed},
		{"operator altered", func() workflows.LimitsRequest { r := good; r.Operator = "mallory"; return r }(), to, domain.IdentityClaimed},
		{"another update", good, workflows.UpdateTarget{WorkflowID: to.WorkflowID, Update: workflows.LimitsUpdateRaise}, domain.IdentityClaimed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := testKeys.Verify(tc.to, run, tc.req, proof, now.Add(time.Second))
			if got.Identity != tc.want {
				t.Fatalf("identity %s (%s), want %s", got.Identity, got.Why, tc.want)
			}
		})
	}
	// A KillSwitch request with the same scope, operator and reason does
	// not verify under a Limits proof.
	ks := workflows.OperatorRequest{CmdID: "c1", Scope: "ACCOUNT:7", Operator: "alice", Reason: "desk asked"}
	if got := testKeys.Verify(to, run, ks, proof, now.Add(time.Second)); got.Verified() {
		t.Fatal("a KillSwitch request verified under a Limits proof")
	}
}
