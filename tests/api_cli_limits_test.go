package tests

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/riskgate/riskgate/workflows"
)

// TestCLILimits runs `riskgate limits …` against an API over the fake
// Limits workflows: output, exit codes (1 bad arguments, 2 refused, 3
// unavailable) and the requests the commands send.
func TestCLILimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := newAPIHarness(t)
	run := func(who string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"limits"}, args...)...)
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
	cases := []struct {
		name     string
		who      string
		args     []string
		code     int
		contains []string
		check    func(t *testing.T)
	}{
		{"show defaults", "vera", []string{"show", "ACCOUNT:A1"}, 0, []string{"ACCOUNT:A1  DEFAULT  version 0", "LIMIT", "max_orders", "100", "default", "credit_limit", "25000000", "1000"}, nil},
		{"show json", "vera", []string{"show", "ACCOUNT:A1", "--json"}, 0, []string{`"state": "DEFAULT"`}, nil},
		{"show bad scope", "vera", []string{"show", "DESK:1"}, 1, []string{"unknown scope type"}, nil},
		{"list empty", "vera", []string{"list"}, 0, []string{"SCOPE", "every scope is on its type's defaults"}, nil},
		{"set", "olga", []string{"set", "ACCOUNT:A1", "--max-orders", "200", "--credit-limit", "1e7", "--reason", "desk asked"}, 0,
			[]string{"OVERRIDDEN", "by olga", "max_orders", "200", "override", "10000000"}, func(t *testing.T) {
				c := lastLimitsCall(t, h)
				if c.Update != workflows.LimitsUpdateSet || *c.Req.Limits.MaxOrders != 200 || *c.Req.Limits.CreditLimit != 1e7 {
					t.Errorf("sent %+v", c)
				}
			}},
		{"set --clear", "olga", []string{"set", "ACCOUNT:A1", "--clear", "max-orders", "--reason", "back"}, 0, []string{"max_orders", "100"}, func(t *testing.T) {
			if c := lastLimitsCall(t, h); len(c.Req.Clear) != 1 || c.Req.Clear[0] != "max_orders" {
				t.Errorf("clear sent %v", c.Req.Clear)
			}
		}},
		{"set nothing", "olga", []string{"set", "ACCOUNT:A1", "--reason", "x"}, 1, []string{"at least one limit"}, nil},
		{"set without reason", "olga", []string{"set", "ACCOUNT:A1", "--max-orders", "5"}, 1, []string{"--reason is required"}, nil},
		{"set not a number", "olga", []string{"set", "ACCOUNT:A1", "--max-orders", "lots", "--reason", "x"}, 1, []string{"--max-orders", "whole number"}, nil},
		{"clear an unknown field", "olga", []string{"set", "ACCOUNT:A1", "--clear", "speed", "--reason", "x"}, 1, []string{"speed", "not a limit"}, nil},
		{"set a bad value", "olga", []string{"set", "ACCOUNT:A1", "--max-orders", "-3", "--reason", "x"}, 2, []string{"max_orders", "HTTP 400"}, nil},
		{"set as viewer", "vera", []string{"set", "ACCOUNT:A1", "--max-orders", "5", "--reason", "x"}, 2, []string{"Insufficient role", "HTTP 403"}, nil},
		{"beyond the ceilings as operator", "olga", []string{"set", "ACCOUNT:A2", "--max-orders", "5000", "--reason", "x"}, 2, []string{"ceiling", "HTTP 403"}, nil},
		{"beyond the ceilings as admin", "ada", []string{"set", "ACCOUNT:A2", "--max-orders", "5000", "--reason", "big desk"}, 0,
			[]string{"waiting for a second operator", "riskgate limits approve ACCOUNT:A2"}, nil},
		{"list shows the pending", "vera", []string{"list"}, 0, []string{"ACCOUNT:A2", "PENDING_APPROVAL", "set by ada: max_orders=5000"}, nil},
		{"show the pending", "vera", []string{"show", "ACCOUNT:A2"}, 0, []string{"pending set by ada (big desk): max_orders=5000"}, nil},
		{"approve own", "ada", []string{"approve", "ACCOUNT:A2", "--reason", "ok"}, 2, []string{"HTTP 409"}, nil},
		{"approve as operator", "olga", []string{"approve", "ACCOUNT:A2", "--reason", "ok"}, 2, []string{"HTTP 403"}, nil},
		{"approve by a second admin", "adam", []string{"approve", "ACCOUNT:A2", "--reason", "checked"}, 0, []string{"ACCOUNT:A2  OVERRIDDEN", "5000"}, nil},
		{"reject with nothing pending", "olga", []string{"reject", "ACCOUNT:A2", "--reason", "no"}, 2, []string{"HTTP 409"}, nil},
		{"raise", "olga", []string{"raise", "ACCOUNT:A3", "--max-orders", "300", "--for", "30m", "--reason", "close"}, 0,
			[]string{"TEMPORARY", "temporary until", "temporary"}, func(t *testing.T) {
				if c := lastLimitsCall(t, h); c.Update != workflows.LimitsUpdateRaise || c.Req.DurationSeconds != 1800 {
					t.Errorf("sent %+v", c)
				}
			}},
		{"raise without --for", "olga", []string{"raise", "ACCOUNT:A3", "--max-orders", "300", "--reason", "close"}, 1, []string{"--for is required"}, nil},
		{"restrict", "olga", []string{"restrict", "ACME", "--reason", "news"}, 0, []string{"SYMBOL:ACME", "restricted", "true"}, nil},
		{"restrict an account", "olga", []string{"restrict", "ACCOUNT:A1", "--reason", "news"}, 2, []string{"SYMBOL", "HTTP 400"}, nil},
		{"unrestrict", "oscar", []string{"unrestrict", "SYMBOL:ACME", "--reason", "news out"}, 0, []string{"SYMBOL:ACME"}, nil},
		{"history", "vera", []string{"history", "ACCOUNT:A9"}, 0, []string{"TIME", "no change of limits recorded for ACCOUNT:A9"}, nil},
		{"history bad limit", "vera", []string{"history", "ACCOUNT:A9", "--limit", "0"}, 2, []string{"HTTP 400"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := run(c.who, c.args...)
			if code != c.code {
				t.Fatalf("riskgate limits %s: exit %d, want %d\n%s", strings.Join(c.args, " "), code, c.code, out)
			}
			for _, s := range c.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			if c.check != nil {
				c.check(t)
			}
		})
	}
	t.Run("Temporal down exits 3", func(t *testing.T) {
		h.lim.setDown(true)
		defer h.lim.setDown(false)
		out, code := run("olga", "set", "ACCOUNT:A1", "--max-orders", "50", "--reason", "x")
		if code != 3 || !strings.Contains(out, "Temporal unavailable") {
			t.Fatalf("exit %d, want 3:\n%s", code, out)
		}
	})
}
