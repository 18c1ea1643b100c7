package devstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeTemporal writes a temporal CLI that records each start's arguments
// in dir/starts and fails the first fail starts as a dev server does when
// a port it was given is taken before it binds it; later starts exec real.
func fakeTemporal(t *testing.T, dir, real string, fail int) (bin, starts string) {
	t.Helper()
	bin, starts = filepath.Join(dir, "temporal"), filepath.Join(dir, "starts")
	script := `#!/bin/sh
echo "$*" >> "` + starts + `"
if [ "$(wc -l < "` + starts + `")" -le ` + strconv.Itoa(fail) + ` ]; then
  echo "starting the dev server" >&2
  echo "listen tcp 127.0.0.1:47001: bind: address already in use" >&2
  exit 1
fi
exec "` + real + `" "$@"
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, starts
}

func startLines(t *testing.T, starts string) []string {
	t.Helper()
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// A dev server that exits during start-up is started again, on new ports,
// and the start succeeds once a start does.
func TestStartTemporalAgainAfterEarlyExit(t *testing.T) {
	real, err := FindTemporalBinary()
	if errors.Is(err, ErrNoTemporalBinary) {
		t.Skip(err)
	}
	dir := t.TempDir()
	bin, starts := fakeTemporal(t, dir, real, startAttempts-1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := StartTemporal(ctx, TemporalConfig{Bin: bin, Headless: true, DBFile: filepath.Join(dir, "temporal.db")})
	if err != nil {
		t.Fatalf("start after %d early exits: %v", startAttempts-1, err)
	}
	defer srv.Stop()
	lines := startLines(t, starts)
	if len(lines) != startAttempts {
		t.Fatalf("%d starts, want %d", len(lines), startAttempts)
	}
	port := regexp.MustCompile(`--port (\d+)`)
	seen := map[string]bool{}
	for _, l := range lines {
		m := port.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("a start without --port: %s", l)
		}
		seen[m[1]] = true
	}
	if len(seen) != len(lines) {
		t.Errorf("starts reused a port: %v", lines)
	}
	if !strings.HasSuffix(srv.Addr, ":"+port.FindStringSubmatch(lines[len(lines)-1])[1]) {
		t.Errorf("server at %s, last start %s", srv.Addr, lines[len(lines)-1])
	}
}

// A dev server that keeps exiting during start-up is given up after
// startAttempts starts, with an error that says what it wrote last.
func TestStartTemporalGivesUp(t *testing.T) {
	dir := t.TempDir()
	bin, starts := fakeTemporal(t, dir, "/bin/false", startAttempts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := StartTemporal(ctx, TemporalConfig{Bin: bin, Headless: true})
	if err == nil {
		srv.Stop()
		t.Fatal("a server that never starts started")
	}
	if !errors.Is(err, errExitedEarly) || !strings.Contains(err.Error(), "bind: address already in use") {
		t.Errorf("error %q does not say the server exited and what it wrote", err)
	}
	if n := len(startLines(t, starts)); n != startAttempts {
		t.Errorf("%d starts, want %d", n, startAttempts)
	}
}
