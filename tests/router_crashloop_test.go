package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/router"
)

// routerCrashLoop runs `riskgate router` with args and, until the producer
// reports on producerDone, SIGKILLs it after each pause and starts it
// again. It then waits for the router to commit everything produced (a
// stuck router prints its goroutines into its log), SIGKILLs the last one
// and returns how many times it killed one while the orders streamed.
// Every run logs to its own file; the tails are logged when the test fails.
func routerCrashLoop(t *testing.T, kc kafka.Config, bin string, args []string, pause func() time.Duration, producerDone <-chan error) int {
	t.Helper()
	logDir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			dumpRouterLogs(t, logDir)
		}
	})
	run := 0
	startRouter := func() *exec.Cmd {
		run++
		logf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("router-%02d.log", run)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, append([]string{"router"}, args...)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait(); logf.Close() }()
		return cmd
	}

	cmd := startRouter()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	kills := 0
	for done := false; !done; {
		time.Sleep(pause())
		select {
		case err := <-producerDone:
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			done = true
		default:
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		kills++
		cmd = startRouter()
	}
	if err := caughtUp(kc, router.DefaultGroup, 2*time.Minute); err != nil {
		// Have the stuck router print its goroutines into its log.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(time.Second)
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	return kills
}

// reconcileOK runs `riskgate reconcile` from start, as an operator would,
// and fails the test unless it reports OK.
func reconcileOK(t *testing.T, bin, brokers string, start time.Time) {
	t.Helper()
	var out bytes.Buffer
	rec := exec.Command(bin, "reconcile", "--brokers", brokers, "--from", fmt.Sprint(start.UnixMilli()))
	rec.Stdout, rec.Stderr = &out, &out
	err := rec.Run()
	t.Logf("riskgate reconcile:\n%s", out.String())
	if err != nil {
		t.Fatalf("riskgate reconcile failed: %v", err)
	}
	if !strings.Contains(out.String(), "reconcile: OK") {
		t.Fatal("reconcile did not report OK")
	}
}
