package kafka_test

import (
	"context"
	"errors"
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

func TestCheckCompactedAndEnsureTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kafka.Config{Brokers: c.ListenAddrs()}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	str := func(s string) *string { return &s }
	for name, configs := range map[string]map[string]*string{
		"t.compact":        {"cleanup.policy": str("compact")},
		"t.delete":         {"cleanup.policy": str("delete")},
		"t.compact-delete": {"cleanup.policy": str("compact,delete")},
		"t.default":        nil,
	} {
		if _, err := adm.CreateTopic(ctx, 1, -1, configs, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := kafka.CheckCompacted(ctx, adm, "t.compact"); err != nil {
		t.Errorf("compacted topic refused: %v", err)
	}
	for _, name := range []string{"t.delete", "t.compact-delete", "t.default"} {
		if err := kafka.CheckCompacted(ctx, adm, name); !errors.Is(err, kafka.ErrNotCompacted) {
			t.Errorf("%s: %v, want ErrNotCompacted", name, err)
		}
	}
	if err := kafka.CheckCompacted(ctx, adm, "t.missing"); err == nil || errors.Is(err, kafka.ErrNotCompacted) {
		t.Errorf("missing topic: %v, want an error reading its configs", err)
	}

	// Numbers compare as numbers; a retention of -1 (forever) is long
	// enough; a shorter one differs.
	specs := []kafka.TopicSpec{
		{Name: "t.ratio", Partitions: 1, Configs: map[string]string{"min.cleanable.dirty.ratio": "0.01"}},
		{Name: "t.forever", Partitions: 1, Configs: map[string]string{"retention.ms": "1000"}},
		{Name: "t.short", Partitions: 1, Configs: map[string]string{"retention.ms": "1000"}},
	}
	for name, configs := range map[string]map[string]*string{
		"t.ratio":   {"min.cleanable.dirty.ratio": str("0.010")},
		"t.forever": {"retention.ms": str("-1")},
		"t.short":   {"retention.ms": str("999")},
	} {
		if _, err := adm.CreateTopic(ctx, 1, -1, configs, name); err != nil {
			t.Fatal(err)
		}
	}
	res, err := kafka.EnsureTopics(ctx, adm, specs, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if want := r.Name == "t.short"; (len(r.Differs) > 0) != want || r.Created || r.Fixed {
			t.Errorf("%s: %+v, want a difference only for t.short, nothing fixed", r.Name, r)
		}
	}
}
