package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/gen"
)

var orderSeq atomic.Int64

// order builds a valid order for an account with a unique id.
func order(account, symbol string) domain.Order {
	return domain.Order{
		OrderID:   fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), orderSeq.Add(1)),
		TS:        time.Now().UnixMilli(),
		AccountID: account, Symbol: symbol, Side: domain.Buy, Qty: 10, Price: 100, Strategy: "VWAP",
	}
}

// TestKillLoop is the whole loop on the embedded stack: a panicking account
// is killed by the detector through its workflow, the router drops its
// orders with the kill's corr_id while others trade, the kill is visible by
// search attribute, only an authenticated unkill releases it, and bad input
// gets clear errors without crashing anything.
func TestKillLoop(t *testing.T) {
	// The panic crosses the default ACCOUNT window caps, which would BLOCK the
	// order after the unkill: this test is about the kill loop, so its limits
	// are loose (the limits tests cover BLOCK).
	s := startStack(t, devstack.Options{Limits: looseLimits()})
	ctx := context.Background()
	reader := readTopics(t, s, domain.TopicAudit, domain.TopicDLQ)
	cl := producer(t, s)
	const scope = domain.Scope("ACCOUNT:12345")

	// Normal traffic for the whole test, then a panic for account 12345.
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	go gen.Run(genCtx, cl, gen.Config{Mode: gen.Normal, Rate: 20})
	if n, err := gen.Run(ctx, cl, gen.Config{Mode: gen.Panic, Account: "12345", Rate: 50, Count: 150}); err != nil || n != 150 {
		t.Fatalf("panic traffic: %d orders, %v", n, err)
	}

	var killed domain.State
	eventually(t, 30*time.Second, scope.String()+" KILLED", func() bool {
		st, ok := s.States.Get(scope)
		killed = st
		return ok && st.Status == domain.StatusKilled
	})
	if killed.CorrID == "" || killed.Version <= 0 || killed.WorkflowID != scope.WorkflowID() {
		t.Fatalf("killed state lacks corr_id, version or workflow id: %+v", killed)
	}

	// Its later orders are dropped with the kill's corr_id; others pass.
	drop := reader.decided(t, cl, domain.DecisionDrop, func() domain.Order { return genOrder("12345", "MSFT") })
	if drop.CorrID != killed.CorrID {
		t.Errorf("order of the killed account: DROP with corr_id %q, want %q", drop.CorrID, killed.CorrID)
	}
	other := genOrder("54321", "MSFT")
	produceOrder(t, cl, other)
	if a := reader.audit(t, other.OrderID); a.Decision != domain.DecisionAllow {
		t.Errorf("order of another account: decision %s (%s %s), want ALLOW", a.Decision, a.Reason, a.Limit)
	}

	// The audit index answers for the dropped order with the kill behind it.
	var detail struct {
		Decision domain.Decision `json:"decision"`
		Cause    *domain.Command `json:"cause"`
	}
	eventually(t, 20*time.Second, "GET /v1/orders/"+drop.OrderID+" with its cause", func() bool {
		status, _, body := httpDo(t, "GET", s.APIURL+"/v1/orders/"+drop.OrderID, s.Token, nil)
		return status == 200 && json.Unmarshal(body, &detail) == nil && detail.Cause != nil
	})
	if detail.Decision != domain.DecisionDrop || detail.Cause.Action != domain.ActionKill || detail.Cause.CorrID != killed.CorrID {
		t.Errorf("order detail: decision %s cause %+v, want DROP caused by the KILL %s", detail.Decision, detail.Cause, killed.CorrID)
	}

	// The kill is found by search attribute, as in the Web UI.
	eventually(t, 20*time.Second, `workflow listed by KillStatus="KILLED"`, func() bool {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `KillStatus="KILLED"`})
		if err != nil {
			return false
		}
		for _, e := range resp.Executions {
			if e.Execution.WorkflowId == scope.WorkflowID() {
				return true
			}
		}
		return false
	})

	unkill := map[string]string{"scope": string(scope), "reason": "runaway algo stopped", "operator": "dev"}
	// No token or a wrong token: 401 and nothing changes.
	for name, token := range map[string]string{"missing token": "", "wrong token": "not-the-token"} {
		status, _, body := httpDo(t, "POST", s.APIURL+"/v1/unkill", token, unkill)
		if status != 401 {
			t.Errorf("%s: status %d (%s), want 401", name, status, body)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if st, _ := s.States.Get(scope); st.Status != domain.StatusKilled || st.Version != killed.Version {
		t.Fatalf("an unauthenticated unkill changed the state: %+v", st)
	}

	// A bad scope is a 400 that says what is wrong.
	status, hdr, body := httpDo(t, "POST", s.APIURL+"/v1/kill", s.Token, map[string]string{"scope": "ACCT:1", "reason": "x", "operator": "dev"})
	if status != 400 || !strings.Contains(hdr.Get("Content-Type"), "problem+json") || !strings.Contains(string(body), "ACCT:1") {
		t.Errorf("bad scope: %d %s %s, want a 400 problem naming the scope", status, hdr.Get("Content-Type"), body)
	}
	status, _, body = httpDo(t, "POST", s.APIURL+"/v1/kill", s.Token, `{"scope": "GLOBAL",`)
	if status != 400 {
		t.Errorf("malformed JSON: %d %s, want 400", status, body)
	}

	// A malformed order record is rejected to the DLQ with its error, and
	// the router carries on.
	produceRaw(t, cl, domain.TopicOrders, "12345", []byte(`{"order_id": "broken", "qty": `))
	after := genOrder("54321", "AAPL")
	produceOrder(t, cl, after)
	if a := reader.audit(t, after.OrderID); a.Decision != domain.DecisionAllow {
		t.Errorf("order after a malformed record: %s, want ALLOW", a.Decision)
	}
	eventually(t, 10*time.Second, "the malformed record in "+domain.TopicDLQ, func() bool {
		return len(reader.find(domain.TopicDLQ, func(r *kgo.Record) bool {
			for _, h := range r.Headers {
				if strings.Contains(strings.ToLower(h.Key), "error") && len(h.Value) > 0 {
					return strings.Contains(string(r.Value), "broken")
				}
			}
			return false
		})) == 1
	})

	// The account's 60 s window still holds the panic: with the detector
	// running, its next order would (rightly) start a new incident. Stop it
	// so the unkill's own effect is what is measured.
	if err := s.StopComponent(devstack.Detector); err != nil {
		t.Fatal(err)
	}
	status, _, body = httpDo(t, "POST", s.APIURL+"/v1/unkill", s.Token, unkill)
	if status != 200 {
		t.Fatalf("unkill: %d %s", status, body)
	}
	var st domain.State
	if err := json.Unmarshal(body, &st); err != nil || st.Status != domain.StatusActive {
		t.Fatalf("unkill returned %s (%v), want the ACTIVE state", body, err)
	}
	eventually(t, 10*time.Second, scope.String()+" ACTIVE in the state topic", func() bool {
		st, _ := s.States.Get(scope)
		return st.Status == domain.StatusActive && st.Version > killed.Version
	})
	reader.decided(t, cl, domain.DecisionAllow, func() domain.Order { return genOrder("12345", "MSFT") })

	select {
	case err := <-s.Failed():
		t.Fatalf("a component failed: %v", err)
	default:
	}
}

// genOrder is an order priced at the reference price riskgate gen
// publishes for its symbol, as the generator's own orders are, so the
// pre-trade collar lets it through while gen runs beside the test.
func genOrder(account, symbol string) domain.Order {
	o := order(account, symbol)
	o.Price = gen.RefPrice(symbol)
	return o
}
