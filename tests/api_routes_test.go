package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// seedTS is the time of the first seeded audit record; records follow 1 s apart.
var seedTS = time.Now().Add(-time.Hour).UnixMilli()

// seed fills the harness index: 30 audit records (accounts A1/A2, symbols
// ACME/BOLT, every third a DROP of the kill with corr_id "corr-1"), the
// kill command, and two signals.
func (h *apiHarness) seed() {
	h.t.Helper()
	var b index.Batch
	for i := range 30 {
		acct, sym := "A1", "ACME"
		if i%2 == 1 {
			acct, sym = "A2", "BOLT"
		}
		rec := domain.AuditRecord{
			TS: seedTS + int64(i)*1000, Decision: domain.DecisionAllow, OrderID: fmt.Sprintf("o-%02d", i),
			AccountID: acct, Symbol: sym, Strategy: "mm", KillswitchStatus: domain.StatusActive, Service: "router",
		}
		if i%3 == 0 {
			rec.Decision = domain.DecisionDrop
			rec.CorrID = "corr-1"
			rec.KillswitchStatus = domain.StatusKilled
			rec.Reason = "ACCOUNT:" + acct + " KILLED"
		}
		b.Audit = append(b.Audit, index.AuditEntry{Pos: index.Pos{Partition: 0, Offset: int64(i)}, Record: rec})
	}
	b.Commands = append(b.Commands, index.CommandEntry{Pos: index.Pos{Offset: 0}, Command: domain.Command{
		CmdID: "cmd-1", TS: seedTS - 500, Scope: "ACCOUNT:A1", Action: domain.ActionKill, Reason: "order count 120 > 100",
		TriggeredBy: domain.TriggerDetector, CorrID: "corr-1", Metric: "order_count", Value: 120, Threshold: 100, Window: "1m",
	}})
	for i, sc := range []domain.Scope{"ACCOUNT:A1", "SYMBOL:ACME"} {
		sig := domain.RiskSignal{TS: seedTS + int64(i), Scope: sc, WindowMS: 60000, OrderCount: int64(50 + i)}
		if i == 0 {
			sig.Breaches = []domain.Breach{{Rule: "count", Metric: "order_count", Value: 120, Threshold: 100}}
		}
		b.Signals = append(b.Signals, index.SignalEntry{Pos: index.Pos{Offset: int64(i)}, Signal: sig})
	}
	if err := h.idx.Apply(context.Background(), &b); err != nil {
		h.t.Fatal(err)
	}
}

func decodeAs[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
	return v
}

func TestAPIOperatorActions(t *testing.T) {
	killA := func(h *apiHarness) { h.kill("ACCOUNT:A1", "olga") }
	runAPICases(t, []apiCase{
		{name: "throttle", method: "POST", path: "/v1/throttle", who: "olga", body: `{"scope":"SYMBOL:ACME","reason":"hot","max_rate_per_second":5}`, status: 200,
			contains: []string{`"status":"THROTTLED"`, `"max_rate_per_second":5`}},
		{name: "throttle without rate", method: "POST", path: "/v1/throttle", who: "olga", body: `{"scope":"SYMBOL:ACME","reason":"hot"}`, status: 400,
			contains: []string{"max_rate_per_second"}, check: noCalls},
		{name: "throttle rejected as invalid by the workflow", method: "POST", path: "/v1/throttle", who: "olga",
			body: `{"scope":"SYMBOL:ACME","reason":"hot","max_rate_per_second":1e9}`, status: 400, contains: []string{"ceiling"}},
		{name: "throttle as viewer", method: "POST", path: "/v1/throttle", who: "vera", body: `{"scope":"SYMBOL:ACME","reason":"x","max_rate_per_second":5}`, status: 403, check: noCalls},
		{name: "throttle GLOBAL as operator", method: "POST", path: "/v1/throttle", who: "olga", body: `{"scope":"GLOBAL","reason":"x","max_rate_per_second":5}`, status: 403, check: noCalls},
		{name: "extend", setup: killA, method: "POST", path: "/v1/scopes/ACCOUNT:A1/extend", who: "oscar", body: `{"reason":"investigating","cooldown_seconds":600}`, status: 200,
			check: func(t *testing.T, h *apiHarness, _ string) {
				if c := lastCall(t, h); c.Req.CooldownSeconds != 600 || c.Req.Scope != "ACCOUNT:A1" || c.Req.Operator != "oscar" {
					t.Errorf("call %+v", c)
				}
			}},
		{name: "extend escaped scope", setup: killA, method: "POST", path: "/v1/scopes/ACCOUNT%3AA1/extend", who: "oscar", body: `{"reason":"x","cooldown_seconds":60}`, status: 200},
		{name: "extend without incident", method: "POST", path: "/v1/scopes/ACCOUNT:A1/extend", who: "olga", body: `{"reason":"x","cooldown_seconds":60}`, status: 409},
		{name: "extend without cooldown", setup: killA, method: "POST", path: "/v1/scopes/ACCOUNT:A1/extend", who: "olga", body: `{"reason":"x"}`, status: 400},
		{name: "extend bad path scope", method: "POST", path: "/v1/scopes/ACCOUNT:a%20b/extend", who: "olga", body: `{"reason":"x","cooldown_seconds":60}`, status: 400, check: noCalls},
		{name: "extend scope mismatch", method: "POST", path: "/v1/scopes/ACCOUNT:A1/extend", who: "olga", body: `{"scope":"ACCOUNT:A2","reason":"x","cooldown_seconds":60}`, status: 400,
			contains: []string{"mismatch"}, check: noCalls},
		{name: "extend impersonation", setup: killA, method: "POST", path: "/v1/scopes/ACCOUNT:A1/extend", who: "oscar", body: `{"reason":"x","cooldown_seconds":60,"operator":"olga"}`, status: 403},
		{name: "pin", setup: killA, method: "POST", path: "/v1/scopes/ACCOUNT:A1/pin", who: "olga", body: `{"reason":"keep it down"}`, status: 200},
		{name: "pin without incident", method: "POST", path: "/v1/scopes/ACCOUNT:A1/pin", who: "olga", body: `{"reason":"x"}`, status: 409},
		{name: "pin GLOBAL as operator", method: "POST", path: "/v1/scopes/GLOBAL/pin", who: "olga", body: `{"reason":"x"}`, status: 403, check: noCalls},
		{name: "unpin", setup: killA, method: "DELETE", path: "/v1/scopes/ACCOUNT:A1/pin", who: "olga", body: `{"reason":"done"}`, status: 200,
			check: func(t *testing.T, h *apiHarness, _ string) {
				if c := lastCall(t, h); c.Update != "unpin" {
					t.Errorf("update %q, want unpin", c.Update)
				}
			}},
		{name: "unpin without token", method: "DELETE", path: "/v1/scopes/ACCOUNT:A1/pin", body: `{"reason":"done"}`, status: 401, check: noCalls},
		{name: "extend with Temporal down", setup: func(h *apiHarness) { killA(h); h.ctl.setDown(true) },
			method: "POST", path: "/v1/scopes/ACCOUNT:A1/extend", who: "olga", body: `{"reason":"x","cooldown_seconds":60}`, status: 503},
	})
}

func TestAPIScopeDetail(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "killed scope", method: "GET", path: "/v1/scopes/ACCOUNT:A1", who: "vera", status: 200,
			setup: func(h *apiHarness) { h.seed(); h.kill("ACCOUNT:A1", "olga") },
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.ScopeDetail](t, body)
				if d.State == nil || d.State.Status != domain.StatusKilled {
					t.Errorf("state %+v", d.State)
				}
				if d.Incident == nil || d.Incident.RunID != "run-2" || len(d.Incident.History) != 1 || d.Incident.History[0].Operator != "olga" {
					t.Errorf("incident %+v", d.Incident)
				}
				if len(d.Incidents) != 2 || len(d.Commands) != 1 || d.Commands[0].CorrID != "corr-1" || len(d.Warnings) != 0 {
					t.Errorf("incidents %+v commands %+v warnings %v", d.Incidents, d.Commands, d.Warnings)
				}
			}},
		{name: "unknown scope", method: "GET", path: "/v1/scopes/ACCOUNT:nobody", who: "vera", status: 404},
		{name: "invalid scope", method: "GET", path: "/v1/scopes/DESK:1", who: "vera", status: 400},
		{name: "no token", method: "GET", path: "/v1/scopes/ACCOUNT:A1", status: 401},
		{name: "Temporal down degrades", method: "GET", path: "/v1/scopes/ACCOUNT:A1", who: "vera", status: 200,
			setup: func(h *apiHarness) { h.kill("ACCOUNT:A1", "olga"); h.ctl.setDown(true) },
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.ScopeDetail](t, body)
				if d.State == nil || len(d.Warnings) == 0 || !strings.Contains(d.Warnings[0], "Temporal") {
					t.Errorf("want the state and a Temporal warning: %s", body)
				}
			}},
	})
}

func TestAPIAuditSearch(t *testing.T) {
	seed := func(h *apiHarness) { h.seed() }
	page := func(body string) index.AuditPage { return decodeAs[index.AuditPage](t, body) }
	runAPICases(t, []apiCase{
		{name: "newest first", setup: seed, method: "GET", path: "/v1/audit?limit=5", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				p := page(body)
				if len(p.Records) != 5 || p.Records[0].OrderID != "o-29" || p.Records[4].OrderID != "o-25" || p.Next == "" {
					t.Errorf("page %+v", p)
				}
			}},
		{name: "filters", setup: seed, method: "GET", path: "/v1/audit?account=A1&decision=drop&symbol=ACME&strategy=mm", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				p := page(body)
				// DROPs are i%3==0; A1 is even i: 0, 6, 12, 18, 24.
				if len(p.Records) != 5 || p.Next != "" {
					t.Fatalf("got %d records (next %q)", len(p.Records), p.Next)
				}
				for _, r := range p.Records {
					if r.AccountID != "A1" || r.Decision != domain.DecisionDrop {
						t.Errorf("record %+v", r)
					}
				}
			}},
		{name: "time range", setup: seed, method: "GET", who: "vera", status: 200,
			path: fmt.Sprintf("/v1/audit?since=%d&until=%s", seedTS+10_000, time.UnixMilli(seedTS+20_000).UTC().Format(time.RFC3339Nano)),
			check: func(t *testing.T, h *apiHarness, body string) {
				p := page(body)
				if len(p.Records) != 10 || p.Records[0].OrderID != "o-19" || p.Records[9].OrderID != "o-10" {
					t.Errorf("got %d records: %+v", len(p.Records), p.Records)
				}
			}},
		{name: "since duration", setup: seed, method: "GET", path: "/v1/audit?since=10m", who: "vera", status: 200, contains: []string{`"records":[]`}},
		{name: "corr_id", setup: seed, method: "GET", path: "/v1/audit?corr_id=corr-1&limit=1000", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				if n := len(page(body).Records); n != 10 {
					t.Errorf("%d records, want 10", n)
				}
			}},
		{name: "bad decision", method: "GET", path: "/v1/audit?decision=MAYBE", who: "vera", status: 400},
		{name: "bad account", method: "GET", path: "/v1/audit?account=a%20b", who: "vera", status: 400},
		{name: "bad since", method: "GET", path: "/v1/audit?since=yesterday", who: "vera", status: 400},
		{name: "bad limit", method: "GET", path: "/v1/audit?limit=0", who: "vera", status: 400},
		{name: "bad cursor", method: "GET", path: "/v1/audit?cursor=zzz", who: "vera", status: 400},
		{name: "no token", method: "GET", path: "/v1/audit", status: 401},
		{name: "demo audit", setup: seed, method: "GET", path: "/audit?limit=3", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				if recs := decodeAs[[]domain.AuditRecord](t, body); len(recs) != 3 || recs[0].OrderID != "o-29" {
					t.Errorf("records %+v", recs)
				}
			}},
	})
	t.Run("cursor pages cover everything once", func(t *testing.T) {
		h := newAPIHarness(t)
		h.seed()
		seen := map[string]int{}
		path := "/v1/audit?limit=7"
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			status, _, body := h.do("GET", path, "vera", "")
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			p := page(body)
			for _, r := range p.Records {
				seen[r.OrderID]++
			}
			if p.Next == "" {
				break
			}
			path = "/v1/audit?limit=7&cursor=" + p.Next
		}
		if len(seen) != 30 {
			t.Fatalf("%d distinct records, want 30", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s seen %d times", id, n)
			}
		}
	})
	t.Run("index not configured", func(t *testing.T) {
		h := newAPIHarness(t, func(c *api.Config) { c.Index = nil })
		for _, p := range []string{"/v1/audit", "/audit", "/v1/orders/o-1", "/v1/signals"} {
			if status, _, body := h.do("GET", p, "vera", ""); status != 503 {
				t.Errorf("%s: %d %s, want 503", p, status, body)
			}
		}
	})
}

func TestAPIOrdersSignalsDemo(t *testing.T) {
	seed := func(h *apiHarness) { h.seed() }
	runAPICases(t, []apiCase{
		{name: "dropped order and its kill", setup: seed, method: "GET", path: "/v1/orders/o-06", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.OrderDetail](t, body)
				if d.Decision != domain.DecisionDrop || len(d.Records) != 1 || d.Cause == nil || d.Cause.CmdID != "cmd-1" {
					t.Errorf("detail %+v", d)
				}
			}},
		{name: "allowed order", setup: seed, method: "GET", path: "/v1/orders/o-01", who: "vera", status: 200,
			contains: []string{`"decision":"ALLOW"`}},
		{name: "unknown order", setup: seed, method: "GET", path: "/v1/orders/nope", who: "vera", status: 404},
		{name: "signals", setup: seed, method: "GET", path: "/v1/signals", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				if l := decodeAs[api.SignalList](t, body); len(l.Signals) != 2 || l.Signals[0].Scope != "SYMBOL:ACME" {
					t.Errorf("signals %+v", l.Signals)
				}
			}},
		{name: "signals of a scope", setup: seed, method: "GET", path: "/v1/signals?scope=ACCOUNT:A1&breaching=true", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				if l := decodeAs[api.SignalList](t, body); len(l.Signals) != 1 || l.Signals[0].Scope != "ACCOUNT:A1" {
					t.Errorf("signals %+v", l.Signals)
				}
			}},
		{name: "signals bad scope", method: "GET", path: "/v1/signals?scope=X", who: "vera", status: 400},
		{name: "signals bad flag", method: "GET", path: "/v1/signals?breaching=maybe", who: "vera", status: 400},
		{name: "demo state", method: "GET", path: "/state", who: "vera", status: 200,
			setup: func(h *apiHarness) { h.kill("ACCOUNT:A1", "olga") },
			check: func(t *testing.T, h *apiHarness, body string) {
				m := decodeAs[map[string]domain.State](t, body)
				if m["ACCOUNT:A1"].Status != domain.StatusKilled {
					t.Errorf("state %+v", m)
				}
			}},
		{name: "demo state without token", method: "GET", path: "/state", status: 401},
	})
}

func TestAPIProbesAndDocs(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "ready", method: "GET", path: "/readyz", status: 200, contains: []string{`"ready":true`, `"temporal":"ok"`, `"index":"ok"`}},
		{name: "Temporal down: ready, degraded", setup: func(h *apiHarness) { h.ctl.setDown(true) }, method: "GET", path: "/readyz", status: 200,
			contains: []string{`"ready":true`, `"degraded":["temporal"]`, "connection refused"}},
		{name: "metrics", method: "GET", path: "/metrics", status: 200,
			setup:    func(h *apiHarness) { h.do("GET", "/healthz", "", "") },
			contains: []string{`riskgate_api_requests_total{code="200",method="GET",route="/healthz"} 1`}},
		{name: "openapi", method: "GET", path: "/openapi.json", status: 200, contains: []string{`"openapi": "3.1.0"`}},
		{name: "dashboard", method: "GET", path: "/", status: 200, contains: []string{"<title>riskgate", "/assets/app.js"},
			check: func(t *testing.T, h *apiHarness, _ string) {
				resp, err := h.ts.Client().Get(h.ts.URL + "/")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
					t.Errorf("CSP %q", csp)
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Error("CORS header sent with CORS off")
				}
			}},
		{name: "dashboard script", method: "GET", path: "/assets/app.js", status: 200, contains: []string{"textContent"}},
		{name: "unknown asset", method: "GET", path: "/assets/nope.js", status: 404},
	})
	t.Run("not bootstrapped", func(t *testing.T) {
		h := newAPIHarness(t, func(c *api.Config) { c.StateReady = func() bool { return false } })
		if status, _, body := h.do("GET", "/readyz", "", ""); status != 503 || !strings.Contains(body, "bootstrapping") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("CORS on for a listed origin only", func(t *testing.T) {
		h := newAPIHarness(t, func(c *api.Config) { c.CORSOrigins = []string{"https://ops.example"} })
		for origin, want := range map[string]string{"https://ops.example": "https://ops.example", "https://evil.example": ""} {
			req, _ := http.NewRequest("OPTIONS", h.ts.URL+"/v1/kill", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("origin %s: allow-origin %q, want %q", origin, got, want)
			}
		}
	})
	t.Run("form body", func(t *testing.T) {
		h := newAPIHarness(t)
		req, _ := http.NewRequest("POST", h.ts.URL+"/v1/kill", strings.NewReader("scope=ACCOUNT:1&reason=x"))
		req.Header.Set("Authorization", "Bearer "+h.tokens["olga"])
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 415 || len(h.ctl.calls()) != 0 {
			t.Fatalf("status %d, %d calls; want 415 and none", resp.StatusCode, len(h.ctl.calls()))
		}
	})
	t.Run("chunked oversized body", func(t *testing.T) {
		h := newAPIHarness(t)
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(`{"scope":"ACCOUNT:1","reason":"`))
			_, _ = pw.Write([]byte(strings.Repeat("y", 80<<10)))
			_, _ = pw.Write([]byte(`"}`))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", h.ts.URL+"/v1/kill", pr)
		req.Header.Set("Authorization", "Bearer "+h.tokens["olga"])
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 || len(h.ctl.calls()) != 0 {
			t.Fatalf("status %d, %d calls; want 413 and none", resp.StatusCode, len(h.ctl.calls()))
		}
	})
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvents reads events from an SSE body into a channel until it closes.
func readEvents(body io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return ch
}

func TestAPIEvents(t *testing.T) {
	h := newAPIHarness(t)
	h.kill("ACCOUNT:A1", "olga")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/v1/events", nil)
	if resp, err := h.ts.Client().Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("events without a token: %v %v", resp, err)
	}
	req.Header.Set("Authorization", "Bearer "+h.tokens["vera"])
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := readEvents(resp.Body)
	next := func(want string) sseEvent {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream ended before a %s event", want)
				}
				if ev.name == want {
					return ev
				}
			case <-ctx.Done():
				t.Fatalf("no %s event", want)
			}
		}
	}
	snap := decodeAs[api.ScopeList](t, next(api.EventSnapshot).data)
	if len(snap.Scopes) != 1 || snap.Scopes[0].Scope != "ACCOUNT:A1" {
		t.Fatalf("snapshot %+v", snap)
	}
	h.kill("SYMBOL:ACME", "olga")
	if st := decodeAs[domain.State](t, next(api.EventState).data); st.Scope != "SYMBOL:ACME" || st.Status != domain.StatusKilled {
		t.Fatalf("state event %+v", st)
	}
	if st := decodeAs[domain.State](t, next(api.EventKill).data); st.Scope != "SYMBOL:ACME" {
		t.Fatalf("kill event %+v", st)
	}
	// Rates arrive every second from the index, zeros included.
	next(api.EventRates)
}
