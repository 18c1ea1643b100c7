package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The PostgreSQL role Temporal connects as (a superuser of the harness's
// own cluster, as in docker-compose.yml's postgresql service).
const (
	pgUser     = "temporal"
	pgPassword = "temporal-harness-password"
)

// postgres is a private PostgreSQL cluster: its data, socket and log under
// the stack's directory, listening on 127.0.0.1:Port only.
type postgres struct {
	Dir  string `json:"dir"`
	Port int    `json:"port"`

	tools Tools
}

func (p *postgres) dataDir() string { return filepath.Join(p.Dir, "data") }
func (p *postgres) sockDir() string { return filepath.Join(p.Dir, "run") }
func (p *postgres) logFile() string { return filepath.Join(p.Dir, "postgres.log") }

// run runs a PostgreSQL program as the postgres user when we are root.
func (p *postgres) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = p.Dir
	if p.tools.PostgresUser != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.tools.PostgresUser}
	}
	// pg_ctl -l sends the postmaster's output to its log file, so this
	// buffer's pipe closes when pg_ctl itself exits.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// init creates the cluster with password authentication over TCP.
func (p *postgres) init(ctx context.Context) error {
	for _, d := range []string{p.Dir, p.dataDir(), p.sockDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if u := p.tools.PostgresUser; u != nil {
			if err := os.Chown(d, int(u.Uid), int(u.Gid)); err != nil {
				return fmt.Errorf("hand %s to the postgres user: %w", d, err)
			}
		}
	}
	pw := filepath.Join(p.Dir, "pwfile")
	if err := os.WriteFile(pw, []byte(pgPassword+"\n"), 0o600); err != nil {
		return err
	}
	if u := p.tools.PostgresUser; u != nil {
		if err := os.Chown(pw, int(u.Uid), int(u.Gid)); err != nil {
			return err
		}
	}
	defer os.Remove(pw)
	return p.run(ctx, p.tools.Initdb, "-D", p.dataDir(), "-U", pgUser, "--pwfile", pw,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
}

// start starts the server and waits until it accepts connections.
func (p *postgres) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.Port, p.sockDir())
	return p.run(ctx, p.tools.PgCtl, "-D", p.dataDir(), "-l", p.logFile(), "-w", "-t", "120", "-o", opts, "start")
}

// stop shuts the server down the way an operator would (fast: open
// transactions are rolled back, connections closed).
func (p *postgres) stop(ctx context.Context) error {
	if p.pid() == 0 {
		return nil
	}
	return p.run(ctx, p.tools.PgCtl, "-D", p.dataDir(), "-m", "fast", "-w", "-t", "120", "stop")
}

// pid is the postmaster's pid, 0 when it is not running.
func (p *postgres) pid() int {
	b, err := os.ReadFile(filepath.Join(p.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if pid > 0 && syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}
