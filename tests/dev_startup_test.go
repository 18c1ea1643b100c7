package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevStartupErrors runs `riskgate dev` into each start-up error a user
// can meet: each ends the process with a non-zero exit and one line naming
// the cause, never a panic, and leaves no Temporal child behind.
func TestDevStartupErrors(t *testing.T) {
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{name: "short dev token", env: []string{"RISKGATE_DEV_TOKEN=short"},
			want: []string{"RISKGATE_DEV_TOKEN", "at least 16 characters"}},
		{name: "Kafka port in use", args: []string{"--kafka-port", fmt.Sprint(busyPort)},
			want: []string{fmt.Sprintf("port %d", busyPort), "--kafka-port", "in use"}},
		{name: "Temporal port in use", args: []string{"--temporal-port", fmt.Sprint(busyPort)},
			want: []string{fmt.Sprintf("port %d", busyPort), "--temporal-port", "in use"}},
		{name: "API port in use", args: []string{"--api-addr", busy.Addr().String()},
			want: []string{"listen on " + busy.Addr().String(), "address already in use"}},
		{name: "missing Temporal binary", env: []string{"RISKGATE_TEMPORAL_BIN=/nonexistent/temporal"},
			want: []string{"RISKGATE_TEMPORAL_BIN=/nonexistent/temporal", "no such file"}},
		{name: "data dir not writable", args: []string{"--data", filepath.Join(notADir, "data")},
			want: []string{"not a directory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ports := freePorts(t, 4)
			args := []string{"dev", "--no-gen", "--data", t.TempDir(),
				"--kafka-port", fmt.Sprint(ports[0]), "--temporal-port", fmt.Sprint(ports[1]),
				"--ui-port", fmt.Sprint(ports[2]), "--api-addr", fmt.Sprintf("127.0.0.1:%d", ports[3])}
			args = append(args, c.args...) // a later flag wins
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), c.env...)
			var stdout, stderr lockedBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			out := stdout.String() + stderr.String()
			if ctx.Err() != nil {
				t.Fatalf("riskgate dev did not exit on its own:\n%s", out)
			}
			if err == nil {
				t.Fatalf("riskgate dev exited 0:\n%s", out)
			}
			if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
				t.Fatalf("riskgate dev panicked:\n%s", out)
			}
			var last string
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if strings.HasPrefix(l, "riskgate: ") {
					last = l
				}
			}
			if last == "" {
				t.Fatalf("no `riskgate: ...` error line on stderr:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(last, w) {
					t.Errorf("error line %q does not say %q", last, w)
				}
			}
			if children := temporalChildren(t, ports[1]); children != "" {
				t.Errorf("a Temporal dev server is still running after the failed start: %s", children)
			}
		})
	}
}

// temporalChildren lists the temporal dev servers listening on port.
func temporalChildren(t *testing.T, port int) string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-af", fmt.Sprintf("start-dev .*--port %d ", port)).Output()
	return strings.TrimSpace(string(out))
}

// TestRoleStartupErrors: every role command refuses a bad start the same
// way — a non-zero exit and one `riskgate: ...` line naming the cause.
func TestRoleStartupErrors(t *testing.T) {
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"router", "--brokers=", "--metrics-addr="}, "--brokers is empty"},
		{[]string{"router", "--kafka-sasl", "bogus", "--metrics-addr="}, `unknown Kafka SASL mechanism "bogus"`},
		{[]string{"router", "--metrics-addr", "bad:addr:x"}, "metrics listener on bad:addr:x"},
		{[]string{"detector", "--rules", "/nonexistent/rules.yaml", "--metrics-addr="}, "/nonexistent/rules.yaml"},
		{[]string{"worker", "--temporal", "127.0.0.1:1", "--metrics-addr="}, "connect to Temporal at 127.0.0.1:1"},
		{[]string{"api"}, "--tokens is required"},
		{[]string{"indexer", "--data", filepath.Join(notADir, "data"), "--metrics-addr="}, "not a directory"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, c.args...)
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			out := stderr.String()
			if ctx.Err() != nil || err == nil || strings.Contains(out, "panic:") {
				t.Fatalf("exit %v (timeout: %v):\n%s", err, ctx.Err() != nil, out)
			}
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "riskgate: ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Fatalf("want one `riskgate:` line saying %q, got %q\n%s", c.want, lines, out)
			}
		})
	}
}
