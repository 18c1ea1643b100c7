package tests

import (
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/ingest/killstate"
)

// TestAPIRealTemporalClientUnreachable points the real Temporal control at a
// port nobody listens on: every Temporal-backed call must answer 503 within
// the upstream timeout instead of hanging, and reads must degrade.
func TestAPIRealTemporalClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tc, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: quietTemporalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tok := api.NewToken()
	toks, err := api.NewTokens([]api.TokenEntry{{Name: "ada", Role: api.RoleAdmin, SHA256: api.HashToken(tok)}})
	if err != nil {
		t.Fatal(err)
	}
	table := killstate.NewTable(nil)
	srv, err := api.New(api.Config{Temporal: tc, States: table, Tokens: toks, Log: quiet, UpstreamTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	h := &apiHarness{t: t, ts: ts, tokens: map[string]string{"ada": tok}}

	cases := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"POST", "/v1/kill", `{"scope":"ACCOUNT:1","reason":"x"}`, 503, "Temporal"},
		{"POST", "/v1/unkill", `{"scope":"ACCOUNT:1","reason":"x"}`, 503, "Temporal"},
		{"POST", "/v1/throttle", `{"scope":"ACCOUNT:1","reason":"x","max_rate_per_second":3}`, 503, "Temporal"},
		{"POST", "/v1/scopes/ACCOUNT:1/extend", `{"reason":"x","cooldown_seconds":30}`, 503, "Temporal"},
		{"GET", "/readyz", "", 200, `"degraded":["temporal"]`},
		{"GET", "/v1/scopes/ACCOUNT:1", "", 200, "warnings"},
		{"GET", "/v1/limits/ACCOUNT:1", "", 503, "Temporal"},
		{"GET", "/v1/limits", "", 503, "Temporal"},
		{"PUT", "/v1/limits/ACCOUNT:1", `{"limits":{"max_orders":50},"reason":"x"}`, 503, "Temporal"},
		{"POST", "/v1/limits/ACCOUNT:1/raise", `{"limits":{"max_orders":150},"reason":"x","duration_seconds":60}`, 503, "Temporal"},
		{"POST", "/v1/limits/ACCOUNT:1/approve", `{"reason":"x"}`, 503, "Temporal"},
		{"POST", "/v1/limits/SYMBOL:ACME/restrict", `{"reason":"x"}`, 503, "Temporal"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			start := time.Now()
			status, _, body := h.do(c.method, c.path, "ada", c.body)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s with a 1.5s upstream timeout", took)
			}
			if status != c.status || !strings.Contains(body, c.contains) {
				t.Fatalf("%d %s; want %d containing %q", status, body, c.status, c.contains)
			}
		})
	}
}

// quietTemporalLogger drops the SDK's connection-retry logs.
type quietTemporalLogger struct{}

func (quietTemporalLogger) Debug(string, ...any) {}
func (quietTemporalLogger) Info(string, ...any)  {}
func (quietTemporalLogger) Warn(string, ...any)  {}
func (quietTemporalLogger) Error(string, ...any) {}
