package kafka_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

func TestCreateTopicsIsIdempotentAndSetsConfigs(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := kafka.Config{Brokers: c.ListenAddrs()}
	cl, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()

	res, err := kafka.CreateTopics(ctx, adm, kafka.Topics(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(kafka.Topics(3)) {
		t.Fatalf("got %d results, want %d", len(res), len(kafka.Topics(3)))
	}
	for _, r := range res {
		if !r.Created {
			t.Errorf("%s not created on first run", r.Name)
		}
	}
	res, err = kafka.CreateTopics(ctx, adm, kafka.Topics(3))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	for _, r := range res {
		if r.Created {
			t.Errorf("%s created again on second run", r.Name)
		}
	}

	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details[domain.TopicOrders].Partitions); n != 3 {
		t.Errorf("%s has %d partitions, want 3", domain.TopicOrders, n)
	}
	if n := len(details[domain.TopicDLQ].Partitions); n != 1 {
		t.Errorf("%s has %d partitions, want 1", domain.TopicDLQ, n)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, domain.TopicState)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rc.On(domain.TopicState, nil)
	if err != nil {
		t.Fatal(err)
	}
	var policy string
	for _, c := range r.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if policy != "compact" {
		t.Errorf("%s cleanup.policy = %q, want compact", domain.TopicState, policy)
	}
}

func TestParseBrokers(t *testing.T) {
	got := kafka.ParseBrokers(" a:1, b:2 ,,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("ParseBrokers = %q", got)
	}
}
