package tests

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/tests/production/harness"
)

type devProcess struct {
	cmd    *exec.Cmd
	output *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startDev(t *testing.T, bin string, args ...string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"dev"}, args...)...)
	cmd.Env = append(os.Environ(), "RISKGATE_DEV_TOKEN=")
	out := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, output: out, done: make(chan error, 1)}
	go func() { err := cmd.Wait(); pw.Close(); p.done <- err }()
	t.Cleanup(func() {
		if p.running() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	eventually(t, 90*time.Second, "riskgate dev banner", func() bool {
		select {
		case err := <-p.done:
			t.Fatalf("riskgate dev exited during start: %v\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "riskgate dev is running")
	})
	return p
}

// interrupt sends Ctrl-C and requires a clean exit.
func (p *devProcess) interrupt(t *testing.T) {
	t.Helper()
	p.interruptWithin(t, 60*time.Second)
}

// interruptWithin sends Ctrl-C and requires a clean exit within limit; it
// returns how long the exit took.
func (p *devProcess) interruptWithin(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for running and the cleanup
		if err != nil {
			t.Fatalf("riskgate dev exited with %v after Ctrl-C\n%s", err, p.output.String())
		}
		return time.Since(sent)
	case <-time.After(limit):
		t.Fatalf("riskgate dev did not stop within %v of Ctrl-C\n%s", limit, p.output.String())
		return 0
	}
}

// running reports whether the process has not exited.
func (p *devProcess) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// freePorts returns n distinct ports free now for the processes a test
// starts, picked below the kernel's ephemeral range (see harness.FreePorts).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := harness.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// TestDevCommandKeepsKillsAcrossRestart runs `riskgate dev` as a user does:
// it prints the URLs and a token it keeps in the data dir, stops cleanly on
// Ctrl-C, and a second start on the same data dir still has the kill, its
// open workflow and its cooldown.
func TestDevCommandKeepsKillsAcrossRestart(t *testing.T) {
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	ports := freePorts(t, 4)
	args := []string{"--data", data, "--no-gen",
		"--kafka-port", fmt.Sprint(ports[0]), "--temporal-port", fmt.Sprint(ports[1]),
		"--ui-port", fmt.Sprint(ports[2]), "--api-addr", fmt.Sprintf("127.0.0.1:%d", ports[3])}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", ports[3])

	p := startDev(t, bin, args...)
	tokenBytes, err := os.ReadFile(filepath.Join(data, "dev-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	out := p.output.String()
	for _, want := range []string{token, apiURL, fmt.Sprintf("http://127.0.0.1:%d", ports[2]), fmt.Sprintf("127.0.0.1:%d", ports[0])} {
		if !strings.Contains(out, want) {
			t.Errorf("banner does not show %q:\n%s", want, out)
		}
	}

	status, _, body := httpDo(t, "POST", apiURL+"/v1/kill", token, map[string]any{
		"scope": "ACCOUNT:777", "reason": "restart test", "cooldown_seconds": 3600,
	})
	if status != 200 {
		t.Fatalf("kill: %d %s", status, body)
	}
	var killed domain.State
	if err := json.Unmarshal(body, &killed); err != nil || killed.Status != domain.StatusKilled || killed.CooldownUntil == 0 {
		t.Fatalf("kill returned %s (%v)", body, err)
	}
	p.interrupt(t)

	p = startDev(t, bin, args...)
	if got, _ := os.ReadFile(filepath.Join(data, "dev-token")); strings.TrimSpace(string(got)) != token {
		t.Errorf("the token changed across a restart")
	}
	var st domain.State
	eventually(t, 30*time.Second, "ACCOUNT:777 in /v1/scopes after restart", func() bool {
		status, _, body := httpDo(t, "GET", apiURL+"/v1/scopes", token, nil)
		if status != 200 {
			return false
		}
		var list struct {
			Scopes []domain.State `json:"scopes"`
		}
		if json.Unmarshal(body, &list) != nil {
			return false
		}
		for _, s := range list.Scopes {
			if s.Scope == "ACCOUNT:777" {
				st = s
				return true
			}
		}
		return false
	})
	if st.Status != domain.StatusKilled || st.Version != killed.Version || st.CooldownUntil != killed.CooldownUntil {
		t.Fatalf("after restart ACCOUNT:777 = %+v, want the kill %+v", st, killed)
	}
	// The workflow (and its cooldown timer) survived: the run still accepts
	// an operator update.
	status, _, body = httpDo(t, "POST", apiURL+"/v1/unkill", token, map[string]any{"scope": "ACCOUNT:777", "reason": "restart test done"})
	if status != 200 {
		t.Fatalf("unkill after restart: %d %s", status, body)
	}
	p.interrupt(t)
}
