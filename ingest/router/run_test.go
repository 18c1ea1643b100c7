package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/riskgate/riskgate/domain"
)

// TestRunReturnsASetupError: when the router cannot go on (here a dedup
// changelog with more partitions than orders.v1, which no growth of
// orders.v1 explains), Run returns the error while its caller's context is
// still live, instead of waiting for goroutines that only stop when that
// context ends.
func TestRunReturnsASetupError(t *testing.T) {
	kc := newCluster(t)
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const topic = "router.dedup.misfit.v1"
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 5, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Kafka: kc, Log: quietLog(), DedupTopic: topic})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "partitioned like the orders") {
			t.Fatalf("Run returned %v, want the changelog's partitioning error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return its setup error")
	}
}

// TestRunRefusesAStateTopicThatIsNotCompacted: a router must not bootstrap
// from a state topic that forgets kills after its retention, nor from
// limits topics that forget overrides and references.
func TestRunRefusesAStateTopicThatIsNotCompacted(t *testing.T) {
	for _, topic := range []string{domain.TopicState, domain.TopicLimits, domain.TopicRefPrices} {
		t.Run(topic, func(t *testing.T) { refusesNotCompacted(t, topic) })
	}
}

func refusesNotCompacted(t *testing.T, topic string) {
	kc := newCluster(t)
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	del := "delete"
	resp, err := kadm.NewClient(cl).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: &del}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = resp.On(topic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Kafka: kc, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- r.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cleanup.policy") || !strings.Contains(err.Error(), topic) {
			t.Fatalf("Run returned %v, want a refusal naming %s and cleanup.policy", err, topic)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not refuse %s with the delete policy", topic)
	}
}
