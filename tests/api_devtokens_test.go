package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskgate/riskgate/api"
)

// riskgate dev --tokens: the file's tokens are accepted besides the dev
// token, with their roles; a file naming "dev", or a bad file, is refused.
func TestDevTokensFromFile(t *testing.T) {
	dev, second := api.NewToken(), api.NewToken()
	dir := t.TempDir()
	good := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(good, []byte(`{"tokens":[{"name":"adam","role":"admin","sha256":"`+api.HashToken(second)+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, err := api.LoadTokenEntries(good)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := api.DevTokens(dev, entries...)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]api.Identity{dev: {Name: api.DevTokenName, Role: api.RoleAdmin}, second: {Name: "adam", Role: api.RoleAdmin}} {
		if id, ok := toks.Authenticate(tok); !ok || id != want {
			t.Errorf("token of %s authenticates as %+v, %v", want.Name, id, ok)
		}
	}
	if _, err := api.DevTokens(dev, api.TokenEntry{Name: "dev", Role: api.RoleViewer, SHA256: api.HashToken(second)}); err == nil || !strings.Contains(err.Error(), "dev token") {
		t.Errorf("an entry named dev: %v", err)
	}
	if _, err := api.DevTokens(dev, api.TokenEntry{Name: "eve", Role: api.RoleViewer, SHA256: api.HashToken(dev)}); err == nil {
		t.Error("an entry with the dev token's hash was accepted")
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"tokens":[{"name":"x","role":"root","sha256":"00"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := api.LoadTokenEntries(bad); err == nil || !strings.Contains(err.Error(), "role") {
		t.Errorf("a bad tokens file: %v", err)
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "dev", "--data", t.TempDir(), "--tokens", bad)
	cmd.Env = append(os.Environ(), "RISKGATE_DEV_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--tokens") {
		t.Errorf("riskgate dev --tokens bad.json: %v\n%s", err, out)
	}
}
