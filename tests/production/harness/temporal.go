package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.yaml.in/yaml/v3"

	"github.com/riskgate/riskgate/workflows"
)

// Namespace is the Temporal namespace riskgate runs in, as in the k8s
// ConfigMap (RISKGATE_NAMESPACE) and the set-up steps of deploy/README.md.
const Namespace = "riskgate"

// setupSchema creates and migrates the temporal and temporal_visibility
// databases by running deploy/README.md's temporal-sql-tool steps verbatim,
// with the schema directory of the server module.
func setupSchema(ctx context.Context, t Tools, pgPort int) error {
	return runDocBlock(ctx, t.RepoRoot, "temporal-schema", map[string]string{"temporal-sql-tool": t.SQLTool},
		"SQL_HOST=127.0.0.1", "SQL_PORT="+strconv.Itoa(pgPort), "SQL_USER="+pgUser, "SQL_PASSWORD="+pgPassword,
		"SCHEMA="+filepath.Join(t.ModDir, "schema", "postgresql", "v12"))
}

// temporalPorts are the server's listeners, all on 127.0.0.1.
type temporalPorts struct {
	Frontend, FrontendHTTP, FrontendMembership int
	History, HistoryMembership                 int
	Matching, MatchingMembership               int
	Worker, WorkerMembership                   int
	Metrics                                    int
}

// writeServerConfig derives the server's configuration from the module's
// config/development-postgres12.yaml: the same persistence and services,
// with the harness's ports and credentials and an empty dynamic config. It fails
// when a key it edits is missing, so a changed upstream file is noticed.
func writeServerConfig(t Tools, dir string, pgPort int, p temporalPorts) error {
	b, err := os.ReadFile(filepath.Join(t.ModDir, "config", "development-postgres12.yaml"))
	if err != nil {
		return fmt.Errorf("server config template: %w", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("parse development-postgres12.yaml: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return err
	}
	// No dynamic config at all: what riskgate needs (updates, update-with-
	// start, SQL visibility with custom search attributes) is on by default
	// in this server version, and deploy/README.md says so. The development
	// file's settings would hide a cluster that lacks them.
	dynFile := filepath.Join(dir, "config", "dynamicconfig.yaml")
	if err := os.WriteFile(dynFile, []byte("# empty: riskgate needs no dynamic config (deploy/README.md)\n"), 0o644); err != nil {
		return err
	}
	var errs []error
	set := func(v any, path ...string) {
		if err := setPath(cfg, v, path...); err != nil {
			errs = append(errs, err)
		}
	}
	for _, store := range []string{"postgres-default", "postgres-visibility"} {
		set(fmt.Sprintf("127.0.0.1:%d", pgPort), "persistence", "datastores", store, "sql", "connectAddr")
		set(pgUser, "persistence", "datastores", store, "sql", "user")
		set(pgPassword, "persistence", "datastores", store, "sql", "password")
	}
	for svc, ports := range map[string][2]int{
		"frontend": {p.Frontend, p.FrontendMembership},
		"history":  {p.History, p.HistoryMembership},
		"matching": {p.Matching, p.MatchingMembership},
		"worker":   {p.Worker, p.WorkerMembership},
	} {
		set(ports[0], "services", svc, "rpc", "grpcPort")
		set(ports[1], "services", svc, "rpc", "membershipPort")
	}
	set(p.FrontendHTTP, "services", "frontend", "rpc", "httpPort")
	set(fmt.Sprintf("127.0.0.1:%d", p.Frontend), "clusterMetadata", "clusterInformation", "active", "rpcAddress")
	set(fmt.Sprintf("127.0.0.1:%d", p.Metrics), "global", "metrics", "prometheus", "listenAddress")
	set(dynFile, "dynamicConfigClient", "filepath")
	// Warnings and errors only: at info the server logs every shard move,
	// which costs the loaded test machine more than it tells.
	set("warn", "log", "level")
	if g, ok := cfg["global"].(map[string]any); ok {
		delete(g, "pprof") // its fixed port would collide with a second stack
	}
	if len(errs) > 0 {
		return fmt.Errorf("development-postgres12.yaml of server %s changed: %w", TemporalServerVersion, errors.Join(errs...))
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	head := "# Derived by tests/production/harness from go.temporal.io/server@" + TemporalServerVersion +
		" config/development-postgres12.yaml: ports, credentials and file paths edited.\n"
	return os.WriteFile(filepath.Join(dir, "config", "riskgate.yaml"), append([]byte(head), out...), 0o644)
}

// setPath sets an existing key of nested maps.
func setPath(m map[string]any, v any, path ...string) error {
	for i, k := range path {
		cur, ok := m[k]
		if !ok {
			return fmt.Errorf("no key %s", strings.Join(path[:i+1], "."))
		}
		if i == len(path)-1 {
			m[k] = v
			return nil
		}
		if m, ok = cur.(map[string]any); !ok {
			return fmt.Errorf("%s is not a map", strings.Join(path[:i+1], "."))
		}
	}
	return nil
}

// serverArgs is the server's command line for the config of writeServerConfig.
func serverArgs(t Tools, dir string) []string {
	return []string{t.Server, "--root", dir, "--config", "config", "--env", "riskgate", "--allow-no-auth", "start"}
}

// waitTemporal waits until the frontend answers health checks.
func waitTemporal(ctx context.Context, addr string, p *proc) error {
	for {
		c, err := client.Dial(client.Options{HostPort: addr, Namespace: "temporal-system", Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		if p != nil && p.exited() {
			return fmt.Errorf("temporal server exited: %v (see %s)", p.exitError(), p.Log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal server at %s not healthy: %w (last: %v)", addr, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// docBlock returns the ```sh block of deploy/README.md between the markers
// <!-- name --> and <!-- /name -->: steps the README gives an operator,
// which the harness runs verbatim so that the two cannot drift apart.
func docBlock(repo, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(repo, "deploy", "README.md"))
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(name) + " -->\\s*```sh\n(.*?)```\\s*<!-- /" + regexp.QuoteMeta(name) + " -->")
	m := re.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("deploy/README.md has no ```sh block between <!-- %s --> and <!-- /%s -->", name, name)
	}
	return string(m[1]), nil
}

// runDocBlock runs a block of deploy/README.md with sh -eu: progs first on
// PATH under the names the README calls them by, env added to ours.
func runDocBlock(ctx context.Context, repo, name string, progs map[string]string, env ...string) error {
	steps, err := docBlock(repo, name)
	if err != nil {
		return err
	}
	binDir, err := os.MkdirTemp("", "riskgate-doc-bin")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	for as, prog := range progs {
		if err := os.Symlink(prog, filepath.Join(binDir, as)); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "sh", "-eu", "-c", steps)
	cmd.Env = append(append(scrubEnv(os.Environ(), "TEMPORAL_", "SQL_", "PATH="),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH")), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("the %s steps of deploy/README.md failed: %w\n%s\n%s", name, err, steps, tail(out, 30))
	}
	return nil
}

// registerNamespace runs deploy/README.md's Temporal set-up against the
// harness's server, then checks that the namespace has every search
// attribute the workflow upserts, with its type.
func registerNamespace(ctx context.Context, t Tools, addr string) error {
	if err := runDocBlock(ctx, t.RepoRoot, "temporal-setup", map[string]string{"temporal": t.CLI}, "TEMPORAL_ADDRESS="+addr); err != nil {
		return err
	}
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: Namespace, Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", Namespace, err)
	}
	for _, name := range slices.Sorted(maps.Keys(workflows.SearchAttributes)) {
		want, err := enums.IndexedValueTypeFromString(workflows.SearchAttributes[name])
		if err != nil {
			return fmt.Errorf("search attribute %s of the workflow: %w", name, err)
		}
		got, ok := resp.GetCustomAttributes()[name]
		if !ok || got != want {
			return fmt.Errorf("after the set-up of deploy/README.md, namespace %s has search attribute %s = %v, want %v",
				Namespace, name, got, want)
		}
	}
	return nil
}

// scrubEnv drops the variables with any of the prefixes.
func scrubEnv(env []string, prefixes ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		drop := false
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// quietLogger drops the SDK's logs: the harness reports its own errors.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
