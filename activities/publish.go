// Package activities holds the KillSwitch workflow's side effects:
// publishing a transition to Kafka (the command to killswitch.commands.v1,
// then the state to killswitch.state.v1), and reading a scope's last
// published state when a new incident starts.
package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
)

// PublishName is the registered name of the publish activity. The workflow
// runs it as a local activity by this name, so tests can register a fake
// under the same name.
const PublishName = "PublishTransitions"

// Publication is one transition to publish: the command that caused it and
// the state it produced.
type Publication struct {
	Command domain.Command `json:"command"`
	State   domain.State   `json:"state"`
}

// Publisher produces transitions with one idempotent franz-go producer.
// It is safe for concurrent use by many workflows: records of one scope are
// produced in the order the calls are made, and a workflow never has two
// calls in flight.
type Publisher struct {
	cl      *kgo.Client
	log     *slog.Logger
	sink    killstate.Sink
	metrics *PublishMetrics
}

// PublisherOpt configures a Publisher.
type PublisherOpt func(*Publisher)

// WithSink hands every state to sink once Kafka has acknowledged it. The
// worker passes the table its follower fills, so that a run started right
// after another on the same worker reads the newest state even before the
// follower has fetched it. Default: none. ApplyState runs on the publish
// path, so it must be cheap.
func WithSink(sink killstate.Sink) PublisherOpt {
	return func(p *Publisher) { p.sink = sink }
}

// WithMetrics counts publications, failures and publish lag in m.
// Default: none.
func WithMetrics(m *PublishMetrics) PublisherOpt {
	return func(p *Publisher) { p.metrics = m }
}

// NewPublisher connects a producer tuned for latency: no linger, acks from
// all in-sync replicas, idempotent writes (franz-go's default).
func NewPublisher(cfg kafka.Config, log *slog.Logger, opts ...PublisherOpt) (*Publisher, error) {
	if log == nil {
		log = slog.Default()
	}
	cl, err := cfg.NewClient(
		kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return nil, fmt.Errorf("killswitch publisher: %w", err)
	}
	p := &Publisher{cl: cl, log: log}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Close flushes nothing (every produce is synchronous) and closes the client.
func (p *Publisher) Close() { p.cl.Close() }

// Publish produces each publication in order, the command then the state,
// each acknowledged before the next record is sent. On error the caller
// retries the whole batch: consumers see a record at least once and never
// a state before its command.
func (p *Publisher) Publish(ctx context.Context, pubs []Publication) error {
	for _, pub := range pubs {
		if err := p.publishOne(ctx, pub); err != nil {
			return err
		}
	}
	return nil
}

func (p *Publisher) publishOne(ctx context.Context, pub Publication) error {
	scope := pub.State.Scope
	cmd, err := json.Marshal(pub.Command)
	if err != nil {
		return fmt.Errorf("encode command %s for %s: %w", pub.Command.CmdID, scope, err)
	}
	st, err := json.Marshal(pub.State)
	if err != nil {
		return fmt.Errorf("encode state for %s: %w", scope, err)
	}
	key := []byte(scope)
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicCommands, Key: key, Value: cmd}).FirstErr(); err != nil {
		p.failed(pub, domain.TopicCommands)
		return fmt.Errorf("publish command %s %s for %s: %w", pub.Command.Action, pub.Command.CmdID, scope, err)
	}
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: domain.TopicState, Key: key, Value: st}).FirstErr(); err != nil {
		p.failed(pub, domain.TopicState)
		return fmt.Errorf("publish state %s v%d for %s: %w", pub.State.Status, pub.State.Version, scope, err)
	}
	if p.sink != nil {
		p.sink.ApplyState(pub.State)
	}
	if p.metrics != nil {
		p.metrics.ok(pub)
	}
	p.log.Info("published transition", "scope", scope, "corr_id", pub.State.CorrID,
		"action", pub.Command.Action, "status", pub.State.Status, "version", pub.State.Version, "cmd_id", pub.Command.CmdID)
	return nil
}

func (p *Publisher) failed(pub Publication, topic string) {
	if p.metrics != nil {
		p.metrics.failed(pub, topic)
	}
}
