package devstack

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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

// TestTemporalRestartsOnItsOwnDataAfterSIGKILL kills the dev server child
// the way the OOM killer would: the supervisor starts it again on the same
// ports and database, so an open workflow is still there, and Stop then
// ends it within its bound.
func TestTemporalRestartsOnItsOwnDataAfterSIGKILL(t *testing.T) {
	if _, err := FindTemporalBinary(); errors.Is(err, ErrNoTemporalBinary) {
		t.Skip(err)
	}
	ctx := context.Background()
	changes := make(chan bool, 8)
	srv, err := StartTemporal(ctx, TemporalConfig{
		Headless: true, DBFile: filepath.Join(t.TempDir(), "temporal.db"),
		OnChange: func(up bool, _ string) { changes <- up },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Addr, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A run nobody polls stays open: it is the data that must survive.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "survivor", TaskQueue: "nobody"}, "Nothing")
	if err != nil {
		t.Fatal(err)
	}

	first := srv.Pid()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, want := range []bool{false, true} {
		select {
		case up := <-changes:
			if up != want {
				t.Fatalf("health change %v, want %v", up, want)
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("no health change to %v within 90 s (status %q)", want, srv.Status())
		}
	}
	if !srv.Healthy() || srv.Restarts() != 1 || srv.Pid() == first {
		t.Fatalf("after restart: healthy %v, restarts %d, pid %d (was %d)", srv.Healthy(), srv.Restarts(), srv.Pid(), first)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, "survivor", run.GetRunID())
	if err != nil {
		t.Fatalf("the open run is gone after the restart: %v", err)
	}
	if st := desc.WorkflowExecutionInfo.Status.String(); st != "Running" {
		t.Fatalf("survivor is %s after the restart, want Running", st)
	}

	start := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Stop took %s", took)
	}
	if err := syscall.Kill(srv.Pid(), 0); err == nil {
		t.Fatalf("the dev server (pid %d) still runs after Stop", srv.Pid())
	}
	select {
	case up := <-changes:
		t.Fatalf("Stop was reported as a health change (%v); a stop is not an outage", up)
	default:
	}
}
