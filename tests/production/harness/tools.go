// Package harness runs riskgate's production topology on one machine, with
// no container engine: PostgreSQL, the pinned Temporal server on it (schema
// by temporal-sql-tool, every service in one process), a three-broker Kafka
// (kfake in a process of its own), and riskgate as one process per role
// instance — two routers, two detectors, two workers, the indexer and the
// API, each with its ops endpoint. `make prod-up` and the tests of
// tests/production bring it up with Up.
package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/riskgate/riskgate/devstack"
)

// TemporalServerVersion is the Temporal server the harness runs; the
// Makefile's temporal-server target installs the same version, and its
// module holds the schema and the configuration the harness starts from.
const TemporalServerVersion = "v1.29.1"

// ErrMissing says a tool the harness needs is not installed; the tests skip
// on it (unless RISKGATE_REQUIRE_PROD is set, as in CI).
var ErrMissing = errors.New("production harness tool missing")

// Tools are the programs and files the harness runs.
type Tools struct {
	Server   string // temporal-server (go.temporal.io/server/cmd/server)
	SQLTool  string // temporal-sql-tool (go.temporal.io/server/cmd/tools/sql)
	CLI      string // the temporal CLI, for the operator steps of deploy/README.md
	Initdb   string
	PgCtl    string
	ModDir   string // go.temporal.io/server at TemporalServerVersion in the module cache
	RepoRoot string // the riskgate checkout (deploy/README.md, ./cmd/riskgate)
	// PostgresUser runs PostgreSQL when the harness runs as root (initdb
	// refuses root); nil otherwise.
	PostgresUser *syscall.Credential
}

// FindTools locates every tool, or says what is missing and how to get it
// (an error wrapping ErrMissing).
func FindTools() (Tools, error) {
	var t Tools
	var missing []string
	root, err := repoRoot()
	if err != nil {
		return t, err
	}
	t.RepoRoot = root
	t.Server = findBin("RISKGATE_TEMPORAL_SERVER_BIN", "temporal-server", root)
	t.SQLTool = findBin("RISKGATE_TEMPORAL_SQL_BIN", "temporal-sql-tool", root)
	if t.Server == "" || t.SQLTool == "" {
		missing = append(missing, "temporal-server and temporal-sql-tool "+TemporalServerVersion+
			" (run `make temporal-server`, or set RISKGATE_TEMPORAL_SERVER_BIN and RISKGATE_TEMPORAL_SQL_BIN)")
	}
	if cli, err := devstack.FindTemporalBinary(); err == nil {
		t.CLI = cli
	} else {
		missing = append(missing, err.Error())
	}
	t.Initdb, t.PgCtl = findPostgres("initdb"), findPostgres("pg_ctl")
	if t.Initdb == "" || t.PgCtl == "" {
		missing = append(missing, "PostgreSQL's initdb and pg_ctl (Debian: apt-get install postgresql)")
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing = append(missing, "the postgres user to run PostgreSQL as (we run as root; the Debian package creates it)")
		} else {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			t.PostgresUser = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		}
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w: %s", ErrMissing, strings.Join(missing, "; "))
	}
	if out, err := exec.Command(t.Server, "--version").Output(); err != nil ||
		!strings.Contains(string(out), strings.TrimPrefix(TemporalServerVersion, "v")) {
		return t, fmt.Errorf("%s --version says %q (%v), want %s: run `make temporal-server`",
			t.Server, strings.TrimSpace(string(out)), err, TemporalServerVersion)
	}
	dir, err := serverModuleDir(root)
	if err != nil {
		return t, err
	}
	t.ModDir = dir
	return t, nil
}

// findBin is $env, else .bin/name of the checkout.
func findBin(env, name, root string) string {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	p := filepath.Join(root, ".bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// findPostgres finds a PostgreSQL server program on PATH or, as Debian
// installs them, under /usr/lib/postgresql/<version>/bin (newest first).
func findPostgres(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// repoRoot is the root of the riskgate module the working directory is in.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the riskgate module (go env GOMOD): %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the riskgate module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// serverModuleDir is the server module's directory in the module cache
// (downloaded by `make temporal-server` already; a no-op then).
func serverModuleDir(root string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "go.temporal.io/server@"+TemporalServerVersion)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate go.temporal.io/server@%s: %v: %s", TemporalServerVersion, err, stderr.String())
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("locate go.temporal.io/server@%s: %s %v", TemporalServerVersion, m.Error, err)
	}
	return m.Dir, nil
}
