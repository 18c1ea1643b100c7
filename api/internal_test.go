package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/workflows"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"", 0, false},
		{"1700000000000", 1700000000000, false},
		{"10m", now.Add(-10 * time.Minute).UnixMilli(), false},
		{"2026-01-02T03:00:00Z", time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC).UnixMilli(), false},
		{"yesterday", 0, true},
		{"-5m", 0, true},
	}
	for _, c := range cases {
		got, err := parseTime(c.in, now)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("parseTime(%q) = %d, %v; want %d, err %v", c.in, got, err, c.want, c.wantErr)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"no incident", fmt.Errorf("unkill: %w", workflows.ErrNoIncident), 409},
		{"conflict", temporal.NewApplicationError("ACTIVE", workflows.ErrTypeConflict), 409},
		{"other rejection", temporal.NewApplicationError("nope", "Whatever"), 409},
		{"invalid", temporal.NewApplicationError("bad", workflows.ErrTypeInvalid), 400},
		{"invalid scope", fmt.Errorf("x: %w", domain.ErrInvalidScope), 400},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), 503},
		{"unavailable", serviceerror.NewUnavailable("down"), 503},
		{"not found", serviceerror.NewNotFound("gone"), 404},
		{"unknown", errors.New("boom"), 500},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("%s: classify = %d, want %d", c.name, got, c.want)
		}
	}
}

type nopControl struct{}

func (nopControl) Operate(_ context.Context, _ string, req workflows.OperatorRequest) (domain.State, error) {
	return domain.State{Scope: req.Scope, Status: domain.StatusKilled, Version: 1}, nil
}
func (nopControl) History(context.Context, domain.Scope, string) ([]workflows.Transition, error) {
	return nil, nil
}
func (nopControl) Incidents(context.Context, domain.Scope, int) ([]Incident, error) { return nil, nil }
func (nopControl) Check(context.Context) error                                      { return nil }

// FuzzOperateBody feeds arbitrary bodies to POST /v1/kill: the handler must
// never panic and must answer with one of the documented statuses, and a
// body that is not UTF-8 is refused.
func FuzzOperateBody(f *testing.F) {
	tok := NewToken()
	toks, err := NewTokens([]TokenEntry{{Name: "f", Role: RoleAdmin, SHA256: HashToken(tok)}})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Control: nopControl{}, States: killstate.NewTable(nil), Tokens: toks,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimit: 1e9, RateBurst: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	for _, seed := range []string{`{"scope":"ACCOUNT:1","reason":"x"}`, `{"scope":"GLOBAL","reason":"x","operator":"g"}`, `{`, `[]`, `null`, `{"scope":1}`, "{\"scope\":\"ACCOUNT:1\",\"reason\":\"\xff\"}"} {
		f.Add(seed)
	}
	allowed := map[int]bool{200: true, 400: true, 403: true, 413: true}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/kill", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
		if !utf8.ValidString(body) && rec.Code != 400 && rec.Code != 413 {
			t.Fatalf("body %q is not UTF-8: status %d: %s", body, rec.Code, rec.Body)
		}
	})
}
