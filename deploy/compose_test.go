package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose parses docker-compose.yml with the compose-spec reference
// library, all profiles on, with its consistency checks.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithProfiles([]string{"*"}),
		cli.WithConsistency(true),
		cli.WithEnv([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

// Services of the compose file by kind.
var (
	oneShots  = []string{"topics", "tables", "temporal-admin-tools", "minio-setup"}
	riskgates = []string{"topics", "tables", "router-1", "router-2", "detector", "worker", "indexer", "api", "report", "gen"}
	infra     = []string{"kafka", "postgresql", "temporal", "temporal-ui", "dynamodb", "minio"}
)

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, want := range append(append(append([]string{}, oneShots...), riskgates...), infra...) {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("no service %s (have %v)", want, names)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "zookeeper") {
			t.Errorf("service %s: Kafka must run in KRaft mode", n)
		}
	}
	kafka := p.Services["kafka"]
	if roles := kafka.Environment["KAFKA_PROCESS_ROLES"]; roles == nil || !strings.Contains(*roles, "controller") {
		t.Errorf("kafka is not a KRaft controller: KAFKA_PROCESS_ROLES=%v", roles)
	}
	if gen := p.Services["gen"]; !has(gen.Profiles, "demo") {
		t.Errorf("gen should only run in the demo profile, profiles %v", gen.Profiles)
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.Services {
		if why := pinnedImage(s.Image); why != "" {
			t.Errorf("service %s image %q: %s", name, s.Image, why)
		}
		if has(riskgates, name) {
			if s.Build == nil || filepath.Base(s.Build.Dockerfile) != "Dockerfile" || !strings.Contains(filepath.ToSlash(s.Build.Dockerfile), "deploy/") {
				t.Errorf("service %s is not built from deploy/Dockerfile: %+v", name, s.Build)
			}
		}
	}
}

func TestComposeHealthChecksAndDependencies(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			oneShot := has(oneShots, name)
			if oneShot && s.Restart != "no" {
				t.Errorf("one-shot restart %q, want no", s.Restart)
			}
			if !oneShot && name != "gen" {
				if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
					t.Errorf("no health check")
				}
			}
			for dep, d := range s.DependsOn {
				if _, ok := p.Services[dep]; !ok {
					t.Errorf("depends on unknown service %s", dep)
				}
				want := types.ServiceConditionHealthy
				switch {
				case has(oneShots, dep):
					want = types.ServiceConditionCompletedSuccessfully
				case dep == "indexer" && name == "api":
					want = types.ServiceConditionStarted
				}
				if d.Condition != want {
					t.Errorf("depends on %s with condition %q, want %q", dep, d.Condition, want)
				}
				if !has(oneShots, dep) && dep != "indexer" {
					if ds := p.Services[dep]; ds.HealthCheck == nil {
						t.Errorf("waits for %s to be healthy but it has no health check", dep)
					}
				}
			}
		})
	}
	// The dependencies that make the stack start in order.
	for _, c := range []struct{ service, dep, cond string }{
		{"topics", "kafka", types.ServiceConditionHealthy},
		{"router-1", "topics", types.ServiceConditionCompletedSuccessfully},
		{"router-2", "topics", types.ServiceConditionCompletedSuccessfully},
		{"detector", "temporal", types.ServiceConditionHealthy},
		{"worker", "temporal-admin-tools", types.ServiceConditionCompletedSuccessfully},
		{"temporal", "postgresql", types.ServiceConditionHealthy},
		{"temporal-admin-tools", "temporal", types.ServiceConditionHealthy},
		{"indexer", "tables", types.ServiceConditionCompletedSuccessfully},
		{"tables", "dynamodb", types.ServiceConditionHealthy},
		{"report", "minio-setup", types.ServiceConditionCompletedSuccessfully},
		{"api", "temporal", types.ServiceConditionHealthy},
	} {
		if d, ok := p.Services[c.service].DependsOn[c.dep]; !ok || d.Condition != c.cond {
			t.Errorf("%s should depend on %s (%s)", c.service, c.dep, c.cond)
		}
	}
}

func TestComposeRegistersSearchAttributes(t *testing.T) {
	p := loadCompose(t)
	cmd := strings.Join(p.Services["temporal-admin-tools"].Command, " ")
	for _, a := range []string{"KillScope", "KillScopeType", "KillStatus", "KillTrigger", "LimitScope", "LimitState"} {
		if !regexp.MustCompile(`--name ` + a + ` --type Keyword`).MatchString(cmd) {
			t.Errorf("search attribute %s not registered as Keyword by: %s", a, cmd)
		}
	}
}

// TestComposeCommandsMatchTheBinary runs `riskgate <command> --help` for
// every riskgate service and checks its flags and RISKGATE_* variables.
func TestComposeCommandsMatchTheBinary(t *testing.T) {
	p := loadCompose(t)
	for _, name := range riskgates {
		s := p.Services[name]
		where := "compose service " + name
		checkArgs(t, where, s.Command)
		for k := range s.Environment {
			checkEnv(t, where, subcommand(s.Command), k)
		}
	}
	routers := map[string]bool{}
	for _, n := range []string{"router-1", "router-2"} {
		args := p.Services[n].Command
		for i, a := range args {
			if a == "--instance-id" && i+1 < len(args) {
				routers[args[i+1]] = true
			}
		}
	}
	if len(routers) != 2 {
		t.Errorf("the two routers need distinct --instance-id values, got %v", routers)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(froms))
	}
	for _, f := range froms {
		if why := pinnedImage(f[1]); why != "" {
			t.Errorf("base image %s: %s", f[1], why)
		}
	}
	final := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []string{"CGO_ENABLED=0"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s (static binary)", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
	if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
		t.Errorf("final stage must run as a non-root USER, got %v", user)
	}
	if !strings.Contains(final, "ENTRYPOINT") || !strings.Contains(final, "/usr/local/bin/probe") {
		t.Error("final stage lacks the riskgate entrypoint or the probe binary")
	}
}
