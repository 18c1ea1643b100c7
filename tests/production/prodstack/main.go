// Command prodstack brings the production-topology harness up in the
// background and takes it down again (`make prod-up`, `make prod-down`),
// and measures kill enforcement on it next to the dev stack (`make
// prod-bench`, bench.go).
//
//	prodstack up    [--state data/prod-stack.json] [--dir DIR]
//	prodstack down  [--state data/prod-stack.json] [--keep]
//	prodstack bench [--incidents 50] [--mass 1000] [--limit 10m]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/riskgate/riskgate/tests/production/harness"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "down" && os.Args[1] != "bench") {
		fmt.Fprintln(os.Stderr, "usage: prodstack up|down|bench [--state FILE] [--dir DIR] [--keep] [--incidents N] [--mass N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	state := fs.String("state", "data/prod-stack.json", "where the running stack is described")
	dir := fs.String("dir", "", "up: directory for data and logs (default a new temp dir)")
	keep := fs.Bool("keep", false, "down: keep the directory (data and logs)")
	incidents := fs.Int("incidents", 50, "bench: incidents measured one after another")
	mass := fs.Int("mass", 1000, "bench: accounts breaching at once")
	limit := fs.Duration("limit", 10*time.Minute, "bench: give up on a measurement after this long")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "up":
		err = up(*state, *dir)
	case "down":
		err = down(*state, *keep)
	case "bench":
		err = bench(*incidents, *mass, *limit)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "prodstack:", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		os.Exit(1)
	}
}

func up(state, dir string) error {
	if _, err := os.Stat(state); err == nil {
		return fmt.Errorf("a stack is already described in %s: run `make prod-down` first", state)
	}
	tools, err := harness.FindTools()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := harness.Up(ctx, tools, harness.Options{Dir: dir, Detached: true, Progress: os.Stdout})
	if err != nil {
		return err
	}
	if err := s.Save(state); err != nil {
		s.Down(false)
		return err
	}
	abs, _ := filepath.Abs(state)
	fmt.Printf(`
production topology up (make prod-down stops it; described in %s)
  API + dashboard  %s   operator token %s   admin token %s
  Temporal         %s (namespace %s)
  Kafka            %s
  PostgreSQL       127.0.0.1:%d
  logs             %s
  ops endpoints   `, abs, s.API, s.Token, s.AdminToken, s.Temporal, s.Namespace, strings.Join(s.Brokers, ","),
		s.Postgres.Port, filepath.Join(s.Dir, "log"))
	for _, name := range harness.Instances {
		fmt.Printf(" %s %s", name, s.Ops[name])
	}
	fmt.Printf(`

For the riskgate and temporal CLIs:
  export RISKGATE_BROKERS=%s RISKGATE_TEMPORAL=%s RISKGATE_NAMESPACE=%s
  export RISKGATE_API=%s RISKGATE_TOKEN=%s TEMPORAL_ADDRESS=%s TEMPORAL_NAMESPACE=%s
`, strings.Join(s.Brokers, ","), s.Temporal, s.Namespace, s.API, s.Token, s.Temporal, s.Namespace)
	return nil
}

func down(state string, keep bool) error {
	tools, err := harness.FindTools()
	if err != nil && !errors.Is(err, harness.ErrMissing) {
		return err
	}
	s, err := harness.Load(state, tools)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Printf("no stack described in %s: nothing to stop\n", state)
		return nil
	}
	if err != nil {
		return err
	}
	err = s.Down(keep)
	if rmErr := os.Remove(state); rmErr != nil && err == nil {
		err = rmErr
	}
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("production topology stopped; data and logs kept in %s\n", s.Dir)
	} else {
		fmt.Println("production topology stopped and removed")
	}
	return nil
}
