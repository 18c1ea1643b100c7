package tests

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
)

// TestCLIAgainstAPI builds the riskgate binary and runs the operator
// commands against an API over a fake Temporal.
func TestCLIAgainstAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := newAPIHarness(t)
	h.seed()
	runOn := func(h *apiHarness, who string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "RISKGATE_API="+h.ts.URL, "RISKGATE_TOKEN="+h.tokens[who], "RISKGATE_DATA="+t.TempDir())
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
	run := func(who string, args ...string) (string, int) {
		t.Helper()
		return runOn(h, who, args...)
	}

	cases := []struct {
		name     string
		who      string
		args     []string
		code     int
		contains []string
	}{
		{"kill", "olga", []string{"kill", "ACCOUNT:12345", "--reason", "runaway"}, 0, []string{"ACCOUNT:12345 is KILLED", "by olga"}},
		{"kill json", "olga", []string{"kill", "SYMBOL:ACME", "--reason", "halt", "--json"}, 0, []string{`"status": "KILLED"`}},
		{"throttle", "olga", []string{"throttle", "STRATEGY:mm", "--rate", "5", "--reason", "slow"}, 0, []string{"THROTTLED"}},
		{"throttle without rate", "olga", []string{"throttle", "STRATEGY:mm", "--reason", "slow"}, 1, []string{"--rate"}},
		{"extend", "olga", []string{"extend", "ACCOUNT:12345", "--by", "10m", "--reason", "investigating"}, 0, []string{"KILLED"}},
		{"pin", "olga", []string{"pin", "ACCOUNT:12345", "--reason", "hold"}, 0, []string{"KILLED"}},
		{"unpin", "olga", []string{"unpin", "ACCOUNT:12345", "--reason", "release"}, 0, []string{"KILLED"}},
		{"viewer cannot kill", "vera", []string{"kill", "ACCOUNT:1", "--reason", "x"}, 2, []string{"Insufficient role", "HTTP 403"}},
		{"GLOBAL needs admin", "olga", []string{"kill", "GLOBAL", "--reason", "x"}, 2, []string{"admin"}},
		{"bad scope", "olga", []string{"kill", "DESK:1", "--reason", "x"}, 1, []string{"unknown scope type"}},
		{"missing reason", "olga", []string{"unkill", "ACCOUNT:12345"}, 1, []string{"--reason is required"}},
		{"scopes", "vera", []string{"scopes"}, 0, []string{"SCOPE", "ACCOUNT:12345", "KILLED", "STRATEGY:mm", "5/s"}},
		{"scopes filtered", "vera", []string{"scopes", "--type", "SYMBOL", "--json"}, 0, []string{`"SYMBOL:ACME"`}},
		{"scope", "vera", []string{"scope", "ACCOUNT:12345"}, 0, []string{"status     KILLED", "open incident", "olga"}},
		{"unknown scope", "vera", []string{"scope", "ACCOUNT:nobody"}, 2, []string{"HTTP 404"}},
		{"audit", "vera", []string{"audit", "--account", "A1", "--decision", "DROP"}, 0, []string{"DECISION", "o-24", "5 records"}},
		{"audit paged", "vera", []string{"audit", "--limit", "25", "--json"}, 0, []string{`"o-05"`}},
		{"order", "vera", []string{"order", "o-06"}, 0, []string{"DROP", "caused by KILL of ACCOUNT:A1"}},
		{"unkill", "oscar", []string{"unkill", "ACCOUNT:12345", "--reason", "cleared"}, 0, []string{"ACCOUNT:12345 is ACTIVE", "by oscar"}},
		{"unkill twice conflicts", "oscar", []string{"unkill", "ACCOUNT:12345", "--reason", "again"}, 2, []string{"HTTP 409"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := run(c.who, c.args...)
			if code != c.code {
				t.Fatalf("riskgate %s: exit %d, want %d\n%s", strings.Join(c.args, " "), code, c.code, out)
			}
			for _, s := range c.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}

	t.Run("order names the limit of its BLOCK", func(t *testing.T) {
		h2 := newAPIHarness(t)
		h2.seedResubmissions()
		for _, c := range []struct {
			id   string
			want []string
		}{
			// The BLOCK after a REJECT decided the order; its value is
			// written out, and version 0 is the defaults.
			{"r-1", []string{"REJECT  r-1", "BLOCK  r-1",
				"blocked by the limit " + resubmittedLimit + ": the order's quantity is 1000000000 (the default limits)"}},
			{"b-0", []string{"blocked by the limit " + blockLimit + ": the order would have made it 101 orders in the window (limits version 4)"}},
			{"r-2", []string{"DROP  r-2", "caused by KILL of ACCOUNT:A1"}},
		} {
			out, code := runOn(h2, "vera", "order", c.id)
			if code != 0 {
				t.Fatalf("riskgate order %s: exit %d\n%s", c.id, code, out)
			}
			for _, s := range c.want {
				if !strings.Contains(out, s) {
					t.Errorf("riskgate order %s lacks %q:\n%s", c.id, s, out)
				}
			}
			if c.id != "b-0" && c.id != "r-1" && strings.Contains(out, "blocked by") {
				t.Errorf("riskgate order %s names a limit:\n%s", c.id, out)
			}
		}
	})

	t.Run("audit paging returns each record once", func(t *testing.T) {
		out, code := run("vera", "audit", "--limit", "1000", "--json")
		if code != 0 {
			t.Fatal(out)
		}
		var page struct {
			Records []domain.AuditRecord `json:"records"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Records) != 30 {
			t.Fatalf("%d records (%v)", len(page.Records), err)
		}
	})

	t.Run("token new writes only the hash", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "tokens.json")
		out, code := run("", "token", "new", "--name", "alice", "--role", "admin", "--file", file)
		if code != 0 {
			t.Fatal(out)
		}
		tok := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "token:"))
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), tok) {
			t.Fatal("the tokens file holds the token itself")
		}
		toks, err := api.LoadTokens(file)
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := toks.Authenticate(tok); !ok || id.Name != "alice" || id.Role != api.RoleAdmin {
			t.Fatalf("printed token does not authenticate: %+v %v", id, ok)
		}
	})
}
