// Package production tests riskgate in its production topology, on this
// machine: a Temporal server on PostgreSQL, a three-broker Kafka and every
// role as separate processes (see harness). One stack serves every test of
// the package, in turn; each test uses scopes and order ids of its own.
package production

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/tests/production/harness"
)

var shared struct {
	once sync.Once
	s    *harness.Stack
	skip string
	err  error
	up   time.Duration

	mu      sync.Mutex
	crashes map[string]bool // reported already
}

func TestMain(m *testing.M) {
	code := m.Run()
	if s := shared.s; s != nil {
		keep := code != 0
		if err := s.Down(keep); err != nil {
			fmt.Fprintln(os.Stderr, "production stack down:", err)
		}
		if keep {
			fmt.Fprintln(os.Stderr, "production stack logs kept in", s.Dir)
		}
	}
	os.Exit(code)
}

// stack is the package's stack, brought up by the first test that needs
// it. Without the Temporal server, its sql tool or PostgreSQL the tests
// skip, saying what to install, unless RISKGATE_REQUIRE_PROD is set (CI).
func stack(t *testing.T) *harness.Stack {
	t.Helper()
	shared.once.Do(func() {
		tools, err := harness.FindTools()
		if errors.Is(err, harness.ErrMissing) && os.Getenv("RISKGATE_REQUIRE_PROD") == "" {
			shared.skip = err.Error()
			return
		}
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		shared.s, shared.err = harness.Up(ctx, tools, harness.Options{})
		shared.up = time.Since(start)
	})
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	t.Cleanup(func() {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		if shared.crashes == nil {
			shared.crashes = map[string]bool{}
		}
		for _, c := range shared.s.Crashed() {
			if !shared.crashes[c] {
				shared.crashes[c] = true
				t.Errorf("a process exited on its own: %s", c)
			}
		}
		if t.Failed() {
			t.Logf("logs of the production stack: %s/log", shared.s.Dir)
		}
	})
	return shared.s
}

// call sends a JSON request to the stack's API with the operator token and
// returns the status and body.
func call(t *testing.T, s *harness.Stack, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.API+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// operate posts an operator action and returns the new state.
func operate(t *testing.T, s *harness.Stack, path string, body map[string]any) domain.State {
	t.Helper()
	status, b := call(t, s, "POST", path, body)
	if status != http.StatusOK {
		t.Fatalf("POST %s %v: %d %s", path, body, status, b)
	}
	var st domain.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("POST %s: %v: %s", path, err, b)
	}
	return st
}

// scopeDetail is the part of GET /v1/scopes/{scope} the tests read.
type scopeDetail struct {
	State    *domain.State `json:"state"`
	Incident *struct {
		History []struct {
			TS      int64          `json:"ts"`
			To      domain.Status  `json:"to"`
			Trigger domain.Trigger `json:"trigger"`
			Reason  string         `json:"reason"`
		} `json:"history"`
	} `json:"incident"`
	Warnings []string `json:"warnings"`
}

// waitScope waits until the scope's published state satisfies cond.
func waitScope(t *testing.T, s *harness.Stack, scope string, limit time.Duration, what string, cond func(domain.State) bool) scopeDetail {
	t.Helper()
	var d scopeDetail
	var last string
	eventually(t, limit, scope+" "+what, func() bool {
		status, b := call(t, s, "GET", "/v1/scopes/"+url.PathEscape(scope), nil)
		last = fmt.Sprintf("%d %s", status, b)
		d = scopeDetail{}
		return status == http.StatusOK && json.Unmarshal(b, &d) == nil && d.State != nil && cond(*d.State)
	}, func() string { return "last answer: " + last })
	return d
}

// eventually polls cond until it holds, or fails the test after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			var more []string
			for _, d := range detail {
				more = append(more, d())
			}
			t.Fatalf("timed out after %v waiting for %s %s", limit, what, strings.Join(more, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
