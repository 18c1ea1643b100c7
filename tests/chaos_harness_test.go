package tests

// The processes of the chaos experiments: riskgate roles that are
// SIGKILLed and started again with the same arguments, the Temporal dev
// server found among a process's children by its command line, and the
// table the experiments fill in.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopBound is how long any process may take to exit after SIGTERM or
// Ctrl-C: DESIGN's shutdown bound, past which it would need a kill -9.
const stopBound = 15 * time.Second

// chaosProc is one process of the system under chaos. Each run logs to
// its own file in logDir, so the log of a run that was SIGKILLed stays
// readable.
type chaosProc struct {
	name   string
	bin    string
	args   []string
	ready  func() bool // whether the process does its job
	logDir string
	runs   int
	cur    *procRun
}

// procRun is one run of a chaosProc.
type procRun struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
}

// startProc starts a process and waits until it is ready. The test's end
// kills whatever is still running.
func startProc(t *testing.T, name, bin, logDir string, ready func() bool, args ...string) *chaosProc {
	t.Helper()
	p := &chaosProc{name: name, bin: bin, args: args, ready: ready, logDir: logDir}
	t.Cleanup(func() {
		if p.running() {
			_ = p.cur.cmd.Process.Kill()
			<-p.cur.exited
		}
	})
	p.start(t)
	p.waitReady(t)
	return p
}

func (p *chaosProc) start(t *testing.T) {
	t.Helper()
	p.runs++
	log, err := os.Create(filepath.Join(p.logDir, fmt.Sprintf("%s-%d.log", p.name, p.runs)))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	run := &procRun{cmd: cmd, exited: make(chan struct{})}
	go func() {
		run.err = cmd.Wait()
		log.Close()
		close(run.exited)
	}()
	p.cur = run
}

// waitReady waits until the process is ready and returns when it was.
func (p *chaosProc) waitReady(t *testing.T) time.Time {
	t.Helper()
	eventually(t, 90*time.Second, p.name+" ready", func() bool {
		if !p.running() {
			t.Fatalf("%s exited while starting: %v", p.name, p.cur.err)
		}
		return p.ready()
	})
	return time.Now()
}

// restart starts the process again and returns when it is ready.
func (p *chaosProc) restart(t *testing.T) time.Time {
	t.Helper()
	p.start(t)
	return p.waitReady(t)
}

func (p *chaosProc) running() bool {
	if p.cur == nil {
		return false
	}
	select {
	case <-p.cur.exited:
		return false
	default:
		return true
	}
}

// kill SIGKILLs the process and waits until it is gone.
func (p *chaosProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cur.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.cur.exited
}

// stop sends SIGTERM and requires a clean exit within stopBound; a process
// that does not make it is killed and the error says so.
func (p *chaosProc) stop() error {
	if !p.running() {
		return fmt.Errorf("%s was not running at the end: %v", p.name, p.cur.err)
	}
	if err := p.cur.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	select {
	case <-p.cur.exited:
		if p.cur.err != nil {
			return fmt.Errorf("%s exited with %v after SIGTERM", p.name, p.cur.err)
		}
		return nil
	case <-time.After(stopBound):
		_ = p.cur.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, into its log
		time.Sleep(time.Second)
		_ = p.cur.cmd.Process.Kill()
		<-p.cur.exited
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.name, stopBound)
	}
}

func httpOK(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// children lists the child processes of pid (of all its threads).
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(s); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// cmdline is the argument vector of a process, nil when it is gone.
func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// findChild waits for the child of parent whose command line matches.
func findChild(t *testing.T, parent int, match func(args []string) bool) int {
	t.Helper()
	var pid int
	eventually(t, 30*time.Second, fmt.Sprintf("the child of %d", parent), func() bool {
		pid = childMatching(parent, match)
		return pid != 0
	})
	return pid
}

// childMatching is the child of parent whose command line matches, or 0.
func childMatching(parent int, match func(args []string) bool) int {
	for _, c := range children(parent) {
		if match(cmdline(c)) {
			return c
		}
	}
	return 0
}

// processesWith lists every process whose command line holds s.
func processesWith(s string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if strings.Contains(strings.Join(cmdline(pid), " "), s) {
			out = append(out, pid)
		}
	}
	return out
}

// killGroup SIGKILLs a process group (the Temporal children run in their
// own) and waits until its leader is reaped.
func killGroup(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL process group %d: %v", pid, err)
	}
	eventually(t, 15*time.Second, fmt.Sprintf("process %d gone", pid), func() bool {
		return syscall.Kill(pid, 0) != nil
	})
}

// chaosRow is one experiment's line of the chaos table.
type chaosRow struct {
	experiment string
	downtime   time.Duration
	routed     int // orders decided while the part was down
	leaks      int // ALLOWs for a killed scope
	// killAfter is from recovery to the kill of the breach sent during the
	// outage; negative when the kill came while the part was still down.
	killAfter time.Duration
	note      string
	failed    bool
}

func (r chaosRow) String() string {
	result := "holds"
	if r.failed {
		result = "FAILED"
	}
	downtime, routed, kill := "—", "—", "—"
	if r.downtime > 0 {
		downtime = r.downtime.Round(100 * time.Millisecond).String()
		routed = strconv.Itoa(r.routed)
		kill = r.killAfter.Round(100 * time.Millisecond).String()
		if r.killAfter < 0 {
			kill = "during the outage"
		}
	}
	return fmt.Sprintf("| %s | %s | %s | %d | %s | %s | %s |", r.experiment, downtime, routed, r.leaks, kill, result, r.note)
}

// chaosTable collects the rows of every experiment of the run.
var chaosTable struct {
	mu   sync.Mutex
	rows []chaosRow
}

func addChaosRow(t *testing.T, r chaosRow) {
	t.Helper()
	t.Logf("chaos row: %s", r)
	chaosTable.mu.Lock()
	defer chaosTable.mu.Unlock()
	chaosTable.rows = append(chaosTable.rows, r)
}

// chaosTableText is the table as Markdown, as the README shows it.
func chaosTableText() string {
	chaosTable.mu.Lock()
	defer chaosTable.mu.Unlock()
	var b strings.Builder
	b.WriteString("| experiment | downtime | orders routed during it | leaks | time to kill after recovery | result | notes |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range chaosTable.rows {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}
