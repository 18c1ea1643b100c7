package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// routerOrder is a valid order record value.
func routerOrder(t testing.TB, id, acct, sym string) *kgo.Record {
	b, err := json.Marshal(domain.Order{OrderID: id, TS: time.Now().UnixMilli(), AccountID: acct, Symbol: sym,
		Side: domain.Buy, Qty: 1, Price: 10, Strategy: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: domain.TopicOrders, Key: []byte(acct), Value: b}
}

// publishState writes a kill state as the workflow would.
func publishState(t testing.TB, cl *kgo.Client, st domain.State) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicState, Key: []byte(st.Scope), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// groupCaughtUp reports whether the group has committed every offset of
// orders.v1.
func groupCaughtUp(ctx context.Context, adm *kadm.Client, group string) (lag int64, err error) {
	ends, err := adm.ListEndOffsets(ctx, domain.TopicOrders)
	if err != nil {
		return 0, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		at := int64(0)
		if ok {
			at = c.At
		}
		lag += max(o.Offset-at, 0)
	})
	return lag, nil
}

// waitCaughtUp waits until the group has committed everything produced.
func waitCaughtUp(t *testing.T, kc kafka.Config, group string, limit time.Duration) {
	t.Helper()
	if err := caughtUp(kc, group, limit); err != nil {
		t.Fatal(err)
	}
}

// caughtUp waits until the group has committed everything produced, or
// says how far behind it still is.
func caughtUp(kc kafka.Config, group string, limit time.Duration) error {
	cl, err := kc.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(limit)
	var lag int64
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lag, err = groupCaughtUp(ctx, adm, group)
		cancel()
		if err == nil && lag == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("group %s still %d orders behind after %v (err %v)", group, lag, limit, err)
}
