// Package deploy holds the checks of the deployment files: the compose file
// at the repository root, deploy/Dockerfile and deploy/k8s. It is a module of
// its own so that the compose-spec and Kubernetes libraries never enter the
// product's dependency graph.
package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository root, one level up.
const repoRoot = ".."

var (
	binOnce sync.Once
	binPath string
	binErr  error

	helpMu    sync.Mutex
	helpCache = map[string]string{}
)

// riskgateBin builds the riskgate binary of this checkout once per run, so
// the manifests are checked against the flags the binary really has.
func riskgateBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "riskgate-deploy-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "riskgate")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/riskgate")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build riskgate: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// subcommand is the command path of an argument list: the words before the
// first flag ("topics create", "router").
func subcommand(args []string) []string {
	var sub []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		sub = append(sub, a)
	}
	return sub
}

// help is `riskgate <sub> --help`.
func help(t *testing.T, sub []string) string {
	t.Helper()
	key := strings.Join(sub, " ")
	helpMu.Lock()
	defer helpMu.Unlock()
	if h, ok := helpCache[key]; ok {
		return h
	}
	out, err := exec.Command(riskgateBin(t), append(append([]string{}, sub...), "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("riskgate %s --help: %v\n%s", key, err, out)
	}
	if !strings.Contains(string(out), "Usage:") {
		t.Fatalf("riskgate %s --help printed no usage:\n%s", key, out)
	}
	helpCache[key] = string(out)
	return string(out)
}

var flagRE = regexp.MustCompile(`^--([a-z0-9-]+)`)

// checkArgs fails when args name a subcommand or a flag the binary lacks.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no riskgate command", where)
		return
	}
	sub := subcommand(args)
	h := help(t, sub)
	// An unknown subcommand makes cobra print the parent's help.
	if len(sub) > 0 && !strings.Contains(h, "riskgate "+strings.Join(sub, " ")) {
		t.Errorf("%s: riskgate has no command %q", where, strings.Join(sub, " "))
	}
	for _, a := range args {
		m := flagRE.FindStringSubmatch(a)
		if m == nil {
			continue
		}
		if !regexp.MustCompile(`(?m)--` + regexp.QuoteMeta(m[1]) + `\b`).MatchString(h) {
			t.Errorf("%s: riskgate %s has no flag --%s", where, strings.Join(sub, " "), m[1])
		}
	}
}

// checkEnv fails for a RISKGATE_* variable no help text of sub mentions.
func checkEnv(t *testing.T, where string, sub []string, name string) {
	t.Helper()
	if !strings.HasPrefix(name, "RISKGATE_") {
		return
	}
	if !strings.Contains(help(t, sub), name) {
		t.Errorf("%s: riskgate %s does not read %s", where, strings.Join(sub, " "), name)
	}
}

// pinnedImage reports what is wrong with an image reference, if anything.
func pinnedImage(ref string) string {
	if ref == "" {
		return "no image"
	}
	if strings.Contains(ref, "@sha256:") {
		return ""
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 {
		return "no tag (means latest)"
	}
	if tag := name[i+1:]; tag == "latest" || tag == "" {
		return "tag " + tag
	}
	return ""
}
