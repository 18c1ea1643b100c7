package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/riskgate/riskgate/ingest/kafka"
)

// Options configure Up.
type Options struct {
	// Dir holds everything (data, logs, config); empty makes a temp dir.
	Dir string
	// Detached processes outlive the caller (make prod-up); otherwise they
	// die with it.
	Detached bool
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

// Stack is a running production topology. Its exported fields are saved
// as JSON for `make prod-down` and for anyone pointing a tool at it.
type Stack struct {
	Dir         string            `json:"dir"`
	Namespace   string            `json:"namespace"`
	Brokers     []string          `json:"brokers"`
	Temporal    string            `json:"temporal"`
	API         string            `json:"api"`
	Token       string            `json:"token"`       // operator
	AdminToken  string            `json:"admin_token"` // admin (GLOBAL)
	Ops         map[string]string `json:"ops"`         // instance → its ops endpoint
	RiskgateBin string            `json:"riskgate_bin"`
	Postgres    *postgres         `json:"postgres"`
	Procs       []*proc           `json:"procs"`

	tools    Tools
	progress io.Writer
	byName   map[string]*proc
	mu       sync.Mutex
	stopped  map[string]bool // stopped on purpose, not crashed
}

// Up brings the whole topology up and returns once every instance is ready.
// On failure it tears down what it started; the logs stay in the dir.
func Up(ctx context.Context, t Tools, o Options) (s *Stack, err error) {
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "riskgate-prod-"); err != nil {
			return nil, err
		}
	}
	// PostgreSQL runs as another user and must reach its directory.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	s = &Stack{Dir: dir, Namespace: Namespace, Ops: map[string]string{}, tools: t, progress: o.Progress,
		byName: map[string]*proc{}, stopped: map[string]bool{}}
	defer func() {
		if err != nil {
			s.Down(true)
			err = fmt.Errorf("production stack in %s (logs kept): %w", dir, err)
		}
	}()
	for _, d := range []string{"bin", "log", "index", "temporal"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return s, err
		}
	}
	ports, err := FreePorts(25)
	if err != nil {
		return s, err
	}
	next := func() int { p := ports[0]; ports = ports[1:]; return p }
	start := time.Now()

	// Build first: the slowest step on a cold cache, and nothing runs yet.
	s.step("building riskgate and the Kafka server")
	bin := filepath.Join(dir, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./cmd/riskgate", "./tests/production/kafkaserver")
	build.Dir = t.RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return s, fmt.Errorf("go build: %w\n%s", err, out)
	}
	s.RiskgateBin = filepath.Join(bin, "riskgate")

	s.step("PostgreSQL: initdb and pg_ctl start")
	s.Postgres = &postgres{Dir: filepath.Join(dir, "postgres"), Port: next(), tools: t}
	if err := s.Postgres.init(ctx); err != nil {
		return s, err
	}
	if err := s.Postgres.start(ctx); err != nil {
		return s, err
	}
	s.step("PostgreSQL on 127.0.0.1:%d; databases and schema with temporal-sql-tool, as deploy/README.md tells an operator", s.Postgres.Port)
	if err := setupSchema(ctx, t, s.Postgres.Port); err != nil {
		return s, err
	}

	tp := temporalPorts{Frontend: next(), FrontendHTTP: next(), FrontendMembership: next(), History: next(),
		HistoryMembership: next(), Matching: next(), MatchingMembership: next(), Worker: next(),
		WorkerMembership: next(), Metrics: next()}
	tdir := filepath.Join(dir, "temporal")
	if err := writeServerConfig(t, tdir, s.Postgres.Port, tp); err != nil {
		return s, err
	}
	s.Temporal = fmt.Sprintf("127.0.0.1:%d", tp.Frontend)
	srv := s.add("temporal-server", serverArgs(t, tdir), os.Environ(), o.Detached)
	s.step("Temporal server %s on %s", TemporalServerVersion, s.Temporal)
	if err := srv.start(); err != nil {
		return s, err
	}
	tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err = waitTemporal(tctx, s.Temporal, srv)
	cancel()
	if err != nil {
		return s, err
	}
	s.step("namespace %s and search attributes, as deploy/README.md tells an operator", Namespace)
	if err := registerNamespace(ctx, t, s.Temporal); err != nil {
		return s, err
	}

	kports := []int{next(), next(), next()}
	for _, p := range kports {
		s.Brokers = append(s.Brokers, fmt.Sprintf("127.0.0.1:%d", p))
	}
	kargs := []string{filepath.Join(bin, "kafkaserver"), "--ports", joinInts(kports)}
	s.step("Kafka (kfake, 3 brokers) on %s", strings.Join(s.Brokers, ","))
	if err := s.add("kafka", kargs, os.Environ(), o.Detached).start(); err != nil {
		return s, err
	}
	s.step("topics: riskgate topics create --partitions 3")
	if err := s.retry(ctx, time.Minute, "topics", "create", "--partitions", "3"); err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o644); err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(dir, "limits.yaml"), []byte(looseLimits), 0o644); err != nil {
		return s, err
	}
	if s.Token, err = s.newToken(ctx, "harness-operator", "operator"); err != nil {
		return s, err
	}
	if s.AdminToken, err = s.newToken(ctx, "harness-admin", "admin"); err != nil {
		return s, err
	}

	for _, name := range Instances {
		port := next()
		s.Ops[name] = fmt.Sprintf("http://127.0.0.1:%d", port)
		if name == "api" {
			s.API = s.Ops[name]
		}
		s.add(name, append([]string{s.RiskgateBin}, s.roleArgs(name, port)...), s.roleEnv(), o.Detached)
	}
	s.step("riskgate: %s", strings.Join(Instances, ", "))
	for _, name := range Instances {
		if err := s.byName[name].start(); err != nil {
			return s, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	errs := make(chan error, len(Instances))
	for _, name := range Instances {
		go func() { errs <- s.WaitReady(rctx, name) }()
	}
	for range Instances {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return s, err
	}
	s.step("up in %v; logs in %s", time.Since(start).Round(time.Second), filepath.Join(dir, "log"))
	return s, nil
}

func (s *Stack) step(format string, args ...any) {
	line := time.Now().Format("15:04:05 ") + fmt.Sprintf(format, args...) + "\n"
	if s.progress != nil {
		io.WriteString(s.progress, line)
	}
	if f, err := os.OpenFile(filepath.Join(s.Dir, "log", "harness.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		f.WriteString(line)
		f.Close()
	}
}

func (s *Stack) add(name string, args, env []string, detached bool) *proc {
	p := &proc{Name: name, Args: args, Log: filepath.Join(s.Dir, "log", name+".log"), env: env, detached: detached}
	s.Procs = append(s.Procs, p)
	s.byName[name] = p
	return p
}

// retry runs a riskgate command until it succeeds or limit passes.
func (s *Stack) retry(ctx context.Context, limit time.Duration, args ...string) error {
	deadline := time.Now().Add(limit)
	for {
		out, err := s.Riskgate(ctx, args...).CombinedOutput()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("riskgate %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// newToken makes an API token the documented way (riskgate token new).
func (s *Stack) newToken(ctx context.Context, name, role string) (string, error) {
	out, err := s.Riskgate(ctx, "token", "new", "--name", name, "--role", role, "--file", filepath.Join(s.Dir, "tokens.json")).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("riskgate token new: %w\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	tok, ok := strings.CutPrefix(first, "token: ")
	if !ok {
		return "", fmt.Errorf("riskgate token new printed no token: %s", out)
	}
	return strings.TrimSpace(tok), nil
}

// KafkaConfig is a client config for the stack's brokers.
func (s *Stack) KafkaConfig(clientID string) kafka.Config {
	return kafka.Config{Brokers: s.Brokers, ClientID: clientID}
}

// Restarted is what one step of a rolling restart saw.
type Restarted struct {
	Exit    time.Duration // from the signal to the exit
	ExitErr error         // how the process ended; nil is exit status 0
	Ready   time.Duration // from the new start to /readyz 200
}

// Restart stops an instance with sig, starts it again and waits until it
// is ready: one step of a rolling restart.
func (s *Stack) Restart(ctx context.Context, name string, sig syscall.Signal) (Restarted, error) {
	var r Restarted
	r.Exit, r.ExitErr = s.Stop(name, sig)
	start := time.Now()
	err := s.Start(ctx, name)
	r.Ready = time.Since(start)
	return r, err
}

// Stop stops an instance or the Temporal server or Kafka with sig; see proc.stop.
func (s *Stack) Stop(name string, sig syscall.Signal) (time.Duration, error) {
	p := s.byName[name]
	s.mu.Lock()
	s.stopped[name] = true
	s.mu.Unlock()
	bound := ShutdownBound
	if name == "temporal-server" {
		bound = time.Minute
	}
	return p.stop(sig, bound)
}

// Start starts a stopped instance (or the Temporal server) and waits until
// it is ready.
func (s *Stack) Start(ctx context.Context, name string) error {
	p := s.byName[name]
	if err := p.start(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.stopped, name)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if name == "temporal-server" {
		return waitTemporal(ctx, s.Temporal, p)
	}
	return s.WaitReady(ctx, name)
}

// StopPostgres and StartPostgres take the database away and bring it back.
func (s *Stack) StopPostgres(ctx context.Context) error  { return s.Postgres.stop(ctx) }
func (s *Stack) StartPostgres(ctx context.Context) error { return s.Postgres.start(ctx) }

// Crashed lists the processes that exited without being stopped, with how.
func (s *Stack) Crashed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.Procs {
		if p.cmd != nil && p.exited() && !s.stopped[p.Name] {
			out = append(out, fmt.Sprintf("%s: %v\n%s", p.Name, p.exitError(), logTail(p.Log, 10)))
		}
	}
	return out
}

// Tools are the programs the stack runs.
func (s *Stack) Tools() Tools { return s.tools }

// Log is the log file of a process.
func (s *Stack) Log(name string) string { return s.byName[name].Log }

// Down stops everything, riskgate first and PostgreSQL last, and removes
// the directory unless keep.
func (s *Stack) Down(keep bool) error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	stop := func(names []string, bound time.Duration) {
		for _, p := range s.Procs {
			if !slices.Contains(names, p.Name) || (p.cmd != nil && p.exited()) {
				continue
			}
			wg.Go(func() {
				if _, err := p.stop(syscall.SIGTERM, bound); err != nil && p.cmd == nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	stop(Instances, ShutdownBound)
	stop([]string{"temporal-server", "kafka"}, time.Minute)
	if s.Postgres != nil {
		s.Postgres.tools = s.tools
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := s.Postgres.stop(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if !keep && s.Dir != "" {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Save writes the stack's description to path (for make prod-down).
func (s *Stack) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// Load reads a stack saved by Save; its processes are known by pid only.
func Load(path string, t Tools) (*Stack, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &Stack{tools: t, byName: map[string]*proc{}, stopped: map[string]bool{}}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for _, p := range s.Procs {
		s.byName[p.Name] = p
	}
	return s, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
