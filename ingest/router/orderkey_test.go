package router

import (
	"strings"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// TestMisKeyedOrderIsRejected: orders.v1 is keyed by account_id so that an
// account's orders stay in one partition (exact ACCOUNT throttles, dedup,
// the detector's windows). A record keyed otherwise, or not at all, is
// REJECTed with a reason and sent to the DLQ to be fixed and sent again.
func TestMisKeyedOrderIsRejected(t *testing.T) {
	kc := newCluster(t)
	startRouter(t, Config{Kafka: kc})
	other := orderRecord(t, newOrder("k-other", "A1", "AAPL"))
	other.Key = []byte("B2")
	none := orderRecord(t, newOrder("k-none", "A1", "AAPL"))
	none.Key = nil
	produce(t, kc, orderRecord(t, newOrder("k-ok", "A1", "AAPL")), other, none)

	got := audits(t, consumeN(t, kc, domain.TopicAudit, 3))
	if a := got["k-ok"]; len(a) != 1 || a[0].Decision != domain.DecisionAllow {
		t.Errorf("keyed by its account: %+v, want ALLOW", a)
	}
	for _, id := range []string{"k-other", "k-none"} {
		a := got[id]
		if len(a) != 1 || a[0].Decision != domain.DecisionReject || !strings.Contains(a[0].Reason, "key") {
			t.Errorf("%s: %+v, want one REJECT naming the key", id, a)
		}
	}
	dlq := consumeN(t, kc, domain.TopicDLQ, 2)
	if len(dlq) != 2 {
		t.Fatalf("%d DLQ records, want 2", len(dlq))
	}
	for _, d := range dlq {
		var errHeader string
		for _, h := range d.Headers {
			if h.Key == "error" {
				errHeader = string(h.Value)
			}
		}
		if !strings.Contains(errHeader, "account_id") {
			t.Errorf("DLQ error header %q does not say the key must be the account_id", errHeader)
		}
	}
	if gated := consumeN(t, kc, domain.TopicGated, 1); len(gated) != 1 {
		t.Errorf("%d gated orders, want only k-ok", len(gated))
	}
}
