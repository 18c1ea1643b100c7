package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one long-running process of the stack, restartable with the same
// command line; its output goes to a log file that every start appends to.
type proc struct {
	Name string   `json:"name"`
	Args []string `json:"args"` // Args[0] is the program
	Log  string   `json:"log"`
	Pid  int      `json:"pid"`

	env      []string
	detached bool
	cmd      *exec.Cmd
	done     chan struct{}
	err      error // the exit, once done is closed
}

// start starts the process. Detached processes outlive this one (make
// prod-up); the others die with it (Pdeathsig), so a test run that is
// itself killed leaves nothing behind.
func (p *proc) start() error {
	if p.cmd != nil && !p.exited() {
		return fmt.Errorf("%s is already running (pid %d)", p.Name, p.Pid)
	}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log of %s: %w", p.Name, err)
	}
	fmt.Fprintf(logf, "=== %s start %s: %s\n", time.Now().Format(time.RFC3339Nano), p.Name, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Env = p.env
	cmd.Dir = filepath.Dir(p.Log)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: Ctrl-C of `make prod-up` or of a test run
	// reaches the harness, which stops everything in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !p.detached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.cmd, p.Pid, p.done, p.err = cmd, cmd.Process.Pid, make(chan struct{}), nil
	go func(done chan struct{}) {
		p.err = cmd.Wait()
		logf.Close()
		close(done)
	}(p.done)
	return nil
}

func (p *proc) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError is how the process ended, once it has.
func (p *proc) exitError() error {
	if !p.exited() {
		return nil
	}
	return p.err
}

// stop sends sig and waits up to bound for the exit, then kills the
// process. It returns how long the exit took and how the process ended.
func (p *proc) stop(sig syscall.Signal, bound time.Duration) (time.Duration, error) {
	if p.cmd == nil {
		return 0, stopPid(p.Pid, p.Args[0], sig, bound)
	}
	if p.exited() {
		return 0, fmt.Errorf("%s had already exited: %v", p.Name, p.err)
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("signal %s: %w", p.Name, err)
	}
	select {
	case <-p.done:
		return time.Since(start), p.err
	case <-time.After(bound):
		_ = p.cmd.Process.Kill()
		<-p.done
		return time.Since(start), fmt.Errorf("%s did not exit within %v of %v: killed", p.Name, bound, sig)
	}
}

// stopPid stops a process this one did not start (make prod-down): only if
// the pid still runs the program recorded for it, so a reused pid is never
// signalled.
func stopPid(pid int, program string, sig syscall.Signal, bound time.Duration) error {
	if pid <= 0 || !runs(pid, program) {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return nil
	}
	deadline := time.Now().Add(bound)
	for runs(pid, program) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("pid %d (%s) did not exit within %v: killed", pid, filepath.Base(program), bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// runs reports whether pid is a live process of program.
func runs(pid int, program string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 { // gone, or a zombie
		return false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return argv0 == program
}
