package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// writeLimits writes a limits file for a router process and returns its
// path.
func writeLimits(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limits.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// noCapsLimits leaves every scope type without caps (a scope type left
// out of defaults has none), for tests of other things that send far more
// than deploy/limits.yaml allows.
const noCapsLimits = "defaults:\n  ACCOUNT:\n    window_seconds: 60\n"

// TestRouterLimitsCrashExactlyOnce sends one account's burst of 6,000
// orders against its cap of 500 per 60 s while the router process is
// SIGKILLed again and again, the first 600 orders slowly so that kills land
// while the account is still under its cap. The usage is exactly-once
// state: across every restart the ALLOWed orders in any 60 s window never
// exceed the cap (and, within one window, exactly the first 500 pass), and
// `riskgate reconcile` is clean.
func TestRouterLimitsCrashExactlyOnce(t *testing.T) {
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	kc := kafkaCluster(t, "router-limits-e2e")
	brokers := strings.Join(kc.Brokers, ",")
	limitsFile := writeLimits(t, "defaults:\n  ACCOUNT:\n    max_orders: 500\n    window_seconds: 60\n")
	start := time.Now().Add(-time.Second)

	const (
		acct    = "burst-1"
		capN    = 500
		total   = 6000
		slowTil = 600 // 100/s until here, then 1,000/s
	)
	cl, err := kc.NewClient(kgo.ProducerLinger(5 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	producerDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < total; {
			per := 100
			if i < slowTil {
				per = 10
			}
			batch := make([]*kgo.Record, 0, per)
			for ; len(batch) < per && i < total; i++ {
				batch = append(batch, routerOrder(t, fmt.Sprintf("b-%05d", i), acct, "SYM"))
			}
			if err := cl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
				producerDone <- err
				return
			}
			<-tick.C
		}
		producerDone <- nil
	}()

	rng := rand.New(rand.NewPCG(3, 4))
	kills := routerCrashLoop(t, kc, bin, []string{"--brokers", brokers, "--instance-id", "limits-crash-1",
		"--limits", limitsFile, "--metrics-addr", "", "--log-format", "text"},
		func() time.Duration { return time.Duration(300+rng.IntN(900)) * time.Millisecond }, producerDone)
	t.Logf("produced %d orders of %s, SIGKILLed the router %d times", total, acct, kills)
	if kills < 5 {
		t.Errorf("only %d kills happened while the orders streamed", kills)
	}
	reconcileOK(t, bin, brokers, start)

	// Every order decided once; the ALLOWs counted per second of their
	// decision, the engine's buckets.
	perSec := map[int64]int{}
	decisions := map[domain.Decision]int{}
	seen := map[string]bool{}
	var first, last int64
	readCommittedTopic(t, kc.Brokers, domain.TopicAudit, func(r *kgo.Record) {
		var a domain.AuditRecord
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("audit %s: %v", r.Value, err)
		}
		if seen[a.OrderID] {
			t.Errorf("order %s audited twice", a.OrderID)
		}
		seen[a.OrderID] = true
		decisions[a.Decision]++
		if first == 0 || a.TS < first {
			first = a.TS
		}
		last = max(last, a.TS)
		switch a.Decision {
		case domain.DecisionAllow:
			perSec[a.TS/1000]++
		case domain.DecisionBlock:
			if want := "ACCOUNT:burst-1 max_orders=500/60s"; a.Limit != want {
				t.Errorf("order %s BLOCKed by %q, want %q", a.OrderID, a.Limit, want)
			}
		default:
			t.Errorf("order %s: %s", a.OrderID, a.Decision)
		}
	})
	if len(seen) != total {
		t.Fatalf("%d orders audited, want %d", len(seen), total)
	}
	worst := 0
	for s := range perSec {
		n := 0
		for w := s - 59; w <= s; w++ {
			n += perSec[w]
		}
		worst = max(worst, n)
	}
	t.Logf("decisions %v over %.1f s; most ALLOWs in one 60 s window: %d", decisions, float64(last-first)/1000, worst)
	if worst > capN {
		t.Errorf("%d orders ALLOWed within one 60 s window, cap %d: a crash reset the budget", worst, capN)
	}
	if last-first < 59_000 && decisions[domain.DecisionAllow] != capN {
		t.Errorf("ALLOW %d within one window, want exactly %d (greedy: the first %d pass)",
			decisions[domain.DecisionAllow], capN, capN)
	}
}
