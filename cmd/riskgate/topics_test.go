package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// TestTopicsCreateReportsAndFixesConfigs: `riskgate topics create` reports
// the existing topics whose configs differ from DESIGN §2 (a retention
// longer than required is fine), and with --fix alters them.
func TestTopicsCreateReportsAndFixesConfigs(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kc := kafka.Config{Brokers: c.ListenAddrs()}
	cl, err := kc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := kafka.CreateTopics(ctx, adm, kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}
	set := func(topic, name, value string) {
		t.Helper()
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}}, topic)
		if err == nil {
			var r kadm.AlterConfigsResponse
			if r, err = resp.On(topic, nil); err == nil {
				err = r.Err
			}
		}
		if err != nil {
			t.Fatalf("set %s %s=%s: %v", topic, name, value, err)
		}
	}
	get := func(topic, name string) string {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rc.Configs {
			if c.Key == name {
				return c.MaybeValue()
			}
		}
		return ""
	}
	set(domain.TopicState, "cleanup.policy", "delete")
	set(domain.TopicOrders, "retention.ms", "86400000")   // 1 d, want 7 d
	set(domain.TopicAudit, "retention.ms", "31536000000") // 365 d: longer than 90 d is fine

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"topics", "create", "--brokers", c.ListenAddrs()[0]}, args...))
		if err := root.ExecuteContext(ctx); err != nil {
			t.Fatalf("topics create %v: %v\n%s", args, err, out.String())
		}
		t.Logf("topics create %v:\n%s", args, out.String())
		return out.String()
	}
	line := func(out, topic string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, topic+" ") {
				return l
			}
		}
		t.Fatalf("no line for %s in\n%s", topic, out)
		return ""
	}

	out := run("--fix=false")
	if l := line(out, domain.TopicState); !strings.Contains(l, "cleanup.policy=delete") || !strings.Contains(l, "want compact") {
		t.Errorf("state topic line %q does not report its cleanup.policy", l)
	}
	if l := line(out, domain.TopicOrders); !strings.Contains(l, "retention.ms=86400000") {
		t.Errorf("orders line %q does not report its short retention", l)
	}
	if l := line(out, domain.TopicAudit); strings.Contains(l, "retention") {
		t.Errorf("audit line %q reports a retention longer than required", l)
	}
	if got := get(domain.TopicState, "cleanup.policy"); got != "delete" {
		t.Fatalf("without --fix the state topic was changed to %q", got)
	}

	out = run("--fix")
	if l := line(out, domain.TopicState); !strings.Contains(l, "fixed") {
		t.Errorf("state topic line %q does not say it was fixed", l)
	}
	if got := get(domain.TopicState, "cleanup.policy"); got != "compact" {
		t.Errorf("state topic cleanup.policy = %q after --fix, want compact", got)
	}
	if got := get(domain.TopicOrders, "retention.ms"); got != "604800000" {
		t.Errorf("orders retention.ms = %q after --fix, want 604800000", got)
	}
	if got := get(domain.TopicAudit, "retention.ms"); got != "31536000000" {
		t.Errorf("audit retention.ms = %q after --fix, want it left at 365 d", got)
	}

	out = run("--fix=false")
	for _, topic := range []string{domain.TopicState, domain.TopicOrders} {
		if l := line(out, topic); !strings.HasSuffix(strings.TrimSpace(l), "exists") {
			t.Errorf("after --fix, %q still reports a difference", l)
		}
	}
}
