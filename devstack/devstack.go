// Package devstack runs the infrastructure of riskgate's embedded stack: an
// in-process Kafka (kfake) and a Temporal dev server supervised as a child
// process. `riskgate dev` and the end-to-end tests use it; production roles
// never do.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/retry"
	"github.com/riskgate/riskgate/roles"
	"github.com/riskgate/riskgate/workflows"
)

// KafkaConfig configures the in-process Kafka.
type KafkaConfig struct {
	// Port to listen on, on 127.0.0.1. 0 picks a free port.
	Port int
	// DataDir persists topics and offsets across restarts; empty keeps
	// everything in memory.
	DataDir string
	// Partitions is the default partition count of auto-created topics.
	Partitions int32
}

// StartKafka starts kfake listening on 127.0.0.1.
func StartKafka(cfg KafkaConfig) (*kfake.Cluster, error) {
	opts := []kfake.Opt{kfake.Ports(cfg.Port), kfake.ClusterID("riskgate-dev")}
	if cfg.Partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(int(cfg.Partitions)))
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("kafka data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on port %d: %w", cfg.Port, err)
	}
	return c, nil
}

// TemporalConfig configures the Temporal dev server child process.
type TemporalConfig struct {
	// Bin is the temporal CLI; empty means FindTemporalBinary.
	Bin string
	// Port is the frontend gRPC port (0 picks a free one); the Web UI is on
	// UIPort (0 picks a free one) unless Headless.
	Port, UIPort int
	Headless     bool
	// DBFile persists workflows and timers across restarts; empty is in-memory.
	DBFile    string
	Namespace string
	// LogFile receives the server's output; empty keeps only its last
	// lines, for the error of a start-up that failed.
	LogFile string
	Log     *slog.Logger
	// OnChange, if set, hears every change of the server's health: down
	// (it exited, restarting) and up again, with a sentence saying so.
	OnChange func(up bool, detail string)
}

// Temporal is a supervised dev server child process: when it exits on its
// own it is started again, with backoff, on the same ports and database,
// so kills, incidents and timers survive; Stop ends it for good.
type Temporal struct {
	// Addr is the frontend host:port.
	Addr string
	// UIURL is the Web UI address, empty when headless.
	UIURL string

	bin      string
	args     []string
	logFile  string
	ns       string
	log      *slog.Logger
	onChange func(up bool, detail string)

	cmd    *exec.Cmd
	exited chan error  // the current child's exit; holds it once it happened
	tail   *tailWriter // the current child's last output, without LogFile

	healthy  atomic.Bool
	status   atomic.Pointer[string]
	restarts atomic.Int64
	pid      atomic.Int64
	grace    atomic.Int64    // set once by Stop: how long a stop waits before SIGKILL
	ctx      context.Context // ends at Stop
	cancel   context.CancelFunc
	done     chan struct{} // closed when the supervisor has stopped the child
	stopErr  error
}

// ErrNoTemporalBinary means the temporal CLI could not be found.
var ErrNoTemporalBinary = errors.New("temporal CLI not found: run `make tools` (go install github.com/temporalio/cli/cmd/temporal@v1.5.1 into .bin/) or set RISKGATE_TEMPORAL_BIN")

// FindTemporalBinary looks for the temporal CLI in $RISKGATE_TEMPORAL_BIN,
// then in .bin/temporal of the working directory and its parents (the
// repository's pinned build), then on PATH.
func FindTemporalBinary() (string, error) {
	if p := os.Getenv("RISKGATE_TEMPORAL_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("RISKGATE_TEMPORAL_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			p := filepath.Join(dir, ".bin", "temporal")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", ErrNoTemporalBinary
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startAttempts is how many times StartTemporal starts a dev server that
// exits during start-up. The CLI takes its internal ports (and StartTemporal
// the frontend and UI ports it is not given) by finding free ones and
// binding them moments later, so another process may take one in between;
// a new start picks new ones.
const startAttempts = 3

// errExitedEarly marks a dev server that exited before it was healthy.
var errExitedEarly = errors.New("temporal dev server exited during start-up")

// StartTemporal starts `temporal server start-dev` with riskgate's search
// attributes registered and waits until its frontend answers health checks.
// A server that exits during start-up is started again, up to
// startAttempts times. The child dies with this process (Pdeathsig) and is
// stopped by Stop.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (*Temporal, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Bin == "" {
		var err error
		if cfg.Bin, err = FindTemporalBinary(); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		t, err := newTemporal(cfg)
		if err != nil {
			return nil, err
		}
		if err = t.start(ctx); err == nil {
			return t, nil
		}
		if !errors.Is(err, errExitedEarly) || attempt == startAttempts || ctx.Err() != nil {
			return nil, err
		}
		cfg.Log.Warn("starting the temporal dev server again", "attempt", attempt+1, "err", err)
	}
}

// newTemporal prepares a dev server of cfg, on free ports where cfg has none.
func newTemporal(cfg TemporalConfig) (*Temporal, error) {
	port, uiPort := cfg.Port, cfg.UIPort
	var err error
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "error"}
	if cfg.Headless {
		args = append(args, "--headless")
	} else {
		if uiPort == 0 {
			if uiPort, err = FreePort(); err != nil {
				return nil, err
			}
		}
		args = append(args, "--ui-port", strconv.Itoa(uiPort))
	}
	if cfg.DBFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("temporal data dir: %w", err)
		}
		args = append(args, "--db-filename", cfg.DBFile)
	}
	if cfg.Namespace != "" && cfg.Namespace != "default" {
		args = append(args, "--namespace", cfg.Namespace)
	}
	for _, name := range slices.Sorted(maps.Keys(workflows.SearchAttributes)) {
		args = append(args, "--search-attribute", name+"="+workflows.SearchAttributes[name])
	}
	t := &Temporal{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		bin:  cfg.Bin, args: args, logFile: cfg.LogFile, ns: cfg.Namespace, log: cfg.Log, onChange: cfg.OnChange,
		done: make(chan struct{}),
	}
	if !cfg.Headless {
		t.UIURL = "http://127.0.0.1:" + strconv.Itoa(uiPort)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// start spawns the child and waits until it is healthy, then supervises
// it; on failure nothing of it is left running.
func (t *Temporal) start(ctx context.Context) error {
	if err := t.spawn(); err != nil {
		t.cancel()
		return err
	}
	if err := t.waitHealthy(ctx, 90*time.Second); err != nil {
		t.stopChild()
		t.cancel()
		return err
	}
	ok := "ok"
	t.status.Store(&ok)
	t.healthy.Store(true)
	go t.supervise()
	return nil
}

// spawn starts a new child process.
func (t *Temporal) spawn() error {
	cmd := exec.Command(t.bin, t.args...)
	// Its own process group, so a Ctrl-C meant for riskgate dev reaches the
	// server only through Stop; Pdeathsig takes it down if we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if t.logFile != "" {
		f, err := os.OpenFile(t.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("temporal log file: %w", err)
		}
		defer f.Close() // the child holds its own descriptor
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		t.tail = &tailWriter{}
		cmd.Stdout, cmd.Stderr = t.tail, t.tail
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start temporal dev server %s: %w", t.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.cmd, t.exited = cmd, exited
	t.pid.Store(int64(cmd.Process.Pid))
	return nil
}

// supervise restarts the child whenever it exits before Stop.
func (t *Temporal) supervise() {
	defer close(t.done)
	b := roles.Restarts.New()
	upSince := time.Now()
	for {
		select {
		case <-t.ctx.Done():
			t.stopChild()
			return
		case err := <-t.exited:
			t.exited <- err
			if t.ctx.Err() != nil {
				return
			}
			t.setStatus(false, fmt.Sprintf("temporal dev server exited (%v); restarting", err))
			wait := b.NextAfter(upSince)
			for ; ; wait = b.Next() {
				if retry.Wait(t.ctx, wait) != nil {
					return
				}
				t.restarts.Add(1)
				if err := t.spawn(); err != nil {
					t.setStatus(false, err.Error())
					continue
				}
				if err := t.waitHealthy(t.ctx, 0); err != nil {
					t.stopChild()
					if t.ctx.Err() != nil {
						return
					}
					t.setStatus(false, err.Error())
					continue
				}
				break
			}
			upSince = time.Now()
			t.setStatus(true, fmt.Sprintf("temporal dev server is back (restart %d)", t.restarts.Load()))
		}
	}
}

func (t *Temporal) setStatus(up bool, detail string) {
	t.healthy.Store(up)
	t.status.Store(&detail)
	if up {
		t.log.Info(detail, "addr", t.Addr)
	} else {
		t.log.Error(detail, "addr", t.Addr)
	}
	if t.onChange != nil {
		t.onChange(up, detail)
	}
}

// Healthy reports whether the server is up (false while it restarts).
func (t *Temporal) Healthy() bool { return t.healthy.Load() }

// Status says in words how the server is.
func (t *Temporal) Status() string {
	if p := t.status.Load(); p != nil {
		return *p
	}
	return "starting"
}

// Restarts is how many times the server was started again.
func (t *Temporal) Restarts() int64 { return t.restarts.Load() }

// Pid is the current child's process id.
func (t *Temporal) Pid() int { return int(t.pid.Load()) }

// waitHealthy waits until the frontend answers and the namespace is usable,
// the child exits, ctx ends or limit (when positive) passes.
func (t *Temporal) waitHealthy(ctx context.Context, limit time.Duration) error {
	namespace := t.ns
	if namespace == "" {
		namespace = "default"
	}
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	for {
		c, err := client.Dial(client.Options{HostPort: t.Addr, Namespace: namespace, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				// The frontend answers before the namespace is usable; a
				// describe call proves both.
				_, err = c.WorkflowService().DescribeNamespace(ctx, describeNamespace(namespace))
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case exitErr := <-t.exited:
			t.exited <- exitErr
			return fmt.Errorf("%w (%v)%s", errExitedEarly, exitErr, t.output())
		case <-ctx.Done():
			return fmt.Errorf("temporal dev server at %s not healthy after %s: %w", t.Addr, limit, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// output says where to read what the current child wrote: its log file, or
// the last line it wrote when there is none.
func (t *Temporal) output() string {
	if t.logFile != "" {
		return "; see its log " + t.logFile
	}
	if last := t.tail.lastLine(); last != "" {
		return ": " + last
	}
	return ""
}

// tailWriter keeps the last tailBytes a child wrote.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 4096

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - tailBytes; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

// lastLine returns the last non-empty line written, at most 500 bytes.
func (w *tailWriter) lastLine() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(w.buf)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(last) > 500 {
		last = last[len(last)-500:]
	}
	return last
}

// stopChild asks the current child to shut down (SIGINT) and kills its
// process group after the grace period. It returns once the child has
// exited.
func (t *Temporal) stopChild() {
	if t.cmd == nil || t.cmd.Process == nil {
		return
	}
	select {
	case err := <-t.exited:
		t.exited <- err
		return
	default:
	}
	grace := time.Duration(t.grace.Load())
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	_ = t.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-t.exited:
		t.exited <- err
	case <-time.After(grace):
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		err := <-t.exited
		t.exited <- err
		t.stopErr = fmt.Errorf("temporal dev server did not stop in %s; killed", grace)
	}
}

// DefaultStopGrace is how long Stop waits for the server to shut down
// before it kills it. Its SQLite file is safe either way; a clean stop is
// quicker to start again.
const DefaultStopGrace = 10 * time.Second

// Stop ends supervision and the server: SIGINT, then SIGKILL after
// DefaultStopGrace. It is safe to call more than once and in every state.
func (t *Temporal) Stop() error { return t.StopWithin(DefaultStopGrace) }

// StopWithin is Stop with another grace period before the SIGKILL, for a
// caller with a shutdown budget of its own.
func (t *Temporal) StopWithin(grace time.Duration) error {
	t.grace.CompareAndSwap(0, int64(max(grace, time.Second)))
	t.cancel()
	select {
	case <-t.done:
		return t.stopErr
	case <-time.After(grace + 5*time.Second):
		return fmt.Errorf("temporal dev server supervisor did not stop in %s", grace+5*time.Second)
	}
}
