package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// apiCase is one request and what must come back.
type apiCase struct {
	name   string
	setup  func(h *apiHarness)
	method string
	path   string
	who    string
	body   string
	status int
	// contains are substrings the response body must hold.
	contains []string
	// plain: an error status whose body is not a problem document (/readyz).
	plain bool
	// check inspects the harness afterwards.
	check func(t *testing.T, h *apiHarness, body string)
}

func runAPICases(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newAPIHarness(t)
			if c.setup != nil {
				c.setup(h)
			}
			status, ctype, body := h.do(c.method, c.path, c.who, c.body)
			if status != c.status {
				t.Fatalf("%s %s as %q: status %d, want %d; body %s", c.method, c.path, c.who, status, c.status, body)
			}
			if status >= 400 && !c.plain {
				if ctype != api.ProblemContentType {
					t.Errorf("error content type %q, want %s", ctype, api.ProblemContentType)
				}
				var p api.Problem
				if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != status || p.Title == "" {
					t.Errorf("problem body %s does not decode to a problem with status %d and a title (err %v)", body, status, err)
				}
			}
			for _, s := range c.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body %s does not contain %q", body, s)
				}
			}
			if c.check != nil {
				c.check(t, h, body)
			}
		})
	}
}

// kill issues a kill through the API and fails the test if it does not succeed.
func (h *apiHarness) kill(scope, who string) {
	h.t.Helper()
	status, _, body := h.do("POST", "/v1/kill", who, fmt.Sprintf(`{"scope":%q,"reason":"setup"}`, scope))
	if status != http.StatusOK {
		h.t.Fatalf("setup kill %s: %d %s", scope, status, body)
	}
}

func noCalls(t *testing.T, h *apiHarness, _ string) {
	t.Helper()
	if n := len(h.ctl.calls()); n != 0 {
		t.Errorf("%d Temporal calls were made; want none", n)
	}
}

func lastCall(t *testing.T, h *apiHarness) fakeCall {
	t.Helper()
	calls := h.ctl.calls()
	if len(calls) == 0 {
		t.Fatal("no Temporal call was made")
	}
	return calls[len(calls)-1]
}

func TestAPIKillUnkill(t *testing.T) {
	acct := `{"scope":"ACCOUNT:12345","reason":"runaway algo"}`
	runAPICases(t, []apiCase{
		{name: "kill as operator", method: "POST", path: "/v1/kill", who: "olga", body: acct, status: 200,
			contains: []string{`"status":"KILLED"`, `"updated_by":"olga"`},
			check: func(t *testing.T, h *apiHarness, _ string) {
				c := lastCall(t, h)
				if c.Update != workflows.UpdateKill || c.Req.Operator != "olga" || c.Req.Scope != "ACCOUNT:12345" || c.Req.Reason != "runaway algo" || c.Req.CmdID == "" {
					t.Errorf("call %+v", c)
				}
			}},
		{name: "demo kill route", method: "POST", path: "/kill", who: "olga", body: acct, status: 200, contains: []string{`"KILLED"`}},
		{name: "kill without token", method: "POST", path: "/v1/kill", body: acct, status: 401, check: noCalls},
		{name: "demo kill without token", method: "POST", path: "/kill", body: acct, status: 401, check: noCalls},
		{name: "kill with wrong token", method: "POST", path: "/v1/kill", who: "raw:Bearer " + api.NewToken(), body: acct, status: 401, check: noCalls},
		{name: "kill with basic auth", method: "POST", path: "/v1/kill", who: "raw:Basic b2xnYTpwdw==", body: acct, status: 401, check: noCalls},
		{name: "kill as viewer", method: "POST", path: "/v1/kill", who: "vera", body: acct, status: 403, check: noCalls},
		{name: "kill GLOBAL as operator", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"GLOBAL","reason":"x"}`, status: 403, contains: []string{"admin"}, check: noCalls},
		{name: "kill GLOBAL as admin", method: "POST", path: "/v1/kill", who: "ada", body: `{"scope":"GLOBAL","reason":"x"}`, status: 200, contains: []string{`"scope":"GLOBAL"`}},
		{name: "impersonation refused", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:1","reason":"x","operator":"ada"}`, status: 403,
			contains: []string{"cannot act as operator"}, check: noCalls},
		{name: "own operator name accepted", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:1","reason":"x","operator":"olga"}`, status: 200},
		{name: "bad scope", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:<script>","reason":"x"}`, status: 400,
			contains: []string{"Invalid scope"}, check: noCalls},
		{name: "unknown scope type", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"DESK:1","reason":"x"}`, status: 400, contains: []string{"unknown scope type"}, check: noCalls},
		{name: "missing reason", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:1"}`, status: 400, contains: []string{"reason"}, check: noCalls},
		{name: "blank reason", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:1","reason":"   "}`, status: 400, check: noCalls},
		{name: "malformed JSON", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:1",`, status: 400, contains: []string{"Malformed JSON"}, check: noCalls},
		{name: "wrong JSON type", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":12}`, status: 400, check: noCalls},
		{name: "trailing data", method: "POST", path: "/v1/kill", who: "olga", body: acct + `{}`, status: 400, check: noCalls},
		{name: "empty body", method: "POST", path: "/v1/kill", who: "olga", status: 400, contains: []string{"Missing body"}, check: noCalls},
		// JSON decoding would put U+FFFD for the bad byte and record a
		// reason other than the one written.
		{name: "reason not UTF-8", method: "POST", path: "/v1/kill", who: "olga", body: "{\"scope\":\"ACCOUNT:1\",\"reason\":\"fat \xff finger\"}", status: 400,
			contains: []string{"Invalid UTF-8", "the byte 0xff at offset 35"}, check: noCalls},
		{name: "reason in UTF-8", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:1","reason":"contrôle pré-négociation"}`, status: 200,
			contains: []string{`"reason":"contrôle pré-négociation"`}},
		{name: "oversized body", method: "POST", path: "/v1/kill", who: "olga",
			body: `{"scope":"ACCOUNT:1","reason":"` + strings.Repeat("x", 70<<10) + `"}`, status: 413, check: noCalls},
		{name: "reason too long", method: "POST", path: "/v1/kill", who: "olga",
			body: `{"scope":"ACCOUNT:1","reason":"` + strings.Repeat("x", 2000) + `"}`, status: 400, check: noCalls},
		{name: "bad cmd_id", method: "POST", path: "/v1/kill", who: "olga", body: `{"scope":"ACCOUNT:1","reason":"x","cmd_id":"a b"}`, status: 400, check: noCalls},
		{name: "unkill killed scope", method: "POST", path: "/v1/unkill", who: "oscar", body: acct, status: 200,
			setup:    func(h *apiHarness) { h.kill("ACCOUNT:12345", "olga") },
			contains: []string{`"status":"ACTIVE"`, `"updated_by":"oscar"`}},
		{name: "demo unkill route", method: "POST", path: "/unkill", who: "oscar", body: acct, status: 200,
			setup: func(h *apiHarness) { h.kill("ACCOUNT:12345", "olga") }, contains: []string{`"ACTIVE"`}},
		{name: "unkill without incident", method: "POST", path: "/v1/unkill", who: "olga", body: acct, status: 409, contains: []string{"no open incident"}},
		{name: "unkill ACTIVE scope", method: "POST", path: "/v1/unkill", who: "olga", body: acct, status: 409,
			setup: func(h *apiHarness) {
				h.kill("ACCOUNT:12345", "olga")
				h.do("POST", "/v1/unkill", "olga", acct)
			},
			contains: []string{"is ACTIVE; nothing to unkill"}},
		{name: "kill with Temporal down", method: "POST", path: "/v1/kill", who: "olga", body: acct, status: 503,
			setup: func(h *apiHarness) { h.ctl.setDown(true) }, contains: []string{"Temporal unavailable", "did not answer"}},
		{name: "GET on kill", method: "GET", path: "/v1/kill", who: "olga", status: 405},
		{name: "unknown route", method: "GET", path: "/v1/nope", who: "olga", status: 404},
	})
}

func TestAPIReadsAndHealth(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "healthz open", method: "GET", path: "/healthz", status: 200, contains: []string{`"ok"`}},
		{name: "demo health open", method: "GET", path: "/health", status: 200},
		{name: "scopes need a token", method: "GET", path: "/v1/scopes", status: 401},
		{name: "scopes empty", method: "GET", path: "/v1/scopes", who: "vera", status: 200, contains: []string{`"scopes":[]`, `"ready":true`}},
		{name: "scopes list", method: "GET", path: "/v1/scopes", who: "vera", status: 200,
			setup: func(h *apiHarness) {
				h.kill("ACCOUNT:1", "olga")
				h.kill("SYMBOL:ACME", "olga")
			},
			check: func(t *testing.T, h *apiHarness, body string) {
				var l api.ScopeList
				if err := json.Unmarshal([]byte(body), &l); err != nil {
					t.Fatal(err)
				}
				if len(l.Scopes) != 2 || l.Scopes[0].Scope != "ACCOUNT:1" || l.Scopes[1].Status != domain.StatusKilled {
					t.Errorf("scopes %+v", l.Scopes)
				}
			}},
		{name: "scopes filtered", method: "GET", path: "/v1/scopes?type=symbol&status=KILLED", who: "vera", status: 200,
			setup: func(h *apiHarness) {
				h.kill("ACCOUNT:1", "olga")
				h.kill("SYMBOL:ACME", "olga")
			},
			check: func(t *testing.T, h *apiHarness, body string) {
				if strings.Contains(body, "ACCOUNT:1") || !strings.Contains(body, "SYMBOL:ACME") {
					t.Errorf("filter failed: %s", body)
				}
			}},
		{name: "scopes bad status filter", method: "GET", path: "/v1/scopes?status=DEAD", who: "vera", status: 400},
		{name: "scopes bad type filter", method: "GET", path: "/v1/scopes?type=DESK", who: "vera", status: 400},
		{name: "whoami", method: "GET", path: "/v1/whoami", who: "ada", status: 200, contains: []string{`"name":"ada"`, `"role":"admin"`}},
	})
}

func TestAPIRateLimitPerToken(t *testing.T) {
	h := newAPIHarness(t, func(c *api.Config) {
		c.RateLimit = 0.001
		c.RateBurst = 2
	})
	body := `{"scope":"ACCOUNT:9","reason":"x"}`
	for i, want := range []int{200, 200, 429} {
		if status, _, b := h.do("POST", "/v1/kill", "olga", body); status != want {
			t.Fatalf("call %d as olga: %d, want %d: %s", i, status, want, b)
		}
	}
	// Another token has its own bucket.
	if status, _, b := h.do("POST", "/v1/kill", "oscar", body); status != 200 {
		t.Fatalf("oscar: %d %s", status, b)
	}
	// Reads are not limited.
	if status, _, _ := h.do("GET", "/v1/scopes", "olga", ""); status != 200 {
		t.Fatalf("read after limit: %d", status)
	}
}

func TestAPIIdempotencyKey(t *testing.T) {
	h := newAPIHarness(t)
	req, _ := http.NewRequest("POST", h.ts.URL+"/v1/kill", strings.NewReader(`{"scope":"ACCOUNT:7","reason":"x"}`))
	req.Header.Set("Authorization", "Bearer "+h.tokens["olga"])
	req.Header.Set("Idempotency-Key", "retry-42")
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := lastCall(t, h); c.Req.CmdID != "retry-42" {
		t.Fatalf("cmd_id %q, want the idempotency key", c.Req.CmdID)
	}
}

func TestAPITemporalTimeoutIsBounded(t *testing.T) {
	h := newAPIHarness(t)
	h.ctl.setDown(true)
	start := time.Now()
	status, _, _ := h.do("POST", "/v1/kill", "olga", `{"scope":"ACCOUNT:1","reason":"x"}`)
	if status != 503 {
		t.Fatalf("status %d, want 503", status)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("kill with Temporal down took %s; the upstream timeout is 300ms", took)
	}
}

func TestTokensFile(t *testing.T) {
	tok := api.NewToken()
	good := api.TokenEntry{Name: "alice", Role: api.RoleOperator, SHA256: api.HashToken(tok)}
	cases := []struct {
		name    string
		entries []api.TokenEntry
		wantErr string
	}{
		{"ok", []api.TokenEntry{good}, ""},
		{"no name", []api.TokenEntry{{Role: api.RoleAdmin, SHA256: good.SHA256}}, "name is required"},
		{"bad role", []api.TokenEntry{{Name: "x", Role: "root", SHA256: good.SHA256}}, "role"},
		{"bad hash", []api.TokenEntry{{Name: "x", Role: api.RoleAdmin, SHA256: "abc"}}, "64 hex"},
		{"duplicate name", []api.TokenEntry{good, {Name: "alice", Role: api.RoleViewer, SHA256: api.HashToken(api.NewToken())}}, "twice"},
		{"duplicate token", []api.TokenEntry{good, {Name: "bob", Role: api.RoleViewer, SHA256: good.SHA256}}, "same token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			toks, err := api.NewTokens(c.entries)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id, ok := toks.Authenticate(tok)
			if !ok || id.Name != "alice" || id.Role != api.RoleOperator {
				t.Fatalf("authenticate: %+v %v", id, ok)
			}
			if _, ok := toks.Authenticate(tok + "x"); ok {
				t.Fatal("a different token authenticated")
			}
		})
	}
	dev, err := api.DevTokens("0123456789abcdef0123")
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := dev.Authenticate("0123456789abcdef0123"); !ok || id.Name != api.DevTokenName || id.Role != api.RoleAdmin {
		t.Fatalf("dev token: %+v %v", id, ok)
	}
}
