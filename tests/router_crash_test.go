package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/router"
)

// TestRouterCrashExactlyOnce streams 200,000 orders through kfake over TCP
// while a router process is killed with SIGKILL again and again, then checks
// with `riskgate reconcile` that every order has exactly one audit record
// and no order was gated twice, and that dedup and kills held across every
// crash.
func TestRouterCrashExactlyOnce(t *testing.T) {
	bin, err := riskgateBinary()
	if err != nil {
		t.Fatal(err)
	}
	kc := kafkaCluster(t, "router-e2e")
	brokers := strings.Join(kc.Brokers, ",")
	start := time.Now().Add(-time.Second)

	cl, err := kc.NewClient(kgo.ProducerLinger(5 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	publishState(t, cl, domain.State{Scope: "ACCOUNT:killed-1", Status: domain.StatusKilled, Version: 1,
		CorrID: "crash-kill", Reason: "crash test"})

	const (
		total   = 200_000
		perTick = 1000 // every 50 ms: 20,000 orders/s
	)
	var produced atomic.Int64
	var wantDup, wantDrop, wantGarbage int
	producerDone := make(chan error, 1)
	// The expected counts are fixed by the schedule below, before it runs.
	for i := range total {
		switch {
		case i%1000 == 999:
			wantGarbage++
		case i%100 == 50 && i >= 100:
			wantDup++
		case i%97 == 0:
			wantDrop++
		}
	}
	go func() {
		ctx := context.Background()
		batch := make([]*kgo.Record, 0, perTick)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < total; {
			batch = batch[:0]
			for ; len(batch) < perTick && i < total; i++ {
				rec := crashOrder(t, i)
				if i%100 == 50 && i >= 100 {
					// A resend of the order 50 back: same id, same account.
					rec = crashOrder(t, i-50)
				}
				batch = append(batch, rec)
			}
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				producerDone <- err
				return
			}
			produced.Add(int64(len(batch)))
			<-tick.C
		}
		producerDone <- nil
	}()

	// 400 orders per account and 200,000 in one symbol cross the default
	// caps many times over: this test is about exactly-once decisions, so
	// its router runs without caps (tests/router_limits_crash_test.go
	// crashes one with them).
	limitsFile := writeLimits(t, noCapsLimits)
	rng := rand.New(rand.NewPCG(1, 2))
	kills := routerCrashLoop(t, kc, bin, []string{"--brokers", brokers, "--instance-id", "crash-1",
		"--limits", limitsFile, "--metrics-addr", "", "--log-format", "text", "--max-batch", "2000"},
		func() time.Duration { return time.Duration(400+rng.IntN(1200)) * time.Millisecond }, producerDone)
	t.Logf("produced %d orders, SIGKILLed the router %d times", produced.Load(), kills)
	if kills < 5 {
		t.Errorf("only %d kills happened while the orders streamed", kills)
	}

	// The binary's verdict, as an operator would run it.
	reconcileOK(t, bin, brokers, start)

	// And the counts behind it. Reading 600,000 records under -race on a
	// loaded 2-core machine can take more than a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := router.Reconcile(ctx, kc, start, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != total || rep.Unreadable != wantGarbage || rep.UnreadableInDLQ != wantGarbage ||
		rep.Audited != total-wantGarbage {
		t.Errorf("orders %d (want %d), unreadable %d / in DLQ %d (want %d), audited once %d (want %d)",
			rep.Orders, total, rep.Unreadable, rep.UnreadableInDLQ, wantGarbage, rep.Audited, total-wantGarbage)
	}
	if got := rep.Decisions[domain.DecisionDuplicate]; got != wantDup {
		t.Errorf("DUPLICATE %d, want %d: the dedup window did not survive the crashes", got, wantDup)
	}
	if got := rep.Decisions[domain.DecisionDrop]; got != wantDrop {
		t.Errorf("DROP %d, want %d", got, wantDrop)
	}
	wantAllow := total - wantGarbage - wantDup - wantDrop
	if got := rep.Decisions[domain.DecisionAllow]; got != wantAllow || rep.Gated != wantAllow {
		t.Errorf("ALLOW %d, gated %d, want %d", got, rep.Gated, wantAllow)
	}
}

// crashOrder is the i-th record of the crash test's stream: every 1000th is
// garbage, every 97th is for a killed account.
func crashOrder(t *testing.T, i int) *kgo.Record {
	switch {
	case i%1000 == 999:
		return &kgo.Record{Topic: domain.TopicOrders, Key: []byte("garbage"), Value: []byte("{not an order")}
	case i%97 == 0:
		return routerOrder(t, fmt.Sprintf("c-%07d", i), "killed-1", "SYM")
	}
	return routerOrder(t, fmt.Sprintf("c-%07d", i), fmt.Sprintf("acct-%d", i%500), "SYM")
}

func dumpRouterLogs(t *testing.T, dir string) { dumpLogTails(t, filepath.Join(dir, "router-*.log")) }

// dumpLogTails logs the last lines of every log file that matches the glob
// (the whole file when it holds a goroutine dump).
func dumpLogTails(t *testing.T, glob string) {
	files, _ := filepath.Glob(glob)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 15 && !strings.Contains(string(b), "goroutine ") {
			lines = lines[len(lines)-15:]
		}
		t.Logf("%s (tail):\n%s", filepath.Base(f), strings.Join(lines, "\n"))
	}
}
