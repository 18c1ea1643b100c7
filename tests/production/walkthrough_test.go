package production

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// TestKillWalkthrough is the README's five-minute kill on the production
// topology, through the API: a panicking account is KILLED by a detector
// and a worker, the routers DROP its orders with the kill's corr_id,
// Temporal's visibility on PostgreSQL finds it by KillStatus="KILLED", an
// operator unkills it and its orders are ALLOWed again.
func TestKillWalkthrough(t *testing.T) {
	s := stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	from := time.Now().Add(-time.Second)

	var genOut bytes.Buffer
	gen := s.Riskgate(ctx, "gen", "panic", "--account", "12345", "--duration", "10s")
	gen.Stdout, gen.Stderr = &genOut, &genOut
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	d := waitScope(t, s, "ACCOUNT:12345", 2*time.Minute, "KILLED by the detector", func(st domain.State) bool {
		return st.Status == domain.StatusKilled
	})
	kill := *d.State
	if kill.UpdatedBy != string(domain.TriggerDetector) || !strings.Contains(kill.Reason, "account_count_1m") {
		t.Errorf("the kill says by %q: %q; want the detector's account_count_1m", kill.UpdatedBy, kill.Reason)
	}
	// The incident comes from Temporal's visibility, a moment behind the state.
	var warnings []string
	eventually(t, time.Minute, "the open incident of ACCOUNT:12345 with the kill in its history", func() bool {
		status, b := call(t, s, "GET", "/v1/scopes/ACCOUNT:12345", nil)
		d = scopeDetail{}
		if status != http.StatusOK || json.Unmarshal(b, &d) != nil {
			return false
		}
		warnings = d.Warnings
		return d.Incident != nil && len(d.Incident.History) > 0 && d.Incident.History[0].To == domain.StatusKilled
	}, func() string { return fmt.Sprintf("incident %+v, warnings %v", d.Incident, warnings) })

	// The audit trail (via the indexer): DROPs carrying the kill's corr_id.
	var drops []domain.AuditRecord
	eventually(t, time.Minute, "DROP audit records of account 12345 in /v1/audit", func() bool {
		status, b := call(t, s, "GET", "/v1/audit?account=12345&decision=DROP&since=10m", nil)
		var page struct {
			Records []domain.AuditRecord `json:"records"`
		}
		if status != http.StatusOK || json.Unmarshal(b, &page) != nil {
			return false
		}
		drops = page.Records
		return len(drops) > 0
	})
	for _, a := range drops {
		if a.CorrID != kill.CorrID {
			t.Fatalf("DROP of %s carries corr_id %q, want the kill's %q", a.OrderID, a.CorrID, kill.CorrID)
		}
	}

	// The operator's query on Temporal's SQL visibility.
	listed := func() string {
		out, err := exec.CommandContext(ctx, s.Tools().CLI, "workflow", "list", "--address", s.Temporal,
			"--namespace", s.Namespace, "--query", `KillStatus="KILLED"`).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal workflow list: %v\n%s", err, out)
		}
		return string(out)
	}
	var out string
	eventually(t, time.Minute, `killswitch/ACCOUNT:12345 in temporal workflow list --query 'KillStatus="KILLED"'`,
		func() bool { out = listed(); return strings.Contains(out, "killswitch/ACCOUNT:12345") },
		func() string { return out })

	if err := gen.Wait(); err != nil {
		t.Fatalf("riskgate gen panic: %v\n%s", err, genOut.String())
	}
	st := operate(t, s, "/v1/unkill", map[string]any{"scope": "ACCOUNT:12345", "reason": "runaway algo stopped"})
	if st.Status != domain.StatusActive || st.UpdatedBy != "harness-operator" {
		t.Fatalf("unkill returned %+v, want ACTIVE by harness-operator", st)
	}
	eventually(t, time.Minute, `killswitch/ACCOUNT:12345 gone from KillStatus="KILLED"`,
		func() bool { out = listed(); return !strings.Contains(out, "killswitch/ACCOUNT:12345") },
		func() string { return out })

	// Orders of the account are allowed again.
	f := &flow{s: s, name: "walk", want: map[string]domain.Decision{}}
	cl, err := s.KafkaConfig("test-walk").NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f.cl = cl
	o := f.order("12345", "AAPL")
	if err := f.produce(domain.DecisionAllow, o); err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Decision domain.Decision `json:"decision"`
	}
	eventually(t, time.Minute, "the decision of "+o.OrderID+" in /v1/orders", func() bool {
		status, b := call(t, s, "GET", "/v1/orders/"+o.OrderID, nil)
		return status == http.StatusOK && json.Unmarshal(b, &detail) == nil && detail.Decision != ""
	})
	if detail.Decision != domain.DecisionAllow {
		t.Fatalf("order %s after the unkill was %s, want ALLOW", o.OrderID, detail.Decision)
	}

	if err := caughtUp(s, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Riskgate(ctx, "reconcile", "--from", fmt.Sprint(from.UnixMilli())).CombinedOutput()
	if err != nil || !strings.Contains(string(rec), "reconcile: OK") {
		t.Fatalf("riskgate reconcile: %v\n%s", err, rec)
	}
}
