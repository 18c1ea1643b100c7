package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/router"
)

// TestKcatInterop checks the wire contracts with an independent client
// (kcat, on librdkafka, as the original demo's tools): an order produced by
// kcat is decided by the router, and kcat reading audit.v1 read_committed
// sees exactly one record for it, in the demo's field names.
func TestKcatInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (Debian package kcat; .ci/run installs it)")
	}
	kc := kafkaCluster(t, "kcat-interop")
	r, err := router.New(router.Config{Kafka: kc, Log: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, 20*time.Second, "router ready", r.Ready)

	broker := kc.Brokers[0]
	id := fmt.Sprintf("kcat-%d", time.Now().UnixNano())
	order := fmt.Sprintf(`{"order_id":%q,"ts":%d,"account_id":"12345","symbol":"AAPL","side":"BUY","qty":10,"price":190.5,"strategy":"VWAP"}`,
		id, time.Now().UnixMilli())
	produce := exec.Command(kcat, "-P", "-b", broker, "-t", domain.TopicOrders, "-k", "12345")
	produce.Stdin = strings.NewReader(order + "\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}

	var audit []domain.AuditRecord
	eventually(t, 30*time.Second, "kcat to read the order's audit record", func() bool {
		out, err := exec.Command(kcat, "-C", "-b", broker, "-t", domain.TopicAudit, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level=read_committed").Output()
		if err != nil {
			return false
		}
		audit = audit[:0]
		for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			var a domain.AuditRecord
			if json.Unmarshal(line, &a) == nil && a.OrderID == id {
				audit = append(audit, a)
			}
		}
		return len(audit) > 0
	})
	if len(audit) != 1 || audit[0].Decision != domain.DecisionAllow || audit[0].AccountID != "12345" || audit[0].Symbol != "AAPL" {
		t.Fatalf("kcat read %+v, want one ALLOW for account 12345 on AAPL", audit)
	}
}
