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
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.temporal.io/sdk/client"

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
	// LogFile receives the server's output; empty discards it.
	LogFile string
	Log     *slog.Logger
}

// Temporal is a running dev server.
type Temporal struct {
	// Addr is the frontend host:port.
	Addr string
	// UIURL is the Web UI address, empty when headless.
	UIURL string

	cmd  *exec.Cmd
	done chan error
	log  *slog.Logger
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

// StartTemporal starts `temporal server start-dev` with riskgate's search
// attributes registered and waits until its frontend answers health checks.
// The child dies with this process (Pdeathsig) and is stopped by Stop.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (*Temporal, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	bin := cfg.Bin
	if bin == "" {
		var err error
		if bin, err = FindTemporalBinary(); err != nil {
			return nil, err
		}
	}
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
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("temporal log file: %w", err)
		}
		defer f.Close() // the child holds its own descriptor
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	t := &Temporal{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan error, 1), log: log}
	if !cfg.Headless {
		t.UIURL = "http://127.0.0.1:" + strconv.Itoa(uiPort)
	}
	go func() { t.done <- cmd.Wait() }()
	if err := t.waitHealthy(ctx, cfg.Namespace, 90*time.Second); err != nil {
		_ = t.Stop()
		return nil, err
	}
	return t, nil
}

func (t *Temporal) waitHealthy(ctx context.Context, namespace string, limit time.Duration) error {
	if namespace == "" {
		namespace = "default"
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		c, err := client.Dial(client.Options{HostPort: t.Addr, Namespace: namespace, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				// The frontend answers before the namespace is usable; a
				// list call proves both.
				_, err = c.WorkflowService().DescribeNamespace(ctx, describeNamespace(namespace))
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case exitErr := <-t.done:
			t.done <- exitErr
			return fmt.Errorf("temporal dev server exited during start-up (%v); see its log", exitErr)
		case <-ctx.Done():
			return fmt.Errorf("temporal dev server at %s not healthy after %s: %w", t.Addr, limit, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Done is closed (receives the exit error) when the server process exits.
func (t *Temporal) Done() <-chan error { return t.done }

// Stop asks the server to shut down (SIGINT), and kills it after 15 s.
func (t *Temporal) Stop() error {
	if t.cmd.Process == nil {
		return nil
	}
	_ = t.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-t.done:
		t.done <- err
		return nil
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		err := <-t.done
		t.done <- err
		return fmt.Errorf("temporal dev server did not stop in 15 s; killed")
	}
}
