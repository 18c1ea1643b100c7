package tests

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoSecretInAnyHelp runs every command's --help with every secret
// riskgate reads from the environment set: none may show up, as a flag
// default would.
func TestNoSecretInAnyHelp(t *testing.T) {
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"RISKGATE_TOKEN":          "rg_secret_token_0123456789",
		"RISKGATE_DEV_TOKEN":      "rg_secret_devtoken_0123456789",
		"RISKGATE_KAFKA_PASSWORD": "kafka-secret-password",
		"TEMPORAL_API_KEY":        "temporal-secret-api-key",
		"AWS_SECRET_ACCESS_KEY":   "aws-secret-access-key",
		"RISKGATE_IDENTITY_KEY":   "identity-secret-key-0123456789abcdef0123",
	}
	env := os.Environ()
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	help := func(path []string) string {
		cmd := exec.Command(bin, append(append([]string(nil), path...), "--help")...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("riskgate %s --help: %v\n%s", strings.Join(path, " "), err, out)
		}
		return string(out)
	}
	seen := 0
	var walk func(path []string)
	walk = func(path []string) {
		out := help(path)
		seen++
		for k, v := range secrets {
			if strings.Contains(out, v) {
				t.Errorf("riskgate %s --help shows $%s", strings.Join(path, " "), k)
			}
		}
		in := false
		for _, l := range strings.Split(out, "\n") {
			switch {
			case strings.HasPrefix(l, "Available Commands:"):
				in = true
			case in && strings.TrimSpace(l) == "":
				in = false
			case in:
				name := strings.Fields(l)[0]
				if name != "help" && name != "completion" {
					walk(append(append([]string(nil), path...), name))
				}
			}
		}
	}
	walk(nil)
	if seen < 20 {
		t.Fatalf("walked only %d commands; the help format changed?", seen)
	}
}

// TestVersion: --version names the build.
func TestVersion(t *testing.T) {
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "riskgate ") || !strings.Contains(string(out), "revision ") || !strings.Contains(string(out), "go1.") {
		t.Fatalf("riskgate --version: %v %q", err, out)
	}
}
