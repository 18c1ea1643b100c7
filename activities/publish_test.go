package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/activities"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

func cluster(tb testing.TB) kafka.Config {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	cfg := kafka.Config{Brokers: c.ListenAddrs()}
	cl, err := cfg.NewClient()
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	if _, err := kafka.CreateTopics(context.Background(), kadm.NewClient(cl), kafka.Topics(3)); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func pub(scope domain.Scope, v int64, status domain.Status, action domain.Action) activities.Publication {
	id := domain.NewID()
	return activities.Publication{
		Command: domain.Command{CmdID: id, Scope: scope, Action: action, TriggeredBy: domain.TriggerDetector, CorrID: "c1", StateVersion: v},
		State:   domain.State{Scope: scope, Status: status, Version: v, LastCmdID: id, CorrID: "c1"},
	}
}

func TestPublishCommandThenState(t *testing.T) {
	cfg := cluster(t)
	p, err := activities.NewPublisher(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const scope = domain.Scope("ACCOUNT:12345")
	batch := []activities.Publication{
		pub(scope, 1, domain.StatusKilled, domain.ActionKill),
		pub(scope, 2, domain.StatusActive, domain.ActionUnkill),
	}
	if err := p.Publish(context.Background(), batch); err != nil {
		t.Fatal(err)
	}

	cl, err := cfg.NewClient(kgo.ConsumeTopics(domain.TopicCommands, domain.TopicState),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cmds []domain.Command
	var states []domain.State
	for len(cmds)+len(states) < 4 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) != string(scope) {
				t.Errorf("record keyed %q, want the scope", r.Key)
			}
			// Each record is acknowledged before the next is produced, so
			// the broker's timestamps order them: command, state, command, state.
			switch r.Topic {
			case domain.TopicCommands:
				var c domain.Command
				if err := json.Unmarshal(r.Value, &c); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, c)
			case domain.TopicState:
				st, err := domain.DecodeState(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				states = append(states, st)
			}
		})
	}
	if len(cmds) != 2 || len(states) != 2 {
		t.Fatalf("read %d commands and %d states, want 2 and 2", len(cmds), len(states))
	}
	for i := range batch {
		if cmds[i].CmdID != batch[i].Command.CmdID || states[i].Version != batch[i].State.Version {
			t.Errorf("transition %d: got %s/v%d, want %s/v%d", i, cmds[i].CmdID, states[i].Version,
				batch[i].Command.CmdID, batch[i].State.Version)
		}
	}
}

func TestPublishFailsWithContext(t *testing.T) {
	p, err := activities.NewPublisher(kafka.Config{Brokers: []string{"127.0.0.1:1"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.Publish(ctx, []activities.Publication{pub("ACCOUNT:1", 1, domain.StatusKilled, domain.ActionKill)})
	if err == nil {
		t.Fatal("publish to an unreachable broker succeeded")
	}
	if want := "publish command KILL"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ACCOUNT:1") {
		t.Errorf("error %q does not say what failed", err)
	}
}

// BenchmarkPublish measures one transition (command then state, each
// acknowledged) against kfake over TCP: the activity's share of time-to-KILLED.
func BenchmarkPublish(b *testing.B) {
	cfg := cluster(b)
	p, err := activities.NewPublisher(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	batch := []activities.Publication{pub("ACCOUNT:12345", 1, domain.StatusKilled, domain.ActionKill)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Publish(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
