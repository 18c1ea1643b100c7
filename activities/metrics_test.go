package activities_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// failingCluster is a kfake cluster whose produce requests fail (as if the
// principal lost write access) while failing is set.
func failingCluster(t *testing.T, failing *atomic.Bool) kafka.Config {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID // v13+ names topics by id
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	cfg := kafka.Config{Brokers: c.ListenAddrs()}
	cl, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kafka.CreateTopics(context.Background(), kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// gathered reads every metric of reg as name{label values…} → value (the
// sample count for a histogram).
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[name] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func TestPublishMetrics(t *testing.T) {
	var failing atomic.Bool
	cfg := failingCluster(t, &failing)
	reg := prometheus.NewRegistry()
	m, err := activities.NewPublishMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := activities.NewPublisher(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), activities.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const scope = domain.Scope("ACCOUNT:12345")
	kill := pub(scope, 1, domain.StatusKilled, domain.ActionKill)
	kill.State.UpdatedTS = time.Now().Add(-30 * time.Second).UnixMilli()

	// Before anything is published every command and failure series is
	// there at 0, so an alert on increase() sees the first one.
	fresh := gathered(t, reg)
	for _, name := range []string{
		"riskgate_worker_commands_total{KILL}{detector}", "riskgate_worker_commands_total{KILL}{operator}",
		"riskgate_worker_commands_total{UNPIN}{system}",
		"riskgate_worker_publish_failures_total{" + domain.TopicCommands + "}",
		"riskgate_worker_publish_failures_total{" + domain.TopicState + "}",
	} {
		if v, ok := fresh[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v) before any publication, want 0", name, v, ok)
		}
	}

	failing.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Publish(ctx, []activities.Publication{kill}); err == nil {
		t.Fatal("publish succeeded while the broker refused every produce")
	}
	down := gathered(t, reg)
	if down["riskgate_worker_publish_failures_total{"+domain.TopicCommands+"}"] != 1 {
		t.Errorf("failures during the outage: %v", down)
	}
	if down["riskgate_worker_unpublished_scopes"] != 1 || down["riskgate_worker_unpublished_age_seconds"] < 30 {
		t.Errorf("unpublished scopes %v, oldest %vs; want 1 scope at least 30 s behind",
			down["riskgate_worker_unpublished_scopes"], down["riskgate_worker_unpublished_age_seconds"])
	}
	if down["riskgate_worker_publications_total"] != 0 || down["riskgate_worker_publish_lag_seconds"] != 0 ||
		down["riskgate_worker_commands_total{KILL}{detector}"] != 0 {
		t.Errorf("publications counted during the outage: %v", down)
	}

	failing.Store(false)
	if err := p.Publish(ctx, []activities.Publication{kill}); err != nil {
		t.Fatal(err)
	}
	up := gathered(t, reg)
	if up["riskgate_worker_publications_total"] != 1 || up["riskgate_worker_publish_lag_seconds"] != 1 ||
		up["riskgate_worker_publish_lag_seconds_sum"] < 30 {
		t.Errorf("after the outage: publications %v, lag samples %v (sum %vs), want 1 transition 30 s+ late",
			up["riskgate_worker_publications_total"], up["riskgate_worker_publish_lag_seconds"], up["riskgate_worker_publish_lag_seconds_sum"])
	}
	if up["riskgate_worker_unpublished_scopes"] != 0 || up["riskgate_worker_unpublished_age_seconds"] != 0 {
		t.Errorf("still unpublished after the publish landed: %v", up)
	}
	if up["riskgate_worker_commands_total{KILL}{detector}"] != 1 || up["riskgate_worker_commands_total{KILL}{operator}"] != 0 {
		t.Errorf("commands after the kill landed: %v", up)
	}
}

// TestPublishMetricsBoundCommandLabels: a command with an action or trigger
// outside the domain's is counted as a publication but creates no series.
func TestPublishMetricsBoundCommandLabels(t *testing.T) {
	cfg := failingCluster(t, new(atomic.Bool))
	reg := prometheus.NewRegistry()
	m, err := activities.NewPublishMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := activities.NewPublisher(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), activities.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	odd := pub("ACCOUNT:1", 1, domain.StatusKilled, domain.Action("SELF_DESTRUCT"))
	if err := p.Publish(context.Background(), []activities.Publication{odd}); err != nil {
		t.Fatal(err)
	}
	got := gathered(t, reg)
	if got["riskgate_worker_publications_total"] != 1 {
		t.Errorf("publications %v, want 1", got["riskgate_worker_publications_total"])
	}
	n := 0
	for name := range got {
		if strings.HasPrefix(name, "riskgate_worker_commands_total{") {
			n++
			if strings.Contains(name, "SELF_DESTRUCT") {
				t.Errorf("series %s created from a command's action", name)
			}
		}
	}
	if n != 6*4 {
		t.Errorf("%d command series, want 24 (6 actions × 4 triggers)", n)
	}
}

func TestPublishMetricsRegisterOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := activities.NewPublishMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := activities.NewPublishMetrics(reg); err == nil {
		t.Error("registering the publisher's metrics twice succeeded")
	}
}
