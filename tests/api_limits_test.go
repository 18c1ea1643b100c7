package tests

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/workflows"
)

// The limits routes over the fake Limits workflows: every route, role and
// error, each response checked against openapi.json by the harness.

func noLimitsCalls(t *testing.T, h *apiHarness, _ string) {
	t.Helper()
	if n := len(h.lim.requests()); n != 0 {
		t.Errorf("%d Limits updates were sent; want none", n)
	}
}

func lastLimitsCall(t *testing.T, h *apiHarness) fakeLimitsCall {
	t.Helper()
	c := h.lim.requests()
	if len(c) == 0 {
		t.Fatal("no Limits update was sent")
	}
	return c[len(c)-1]
}

// setLimits changes a scope's limits in a case's setup.
func (h *apiHarness) setLimits(scope, who, limits string) {
	h.t.Helper()
	status, _, body := h.do("PUT", "/v1/limits/"+scope, who, fmt.Sprintf(`{"limits":%s,"reason":"setup"}`, limits))
	if status != http.StatusOK && status != http.StatusAccepted {
		h.t.Fatalf("setup set %s: %d %s", scope, status, body)
	}
}

func TestAPILimitsReads(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "a scope with no workflow shows its type's defaults", method: "GET", path: "/v1/limits/ACCOUNT:A1", who: "vera", status: 200,
			contains: []string{`"scope":"ACCOUNT:A1"`, `"max_orders":100`, `"credit_limit":25000000`, `"max_orders":"default"`, `"state":"DEFAULT"`, `"version":0`}},
		{name: "a SYMBOL's defaults", method: "GET", path: "/v1/limits/SYMBOL:ACME", who: "vera", status: 200,
			contains: []string{`"collar_pct":10`, `"collar_pct":"default"`}},
		{name: "an overridden scope", setup: func(h *apiHarness) { h.setLimits("ACCOUNT:A1", "olga", `{"max_orders":200}`) },
			method: "GET", path: "/v1/limits/ACCOUNT:A1", who: "vera", status: 200,
			contains: []string{`"max_orders":200`, `"max_orders":"override"`, `"max_notional":"default"`, `"state":"OVERRIDDEN"`, `"updated_by":"olga"`}},
		{name: "unknown scope", method: "GET", path: "/v1/limits/DESK:1", who: "vera", status: 400, contains: []string{"DESK"}},
		{name: "no token", method: "GET", path: "/v1/limits/ACCOUNT:A1", status: 401},
		{name: "Temporal down", setup: func(h *apiHarness) { h.lim.setDown(true) },
			method: "GET", path: "/v1/limits/ACCOUNT:A1", who: "vera", status: 503, contains: []string{"Temporal unavailable"}},
		{name: "list: nothing overridden", method: "GET", path: "/v1/limits", who: "vera", status: 200, contains: []string{`{"scopes":[]}`}},
		{name: "list: the overridden and the pending", setup: func(h *apiHarness) {
			h.setLimits("ACCOUNT:A1", "olga", `{"max_orders":200}`)
			h.setLimits("ACCOUNT:A2", "ada", `{"max_orders":5000}`)
		}, method: "GET", path: "/v1/limits", who: "vera", status: 200,
			contains: []string{`"scope":"ACCOUNT:A1"`, `"scope":"ACCOUNT:A2"`, `"state":"PENDING_APPROVAL"`, `"requested_by":"ada"`}},
		{name: "list: Temporal down", setup: func(h *apiHarness) { h.lim.setDown(true) },
			method: "GET", path: "/v1/limits", who: "vera", status: 503, contains: []string{"Temporal unavailable"}},
		{name: "list: no token", method: "GET", path: "/v1/limits", status: 401},
		{name: "history from the index, while Temporal is down", setup: func(h *apiHarness) {
			h.lim.setDown(true)
			n := int64(200)
			var b index.Batch
			for i, a := range []domain.LimitsAction{domain.LimitsSet, domain.LimitsRequest, domain.LimitsApprove} {
				b.Limits = append(b.Limits, index.LimitsCommandEntry{Pos: index.Pos{Offset: int64(i)}, Command: domain.LimitsCommand{
					CmdID: fmt.Sprintf("h%d", i), TS: time.Now().UnixMilli() - int64(3-i)*1000, Scope: "ACCOUNT:A1", Action: a,
					Operator: "ada", ApprovedBy: map[bool]string{true: "adam"}[a == domain.LimitsApprove], Reason: "why",
					New: domain.LimitValues{MaxOrders: &n}, Version: 1}})
			}
			b.Limits = append(b.Limits, index.LimitsCommandEntry{Pos: index.Pos{Offset: 9}, Command: domain.LimitsCommand{
				CmdID: "other", TS: time.Now().UnixMilli(), Scope: "ACCOUNT:A2", Action: domain.LimitsSet, Operator: "olga", Reason: "x"}})
			if err := h.idx.Apply(context.Background(), &b); err != nil {
				h.t.Fatal(err)
			}
		}, method: "GET", path: "/v1/limits/ACCOUNT:A1/history?limit=2", who: "vera", status: 200,
			contains: []string{`"scope":"ACCOUNT:A1"`, `"cmd_id":"h2"`, `"approved_by":"adam"`, `"cmd_id":"h1"`},
			check: func(t *testing.T, h *apiHarness, body string) {
				if strings.Contains(body, `"h0"`) || strings.Contains(body, "other") {
					t.Errorf("history beyond its limit or of another scope: %s", body)
				}
			}},
		{name: "history of an unknown scope", method: "GET", path: "/v1/limits/DESK:1/history", who: "vera", status: 400},
		{name: "history with a bad limit", method: "GET", path: "/v1/limits/ACCOUNT:A1/history?limit=0", who: "vera", status: 400},
		{name: "history without a token", method: "GET", path: "/v1/limits/ACCOUNT:A1/history", status: 401},
		{name: "history of a scope never changed", method: "GET", path: "/v1/limits/ACCOUNT:A9/history", who: "vera", status: 200,
			contains: []string{`"changes":[]`}},
	})
}

func TestAPILimitsSet(t *testing.T) {
	big := strings.Repeat("x", 70<<10)
	runAPICases(t, []apiCase{
		{name: "within the ceilings as operator", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":200,"credit_limit":1e7},"reason":"desk asked"}`, status: 200,
			contains: []string{`"max_orders":200`, `"credit_limit":10000000`, `"applied":true`},
			check: func(t *testing.T, h *apiHarness, _ string) {
				c := lastLimitsCall(t, h)
				if c.Update != workflows.LimitsUpdateSet || c.Req.Operator != "olga" || c.Req.Admin || c.Req.Reason != "desk asked" ||
					c.Req.Limits.MaxOrders == nil || *c.Req.Limits.MaxOrders != 200 || c.Req.CmdID == "" {
					t.Errorf("request %+v", c)
				}
			}},
		{name: "a null clears the field", setup: func(h *apiHarness) { h.setLimits("ACCOUNT:A1", "olga", `{"max_orders":200}`) },
			method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga", body: `{"limits":{"max_orders":null,"max_notional":2e6},"reason":"back"}`, status: 200,
			contains: []string{`"max_orders":100`, `"max_orders":"default"`},
			check: func(t *testing.T, h *apiHarness, _ string) {
				if c := lastLimitsCall(t, h); !slices.Equal(c.Req.Clear, []string{"max_orders"}) || c.Req.Limits.MaxOrders != nil {
					t.Errorf("clear %v limits %+v", c.Req.Clear, c.Req.Limits)
				}
			}},
		{name: "beyond the ceilings as operator", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":5000},"reason":"x"}`, status: 403, contains: []string{"max_orders", "ceiling"}, check: noLimitsCalls},
		{name: "beyond the ceilings as admin waits for approval", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "ada",
			body: `{"limits":{"max_orders":5000},"reason":"x"}`, status: 202,
			contains: []string{`"state":"PENDING_APPROVAL"`, `"requested_by":"ada"`, `"applied":false`},
			check: func(t *testing.T, h *apiHarness, _ string) {
				if c := lastLimitsCall(t, h); !c.Req.Admin {
					t.Error("an admin's request is not marked admin")
				}
			}},
		{name: "GLOBAL as operator", method: "PUT", path: "/v1/limits/GLOBAL", who: "olga",
			body: `{"limits":{"max_orders":100},"reason":"x"}`, status: 403, check: noLimitsCalls},
		{name: "as viewer", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "vera",
			body: `{"limits":{"max_orders":100},"reason":"x"}`, status: 403, check: noLimitsCalls},
		{name: "no token", method: "PUT", path: "/v1/limits/ACCOUNT:A1", body: `{"limits":{"max_orders":100},"reason":"x"}`, status: 401, check: noLimitsCalls},
		{name: "a bad value names its field", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":-5},"reason":"x"}`, status: 400, contains: []string{"max_orders"}, check: noLimitsCalls},
		{name: "a value of the wrong type names its field", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_notional":"lots"},"reason":"x"}`, status: 400, contains: []string{"max_notional"}, check: noLimitsCalls},
		{name: "an unknown field is named", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_ordrs":5},"reason":"x"}`, status: 400, contains: []string{"max_ordrs"}, check: noLimitsCalls},
		{name: "a field of another scope type", method: "PUT", path: "/v1/limits/SYMBOL:ACME", who: "olga",
			body: `{"limits":{"credit_limit":5},"reason":"x"}`, status: 400, contains: []string{"credit_limit", "ACCOUNT"}, check: noLimitsCalls},
		{name: "unknown scope", method: "PUT", path: "/v1/limits/ACCOUNT:has%20space", who: "olga",
			body: `{"limits":{"max_orders":5},"reason":"x"}`, status: 400, check: noLimitsCalls},
		{name: "no reason", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga", body: `{"limits":{"max_orders":5}}`, status: 400,
			contains: []string{"reason"}, check: noLimitsCalls},
		{name: "no limits", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga", body: `{"reason":"x"}`, status: 400,
			contains: []string{"limits"}, check: noLimitsCalls},
		{name: "a duration belongs to a raise", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":5},"reason":"x","duration_seconds":60}`, status: 400, check: noLimitsCalls},
		{name: "malformed JSON", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga", body: `{"limits":`, status: 400, check: noLimitsCalls},
		{name: "body too large", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":5},"reason":"` + big + `"}`, status: 413, check: noLimitsCalls},
		{name: "operator impersonation", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":5},"reason":"x","operator":"ada"}`, status: 403, check: noLimitsCalls},
		{name: "bad cmd_id", method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":5},"reason":"x","cmd_id":"has space"}`, status: 400, contains: []string{"cmd_id"}, check: noLimitsCalls},
		{name: "a change while one is pending", setup: func(h *apiHarness) { h.setLimits("ACCOUNT:A1", "ada", `{"max_orders":5000}`) },
			method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga", body: `{"limits":{"max_orders":50},"reason":"x"}`, status: 409,
			contains: []string{"pending"}},
		{name: "Temporal down", setup: func(h *apiHarness) { h.lim.setDown(true) }, method: "PUT", path: "/v1/limits/ACCOUNT:A1", who: "olga",
			body: `{"limits":{"max_orders":50},"reason":"x"}`, status: 503, contains: []string{"Temporal unavailable", "cmd_id"}},
	})
}

func TestAPILimitsRaiseApproveRestrict(t *testing.T) {
	pending := func(h *apiHarness) { h.setLimits("ACCOUNT:A1", "ada", `{"max_orders":5000}`) }
	runAPICases(t, []apiCase{
		{name: "raise for a while", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "olga",
			body: `{"limits":{"max_orders":300},"reason":"close","duration_seconds":1800}`, status: 200,
			contains: []string{`"max_orders":300`, `"max_orders":"temporary"`, `"state":"TEMPORARY"`, `"expires_at":`},
			check: func(t *testing.T, h *apiHarness, _ string) {
				if c := lastLimitsCall(t, h); c.Update != workflows.LimitsUpdateRaise || c.Req.DurationSeconds != 1800 {
					t.Errorf("request %+v", c)
				}
			}},
		{name: "raise until a time", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "olga",
			body: fmt.Sprintf(`{"limits":{"max_orders":300},"reason":"close","until":%d}`, time.Now().Add(time.Hour).UnixMilli()), status: 200},
		{name: "raise beyond the ceilings as admin waits", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "ada",
			body: `{"limits":{"max_orders":3000},"reason":"close","duration_seconds":60}`, status: 202, contains: []string{`"kind":"raise"`}},
		{name: "raise without an end", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "olga",
			body: `{"limits":{"max_orders":300},"reason":"x"}`, status: 400, contains: []string{"duration_seconds"}, check: noLimitsCalls},
		{name: "raise for too long", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "olga",
			body: `{"limits":{"max_orders":300},"reason":"x","duration_seconds":9999999}`, status: 400, check: noLimitsCalls},
		{name: "raise until the past", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "olga",
			body: `{"limits":{"max_orders":300},"reason":"x","until":1000}`, status: 400, check: noLimitsCalls},
		{name: "a raise does not clear", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "olga",
			body: `{"limits":{"max_orders":null},"reason":"x","duration_seconds":60}`, status: 400, contains: []string{"max_orders"}, check: noLimitsCalls},
		{name: "raise as viewer", method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "vera",
			body: `{"limits":{"max_orders":300},"reason":"x","duration_seconds":60}`, status: 403, check: noLimitsCalls},
		{name: "raise while Temporal is down", setup: func(h *apiHarness) { h.lim.setDown(true) }, method: "POST", path: "/v1/limits/ACCOUNT:A1/raise", who: "olga",
			body: `{"limits":{"max_orders":300},"reason":"x","duration_seconds":60}`, status: 503},

		{name: "approve by a second admin", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/approve", who: "adam",
			body: `{"reason":"fine"}`, status: 200, contains: []string{`"max_orders":5000`, `"applied":true`}},
		{name: "approve with a bad token", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/approve", who: "raw:Bearer nope",
			body: `{"reason":"fine"}`, status: 401},
		{name: "approve own request", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/approve", who: "ada",
			body: `{"reason":"fine"}`, status: 409, contains: []string{"another operator"}},
		{name: "approve as operator", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/approve", who: "olga",
			body: `{"reason":"fine"}`, status: 403, contains: []string{"admin"}},
		{name: "approve with nothing pending", method: "POST", path: "/v1/limits/ACCOUNT:A1/approve", who: "ada",
			body: `{"reason":"fine"}`, status: 409, contains: []string{"no change pending"}},
		{name: "approve carries no limits", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/approve", who: "ada",
			body: `{"reason":"fine","limits":{"max_orders":1}}`, status: 400, check: func(t *testing.T, h *apiHarness, _ string) {
				if n := len(h.lim.requests()); n != 1 {
					t.Errorf("%d updates sent; want only the setup's", n)
				}
			}},
		{name: "approve without a reason", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/approve", who: "ada",
			body: `{}`, status: 400},
		{name: "reject as operator", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/reject", who: "olga",
			body: `{"reason":"too much"}`, status: 200, contains: []string{`"state":"DEFAULT"`},
			check: func(t *testing.T, h *apiHarness, body string) {
				if strings.Contains(body, `"pending"`) {
					t.Error("still pending after the rejection")
				}
			}},
		{name: "reject as viewer", setup: pending, method: "POST", path: "/v1/limits/ACCOUNT:A1/reject", who: "vera",
			body: `{"reason":"too much"}`, status: 403},

		{name: "restrict a symbol", method: "POST", path: "/v1/limits/SYMBOL:ACME/restrict", who: "olga", body: `{"reason":"news"}`, status: 200,
			contains: []string{`"restricted":true`, `"restricted":"override"`},
			check: func(t *testing.T, h *apiHarness, _ string) {
				if c := lastLimitsCall(t, h); c.Update != workflows.LimitsUpdateRestrict || c.Req.Scope != "SYMBOL:ACME" {
					t.Errorf("request %+v", c)
				}
			}},
		{name: "restrict an account", method: "POST", path: "/v1/limits/ACCOUNT:A1/restrict", who: "olga", body: `{"reason":"news"}`, status: 400,
			contains: []string{"SYMBOL"}, check: noLimitsCalls},
		{name: "restrict as viewer", method: "POST", path: "/v1/limits/SYMBOL:ACME/restrict", who: "vera", body: `{"reason":"news"}`, status: 403, check: noLimitsCalls},
		{name: "unrestrict a symbol", setup: func(h *apiHarness) {
			if s, _, b := h.do("POST", "/v1/limits/SYMBOL:ACME/restrict", "olga", `{"reason":"news"}`); s != 200 {
				h.t.Fatalf("restrict: %d %s", s, b)
			}
		}, method: "POST", path: "/v1/limits/SYMBOL:ACME/unrestrict", who: "oscar", body: `{"reason":"news out"}`, status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				if strings.Contains(body, `"restricted":true`) {
					t.Error("still restricted")
				}
			}},
		{name: "unrestrict with a duration", method: "POST", path: "/v1/limits/SYMBOL:ACME/unrestrict", who: "olga",
			body: `{"reason":"x","duration_seconds":5}`, status: 400, check: noLimitsCalls},
	})
}

// A second admin approves an admin's change beyond the ceilings: it
// applies, and the list no longer shows it pending.
func TestAPILimitsFourEyes(t *testing.T) {
	h := newAPIHarness(t)
	status, _, body := h.do("PUT", "/v1/limits/ACCOUNT:A1", "ada", `{"limits":{"max_orders":5000},"reason":"desk"}`)
	if status != 202 || !strings.Contains(body, `"max_orders":100,`) {
		t.Fatalf("request: %d %s; want 202 with the limits unchanged", status, body)
	}
	status, _, body = h.do("POST", "/v1/limits/ACCOUNT:A1/approve", "adam", `{"reason":"checked"}`)
	if status != 200 || !strings.Contains(body, `"max_orders":5000`) || strings.Contains(body, `"pending"`) {
		t.Fatalf("approve: %d %s", status, body)
	}
	if c := lastLimitsCall(t, h); c.Update != workflows.LimitsUpdateApprove || c.Req.Operator != "adam" || !c.Req.Admin {
		t.Errorf("approval sent as %+v", c)
	}
	status, _, body = h.do("GET", "/v1/limits", "vera", "")
	if status != 200 || strings.Contains(body, "PENDING_APPROVAL") || !strings.Contains(body, `"max_orders":5000`) {
		t.Fatalf("list: %d %s", status, body)
	}
}

// The same cmd_id (body or Idempotency-Key) sent twice changes the limits
// once.
func TestAPILimitsIdempotent(t *testing.T) {
	h := newAPIHarness(t)
	for range 2 {
		req, _ := http.NewRequest("PUT", h.ts.URL+"/v1/limits/ACCOUNT:A1", strings.NewReader(`{"limits":{"max_orders":150},"reason":"x"}`))
		req.Header.Set("Authorization", "Bearer "+h.tokens["olga"])
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "limits-key-1")
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 2 {
		if s, _, b := h.do("PUT", "/v1/limits/ACCOUNT:A1", "olga", `{"limits":{"max_orders":160},"reason":"x","cmd_id":"limits-cmd-2"}`); s != 200 {
			t.Fatalf("%d %s", s, b)
		}
	}
	var ids []string
	for _, c := range h.lim.requests() {
		ids = append(ids, c.Req.CmdID)
	}
	if !slices.Equal(ids, []string{"limits-key-1", "limits-cmd-2"}) {
		t.Fatalf("updates applied with cmd_ids %v; want each once", ids)
	}
	_, _, body := h.do("GET", "/v1/limits/ACCOUNT:A1", "vera", "")
	if !strings.Contains(body, `"version":2`) {
		t.Fatalf("version after two distinct changes: %s", body)
	}
}

// The usage panel's figures: the detector's latest window and the router's
// credit warnings against the scope's effective limits.
func TestAPILimitsUsage(t *testing.T) {
	h := newAPIHarness(t)
	now := time.Now().UnixMilli()
	var b index.Batch
	add := func(sig domain.RiskSignal) {
		b.Signals = append(b.Signals, index.SignalEntry{Pos: index.Pos{Offset: int64(len(b.Signals))}, Signal: sig})
	}
	add(domain.RiskSignal{TS: now - 5000, Scope: "ACCOUNT:A1", WindowMS: 60000, OrderCount: 40, Notional: 1000})
	add(domain.RiskSignal{TS: now - 1000, Scope: "ACCOUNT:A1", WindowMS: 60000, OrderCount: 80, Notional: 600_000})
	add(domain.RiskSignal{TS: now - 900, Scope: "ACCOUNT:A1", Notional: 19e6,
		Breaches: []domain.Breach{{Rule: "credit_warning_75", Metric: "credit_used", Value: 19e6, Threshold: 18.75e6}}})
	add(domain.RiskSignal{TS: now - 800, Scope: "ACCOUNT:A2", WindowMS: 60000, OrderCount: 10, Notional: 100})
	add(domain.RiskSignal{TS: now - 700, Scope: "ACCOUNT:A2", WindowMS: 60000, OrderCount: 101,
		Breaches: []domain.Breach{{Rule: "limit:max_orders", Metric: "max_orders", Value: 101, Threshold: 100}}})
	if err := h.idx.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	h.setLimits("ACCOUNT:A2", "olga", `{"max_orders":20}`)

	status, _, body := h.do("GET", "/v1/limits/usage", "vera", "")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	u := decodeAs[api.LimitsUsage](t, body)
	if len(u.Scopes) != 2 || u.Source == "" {
		t.Fatalf("usage %s", body)
	}
	a1, a2 := u.Scopes[0], u.Scopes[1]
	if a1.Scope != "ACCOUNT:A1" || a2.Scope != "ACCOUNT:A2" {
		t.Fatalf("order %s, %s: want the fuller first", u.Scopes[0].Scope, u.Scopes[1].Scope)
	}
	if a1.Orders != 80 || a1.MaxOrders != 100 || a1.OrdersPct == nil || *a1.OrdersPct != 80 {
		t.Errorf("A1 window %+v; want 80 of the default 100", a1)
	}
	if a1.CreditPct == nil || *a1.CreditPct != 76 || a1.CreditLimit != 25e6 {
		t.Errorf("A1 credit %+v; want 19M of 25M = 76 %%", a1)
	}
	// A2's latest detector window, not the router's block record, against
	// its override.
	if a2.Orders != 10 || a2.MaxOrders != 20 || *a2.OrdersPct != 50 || a2.LimitsState != workflows.LimitStateOverridden {
		t.Errorf("A2 %+v; want 10 of its override 20", a2)
	}
	if status, _, _ := h.do("GET", "/v1/limits/usage?limit=0", "vera", ""); status != 400 {
		t.Errorf("limit=0: %d", status)
	}
	if status, _, _ := h.do("GET", "/v1/limits/usage", "", ""); status != 401 {
		t.Errorf("no token: %d", status)
	}
	// Temporal down: the defaults, with a warning.
	h.lim.setDown(true)
	status, _, body = h.do("GET", "/v1/limits/usage", "vera", "")
	if status != 200 || !strings.Contains(body, "defaults shown") {
		t.Errorf("Temporal down: %d %s", status, body)
	}
}

// Every limits route against every role: who may call it, and that a
// refused call never reaches Temporal.
func TestAPILimitsRoles(t *testing.T) {
	type route struct{ method, path, body string }
	reason := `{"reason":"x"}`
	routes := []route{
		{"PUT", "/v1/limits/SYMBOL:ACME", `{"limits":{"max_orders":50},"reason":"x"}`},
		{"POST", "/v1/limits/SYMBOL:ACME/raise", `{"limits":{"max_orders":500},"reason":"x","duration_seconds":60}`},
		{"POST", "/v1/limits/SYMBOL:ACME/approve", reason},
		{"POST", "/v1/limits/SYMBOL:ACME/reject", reason},
		{"POST", "/v1/limits/SYMBOL:ACME/restrict", reason},
		{"POST", "/v1/limits/SYMBOL:ACME/unrestrict", reason},
	}
	for _, r := range routes {
		for _, who := range []string{"", "vera", "olga", "ada"} {
			t.Run(r.method+" "+r.path+" as "+who, func(t *testing.T) {
				h := newAPIHarness(t)
				status, _, body := h.do(r.method, r.path, who, r.body)
				// Approving takes an admin; every other change an operator.
				need := "olga"
				if strings.HasSuffix(r.path, "/approve") {
					need = "ada"
				}
				var allowed bool
				switch who {
				case "":
					if status != 401 {
						t.Fatalf("no token: %d %s", status, body)
					}
				case "vera":
				case "olga":
					allowed = need == "olga"
				case "ada":
					allowed = true
				}
				if who == "" {
					noLimitsCalls(t, h, "")
					return
				}
				if !allowed {
					if status != 403 {
						t.Fatalf("%s: %d %s; want 403", who, status, body)
					}
					noLimitsCalls(t, h, "")
					return
				}
				// Allowed: the call reaches the workflow (which may refuse it:
				// approve and reject with nothing pending are 409).
				if status == 401 || status == 403 {
					t.Fatalf("%s refused: %d %s", who, status, body)
				}
				if len(h.lim.requests()) == 0 && status != 409 {
					t.Fatalf("%s: %d but no update was sent", who, status)
				}
			})
		}
	}
	// GLOBAL takes an admin for every change.
	for _, r := range routes[:2] {
		g := strings.Replace(r.path, "SYMBOL:ACME", "GLOBAL", 1)
		runAPICases(t, []apiCase{{name: r.method + " " + g + " as operator", method: r.method, path: g, who: "olga", body: r.body, status: 403,
			contains: []string{"admin"}, check: noLimitsCalls}})
	}
	t.Run("not JSON", func(t *testing.T) {
		h := newAPIHarness(t)
		req, _ := http.NewRequest("PUT", h.ts.URL+"/v1/limits/ACCOUNT:A1", strings.NewReader("max_orders=5"))
		req.Header.Set("Authorization", "Bearer "+h.tokens["olga"])
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 415 || resp.Header.Get("Content-Type") != api.ProblemContentType {
			t.Fatalf("%d %s; want 415 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		noLimitsCalls(t, h, "")
	})
}
