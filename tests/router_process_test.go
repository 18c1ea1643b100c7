package tests

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// syncBuffer is an io.Writer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRouterProcess runs `riskgate router` as an operator would: /readyz
// answers once the kill state is bootstrapped, /metrics serves the router's
// metrics, orders are routed, and SIGTERM shuts it down cleanly.
func TestRouterProcess(t *testing.T) {
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	kc := kafkaCluster(t, "router-e2e")
	var logs syncBuffer
	cmd := exec.Command(bin, "router", "--brokers", strings.Join(kc.Brokers, ","), "--instance-id", "proc-1",
		"--metrics-addr", "127.0.0.1:0", "--log-format", "text")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("router log:\n%s", logs.String())
		}
	})

	addrRE := regexp.MustCompile(`addr=(http://[0-9.:]+)/metrics`)
	var base string
	deadline := time.Now().Add(15 * time.Second)
	for base == "" {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatal("the router did not log its metrics address")
		}
		time.Sleep(10 * time.Millisecond)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for {
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never answered 200")
		}
		time.Sleep(20 * time.Millisecond)
	}

	cl, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, routerOrder(t, "proc-o1", "A1", "X"), routerOrder(t, "proc-o2", "A2", "X")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		_, body := get("/metrics")
		if strings.Contains(body, `riskgate_router_decisions_total{decision="ALLOW"} 2`) {
			for _, name := range []string{"riskgate_router_decision_duration_seconds_bucket", "riskgate_router_bootstrap_duration_seconds",
				"riskgate_router_txn_commits_total", "riskgate_router_txn_end_duration_seconds_bucket",
				"riskgate_router_txn_route_duration_seconds_bucket", "riskgate_router_txn_flush_duration_seconds_bucket", "riskgate_router_consumer_lag_records", "riskgate_router_state_scopes",
				"riskgate_router_ready 1", "go_goroutines"} {
				if !strings.Contains(body, name) {
					t.Errorf("/metrics lacks %s", name)
				}
			}
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("/metrics never counted the two orders:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("router exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("router did not stop within 15s of SIGTERM")
	}
	var audits int
	readCommittedTopic(t, kc.Brokers, domain.TopicAudit, func(*kgo.Record) { audits++ })
	if audits != 2 {
		t.Errorf("%d audit records, want 2", audits)
	}
}
