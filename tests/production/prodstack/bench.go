package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/riskgate/riskgate/tests/production/harness"
)

// bench measures kill enforcement with `riskgate bench killswitch`, first on
// the embedded dev stack, then on the production topology (one after the
// other, so neither competes with the other for the CPU), and prints both
// tables and a Markdown table of the two side by side.
func bench(incidents, mass int, limit time.Duration) error {
	tools, err := harness.FindTools()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "riskgate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "riskgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/riskgate")
	build.Dir = tools.RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	ctx := context.Background()
	args := []string{"bench", "killswitch", "--incidents", fmt.Sprint(incidents), "--mass", fmt.Sprint(mass),
		"--threshold", fmt.Sprint(harness.BenchThreshold), "--limit", limit.String()}

	// The indexer runs in both: it does in production.
	fmt.Println("== dev stack: riskgate bench killswitch --with-indexer")
	dev := exec.CommandContext(ctx, bin, slices.Concat(args, []string{"--with-indexer"})...)
	devOut, err := run(dev)
	if err != nil {
		return err
	}

	fmt.Println("\n== production topology (make prod-up)")
	s, err := harness.Up(ctx, tools, harness.Options{Progress: os.Stdout})
	if err != nil {
		return err
	}
	defer s.Down(false)
	prodArgs := slices.Concat(args, []string{"--external", "--detector-metrics", s.Ops["detector-1"] + "/metrics," + s.Ops["detector-2"] + "/metrics"})
	fmt.Println("riskgate " + strings.Join(prodArgs, " "))
	// A measurement that gives up still leaves the other rows worth printing.
	prodOut, prodErr := run(s.Riskgate(ctx, prodArgs...))

	rows := []struct{ label, re string }{
		{"breach order → first DROP, p50 (ms)", `kill_p50_ms=([0-9.]+)`},
		{"breach order → first DROP, p99 (ms)", `kill_p99_ms=([0-9.]+)`},
		{fmt.Sprintf("%d scopes at once: every breach signalled (s)", mass), `every breach signalled[^\n]*?([0-9.]+)\s*$`},
		{fmt.Sprintf("%d scopes at once: every KILLED published (s)", mass), `every KILLED state[^\n]*?([0-9.]+)\s*$`},
		{fmt.Sprintf("%d scopes at once: every scope DROPping (s)", mass), `every scope DROPping[^\n]*?([0-9.]+)\s*$`},
	}
	fmt.Printf("\n%s, %d incidents, %d-scope mass kill, %s\n\n", time.Now().UTC().Format("2006-01-02"), incidents, mass, cpuNote())
	fmt.Println("| measurement | dev stack (`riskgate dev`: one process, Temporal dev server on SQLite) | production topology (Temporal server on PostgreSQL, 3 Kafka brokers, roles as processes) |")
	fmt.Println("|---|---:|---:|")
	for _, r := range rows {
		re := regexp.MustCompile("(?m)" + r.re)
		fmt.Printf("| %s | %s | %s |\n", r.label, find(re, devOut), find(re, prodOut))
	}
	if prodErr != nil {
		return fmt.Errorf("on the production topology: %w (its last lines above)", prodErr)
	}
	return nil
}

// run runs a bench, echoing its output, and returns the output.
func run(cmd *exec.Cmd) (string, error) {
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(os.Stdout, &buf)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return buf.String(), fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return buf.String(), nil
}

func find(re *regexp.Regexp, out string) string {
	m := re.FindStringSubmatch(out)
	if m == nil {
		return "—"
	}
	return m[1]
}

// cpuNote says what the figures ran on.
func cpuNote() string {
	b, _ := os.ReadFile("/proc/loadavg")
	load, _, _ := strings.Cut(string(b), " ")
	return fmt.Sprintf("%d cores, load average %s at the end", runtime.NumCPU(), load)
}
