package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/roles"
)

func TestRunRoleServesProbesUntilTheRoleStops(t *testing.T) {
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runRole(ctx, slog.New(slog.DiscardHandler), addr, newRoleRegistry(), roles.Unit{
			Name: "test", Ready: ready.Load, NotReady: "still loading",
			Run: func(ctx context.Context) error { <-ctx.Done(); return nil },
		})
	}()

	get := func(path string) (int, string) {
		t.Helper()
		var resp *http.Response
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err = http.Get("http://" + addr + path)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "still loading") {
		t.Fatalf("/readyz before ready: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz when ready: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runRole returned %v after the role stopped cleanly", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("the ops server still answers after the role stopped")
	}
}
