package devstack

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/workflows"
)

func TestKafkaKeepsTopicsAndRecordsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c, err := StartKafka(KafkaConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg := kafka.Config{Brokers: c.ListenAddrs()}
	cl, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kafka.CreateTopics(ctx, kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicState, Key: []byte("GLOBAL"), Value: []byte(`{"v":1}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c.Close()

	c, err = StartKafka(KafkaConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err = kafka.Config{Brokers: c.ListenAddrs()}.NewClient(kgo.ConsumeTopics(domain.TopicState), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fetches := cl.PollRecords(ctx, 1)
	if recs := fetches.Records(); len(recs) != 1 || string(recs[0].Key) != "GLOBAL" {
		t.Fatalf("after restart read %d records (%v)", len(recs), fetches.Err0())
	}
}

func TestTemporalDevServerRegistersSearchAttributes(t *testing.T) {
	if _, err := FindTemporalBinary(); errors.Is(err, ErrNoTemporalBinary) {
		t.Skip(err)
	}
	ctx := context.Background()
	srv, err := StartTemporal(ctx, TemporalConfig{Headless: true, DBFile: filepath.Join(t.TempDir(), "temporal.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Addr, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name := range workflows.SearchAttributes {
		if _, ok := resp.CustomAttributes[name]; !ok {
			t.Errorf("search attribute %s not registered", name)
		}
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
}
