package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/workflows"
)

// TestDevLimitsWalkthrough runs `riskgate dev --tokens FILE` — real Kafka,
// Temporal, Limits workflow, indexer — with an operator and two admins
// besides the dev token, and walks the operator surface of limits through
// it as the README does: the HTTP routes with every role, the CLI, the
// four eyes of a change beyond the ceilings and of a GLOBAL unkill, a raise
// reverted by its timer, and the daily report's limit changes.
func TestDevLimitsWalkthrough(t *testing.T) {
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	toks := map[string]string{"olga": api.NewToken(), "ada": api.NewToken(), "adam": api.NewToken(), "vera": api.NewToken()}
	roles := map[string]api.Role{"olga": api.RoleOperator, "ada": api.RoleAdmin, "adam": api.RoleAdmin, "vera": api.RoleViewer}
	var tf api.TokensFile
	for name, tok := range toks {
		tf.Tokens = append(tf.Tokens, api.TokenEntry{Name: name, Role: roles[name], SHA256: api.HashToken(tok)})
	}
	b, _ := json.Marshal(tf)
	tokensFile := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(tokensFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	ports := freePorts(t, 4)
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	startDev(t, bin, "--data", data, "--no-gen", "--tokens", tokensFile,
		"--kafka-port", fmt.Sprint(ports[0]), "--temporal-port", fmt.Sprint(ports[1]),
		"--ui-port", fmt.Sprint(ports[2]), "--api-addr", fmt.Sprintf("127.0.0.1:%d", ports[3]))

	// The HTTP calls go through a proxy that checks every answer of the
	// real workflow against openapi.json.
	target, _ := url.Parse(apiURL)
	proxy := httptest.NewServer(validateOpenAPI(t, httputil.NewSingleHostReverseProxy(target)))
	defer proxy.Close()
	call := func(method, path, who string, body any, hdr ...string) (int, workflows.LimitsView, string) {
		t.Helper()
		var rd *strings.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		} else {
			rd = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, proxy.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+toks[who])
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&raw)
		var v workflows.LimitsView
		_ = json.Unmarshal(raw, &v)
		return resp.StatusCode, v, string(raw)
	}
	lim := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	want := func(what string, code, wantCode int, body string, contains ...string) {
		t.Helper()
		if code != wantCode {
			t.Fatalf("%s: %d, want %d: %s", what, code, wantCode, body)
		}
		for _, c := range contains {
			if !strings.Contains(body, c) {
				t.Errorf("%s: %s lacks %q", what, body, c)
			}
		}
	}

	// Reads: a scope never changed shows its type's defaults and ceilings.
	code, v, body := call("GET", "/v1/limits/ACCOUNT:A1", "vera", nil)
	want("GET defaults", code, 200, body, `"state":"DEFAULT"`, `"max_orders":"default"`, `"ceilings":{`)
	// Within the ceilings, an operator's change applies at once.
	code, v, body = call("PUT", "/v1/limits/ACCOUNT:A1", "olga", map[string]any{"limits": lim("max_orders", 200, "credit_limit", 1e7), "reason": "desk asked"})
	want("set within the ceilings", code, 200, body, `"max_orders":"override"`, `"state":"OVERRIDDEN"`)
	if v.Version <= 0 || v.UpdatedBy != "olga" || !v.Applied {
		t.Fatalf("after set: %s", body)
	}
	code, _, body = call("PUT", "/v1/limits/ACCOUNT:A1", "olga", map[string]any{"limits": lim("credit_limit", nil), "reason": "back to default credit"})
	want("null clears", code, 200, body, `"credit_limit":"default"`, `"credit_limit":25000000`)
	code, _, body = call("PUT", "/v1/limits/ACCOUNT:A1", "vera", map[string]any{"limits": lim("max_orders", 50), "reason": "x"})
	want("viewer", code, 403, body)
	code, _, body = call("PUT", "/v1/limits/ACCOUNT:A1", "olga", map[string]any{"limits": lim("max_orders", 0), "reason": "x"})
	want("bad value", code, 400, body, "max_orders")
	code, _, body = call("PUT", "/v1/limits/ACCOUNT:A1", "olga", map[string]any{"limits": lim("max_orders", 5000), "reason": "x"})
	want("operator beyond the ceilings", code, 403, body, "ceiling")

	// Four eyes: an admin asks beyond the ceiling; another admin approves.
	code, v, body = call("PUT", "/v1/limits/ACCOUNT:A1", "ada", map[string]any{"limits": lim("max_orders", 5000), "reason": "index rebalance"})
	want("admin beyond the ceilings", code, 202, body, `"state":"PENDING_APPROVAL"`, `"requested_by":"ada"`)
	if v.Pending == nil || v.Limits.MaxOrders == nil || *v.Limits.MaxOrders != 200 {
		t.Fatalf("a pending change applied early: %s", body)
	}
	code, _, body = call("POST", "/v1/limits/ACCOUNT:A1/approve", "ada", map[string]any{"reason": "mine"})
	want("requester approves", code, 409, body, "different operator")
	code, _, body = call("POST", "/v1/limits/ACCOUNT:A1/approve", "olga", map[string]any{"reason": "ok"})
	want("operator approves", code, 403, body, "admin")
	code, v, body = call("POST", "/v1/limits/ACCOUNT:A1/approve", "adam", map[string]any{"reason": "checked with the desk"})
	want("second admin approves", code, 200, body, `"max_orders":5000`, `"approved_by":"adam"`)
	code, _, body = call("POST", "/v1/limits/ACCOUNT:A1/reject", "olga", map[string]any{"reason": "too late"})
	want("nothing left to reject", code, 409, body)

	// A raise reverts by its durable timer.
	code, v, body = call("POST", "/v1/limits/ACCOUNT:A2/raise", "olga", map[string]any{"limits": lim("max_orders", 300), "reason": "close", "duration_seconds": 3})
	want("raise", code, 200, body, `"state":"TEMPORARY"`, `"max_orders":"temporary"`)
	if v.ExpiresAt <= time.Now().UnixMilli()-5000 {
		t.Fatalf("raise without an expiry: %s", body)
	}
	eventually(t, 60*time.Second, "the raise of ACCOUNT:A2 reverted", func() bool {
		_, v, _ := call("GET", "/v1/limits/ACCOUNT:A2", "vera", nil)
		return v.State == workflows.LimitStateDefault && v.Limits.MaxOrders != nil && *v.Limits.MaxOrders == 100
	})

	// Symbols: restrict and unrestrict; an account cannot be restricted.
	code, _, body = call("POST", "/v1/limits/SYMBOL:ACME/restrict", "olga", map[string]any{"reason": "news pending"})
	want("restrict", code, 200, body, `"restricted":true`)
	code, _, body = call("POST", "/v1/limits/SYMBOL:ACME/unrestrict", "olga", map[string]any{"reason": "news out"})
	if code != 200 && code != 202 {
		t.Fatalf("unrestrict: %d %s", code, body)
	}
	code, _, body = call("POST", "/v1/limits/ACCOUNT:A1/restrict", "olga", map[string]any{"reason": "x"})
	want("restrict an account", code, 400, body, "SYMBOL")

	// The same Idempotency-Key twice changes the limits once.
	_, v1, _ := call("PUT", "/v1/limits/ACCOUNT:A4", "olga", map[string]any{"limits": lim("max_orders", 150), "reason": "x"}, "Idempotency-Key", "walk-1")
	_, v2, body := call("PUT", "/v1/limits/ACCOUNT:A4", "olga", map[string]any{"limits": lim("max_orders", 150), "reason": "x"}, "Idempotency-Key", "walk-1")
	if v1.Version == 0 || v1.Version != v2.Version {
		t.Fatalf("a repeated cmd_id changed the version %d → %d: %s", v1.Version, v2.Version, body)
	}

	// The list, from Temporal visibility.
	eventually(t, 30*time.Second, "GET /v1/limits lists ACCOUNT:A1 and ACCOUNT:A4", func() bool {
		_, _, body := call("GET", "/v1/limits", "vera", nil)
		return strings.Contains(body, `"scope":"ACCOUNT:A1"`) && strings.Contains(body, `"scope":"ACCOUNT:A4"`) && !strings.Contains(body, `"scope":"ACCOUNT:A2"`)
	})

	// The CLI, as the README shows it.
	cli := func(who string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"limits"}, args...)...)
		cmd.Env = append(os.Environ(), "RISKGATE_API="+apiURL, "RISKGATE_TOKEN="+toks[who])
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	for _, c := range []struct {
		who      string
		args     []string
		code     int
		contains []string
	}{
		{"vera", []string{"show", "ACCOUNT:A1"}, 0, []string{"OVERRIDDEN", "max_orders", "5000", "override", "1000", "approved by adam"}},
		{"vera", []string{"list"}, 0, []string{"ACCOUNT:A1", "max_orders=5000", "ACCOUNT:A4"}},
		{"olga", []string{"set", "ACCOUNT:A5", "--max-orders", "150", "--reason", "desk"}, 0, []string{"ACCOUNT:A5  OVERRIDDEN", "150"}},
		{"ada", []string{"raise", "ACCOUNT:A5", "--max-orders", "2000", "--for", "30m", "--reason", "close"}, 0, []string{"waiting for a second operator"}},
		{"ada", []string{"approve", "ACCOUNT:A5", "--reason", "mine"}, 2, []string{"HTTP 409"}},
		{"adam", []string{"approve", "ACCOUNT:A5", "--reason", "ok"}, 0, []string{"TEMPORARY", "2000", "temporary until"}},
		{"olga", []string{"restrict", "ACME", "--reason", "halt"}, 0, []string{"SYMBOL:ACME", "restricted"}},
		{"olga", []string{"set", "ACCOUNT:A5", "--max-orders", "9999", "--reason", "x"}, 2, []string{"HTTP 403"}},
	} {
		out, code := cli(c.who, c.args...)
		if code != c.code {
			t.Fatalf("riskgate limits %s as %s: exit %d, want %d\n%s", strings.Join(c.args, " "), c.who, code, c.code, out)
		}
		for _, s := range c.contains {
			if !strings.Contains(out, s) {
				t.Errorf("riskgate limits %s: output lacks %q:\n%s", strings.Join(c.args, " "), s, out)
			}
		}
	}

	// The history, from the audit index the dev stack's indexer fills.
	eventually(t, 60*time.Second, "the approval of ACCOUNT:A1 in riskgate limits history", func() bool {
		out, code := cli("vera", "history", "ACCOUNT:A1")
		return code == 0 && strings.Contains(out, "APPROVE") && strings.Contains(out, "adam") && strings.Contains(out, "max_orders=5000")
	})

	// GLOBAL unkill takes a second admin too.
	st, _, gb := httpDo(t, "POST", apiURL+"/v1/kill", toks["ada"], map[string]any{"scope": "GLOBAL", "reason": "walk-through"})
	if st != 200 {
		t.Fatalf("kill GLOBAL: %d %s", st, gb)
	}
	st, _, gb = httpDo(t, "POST", apiURL+"/v1/unkill", toks["ada"], map[string]any{"scope": "GLOBAL", "reason": "all clear"})
	if st != 202 {
		t.Fatalf("first unkill of GLOBAL: %d %s; want 202, waiting for a second admin", st, gb)
	}
	st, _, gb = httpDo(t, "POST", apiURL+"/v1/unkill", toks["adam"], map[string]any{"scope": "GLOBAL", "reason": "agreed"})
	if st != 200 || !strings.Contains(string(gb), `"status":"ACTIVE"`) {
		t.Fatalf("second unkill of GLOBAL: %d %s", st, gb)
	}

	// The daily report lists the day's limit changes from the audit index.
	out := filepath.Join(dir, "reports")
	day := time.Now().UTC().Format(time.DateOnly)
	var csv string
	eventually(t, 60*time.Second, "the approval in the report's limit changes", func() bool {
		cmd := exec.Command(bin, "report", "--date", day, "--data", data, "--out", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("riskgate report: %v\n%s", err, b)
		}
		b, err := os.ReadFile(filepath.Join(out, "reports", strings.ReplaceAll(day, "-", "/"), "riskgate-report-"+day+"-limit-changes.csv"))
		csv = string(b)
		return err == nil && strings.Contains(csv, "APPROVE") && strings.Contains(csv, ",RESTRICT,")
	})
	for _, s := range []string{",ACCOUNT:A1,SET,olga,", "max_orders default → 200", ",ACCOUNT:A1,APPROVE,ada,adam,", "max_orders 200 → 5000", ",ACCOUNT:A2,REVERT,"} {
		if !strings.Contains(csv, s) {
			t.Errorf("limit changes CSV lacks %q:\n%s", s, csv)
		}
	}
}
