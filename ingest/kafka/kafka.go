// Package kafka is the Kafka plumbing every riskgate role shares: how to
// connect (Config), which topics exist with which configs (Topics), and
// creating them.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// Config says how to reach the Kafka cluster.
type Config struct {
	// Brokers are the seed brokers, host:port. Default 127.0.0.1:9092.
	Brokers []string
	// ClientID names the client in broker logs and quotas. Default "riskgate".
	ClientID string
	// Security is the brokers' TLS and SASL settings (NewSecurity). Nil is
	// plaintext without authentication.
	Security *Security
	// Compression is the codec of every batch the client produces. Empty
	// is DefaultCompression.
	Compression Compression
	// Extra options appended to every client.
	Extra []kgo.Opt
}

// Opts returns the client options common to every riskgate client.
func (c Config) Opts() []kgo.Opt {
	brokers := c.Brokers
	if len(brokers) == 0 {
		brokers = []string{"127.0.0.1:9092"}
	}
	id := c.ClientID
	if id == "" {
		id = "riskgate"
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(id),
		c.Compression.opt(),
	}
	opts = append(opts, c.Security.Opts()...)
	return append(opts, c.Extra...)
}

// NewClient builds a client from the config plus role-specific options.
func (c Config) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	if _, ok := c.Compression.codec(); !ok {
		return nil, fmt.Errorf("kafka client for %v: unknown compression %q", c.Brokers, c.Compression)
	}
	cl, err := kgo.NewClient(append(c.Opts(), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", c.Brokers, err)
	}
	return cl, nil
}

// ParseBrokers splits a comma-separated broker list.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// TopicSpec is one topic riskgate uses, with the configs it is created with.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]string
}

const day = 24 * time.Hour

func retention(d time.Duration) map[string]string {
	return map[string]string{"retention.ms": strconv.FormatInt(d.Milliseconds(), 10)}
}

// Topics returns the topics of DESIGN §2. partitions sets the partition
// count of every keyed topic (default 3); the DLQ always has one.
func Topics(partitions int32) []TopicSpec {
	if partitions <= 0 {
		partitions = 3
	}
	return []TopicSpec{
		{domain.TopicOrders, partitions, retention(7 * day)},
		{domain.TopicRiskSignals, partitions, retention(7 * day)},
		{domain.TopicCommands, partitions, retention(30 * day)},
		{domain.TopicState, partitions, compacted()},
		// The pre-trade limits' overrides and reference prices: compacted,
		// read from the start by every router.
		{domain.TopicLimits, partitions, compacted()},
		{domain.TopicRefPrices, partitions, compacted()},
		// Every accepted limits change, appended by the scope's Limits
		// workflow: kept like the kill switch's commands.
		{domain.TopicLimitsCommands, partitions, retention(30 * day)},
		{domain.TopicGated, partitions, retention(7 * day)},
		{domain.TopicAudit, partitions, retention(90 * day)},
		{domain.TopicDLQ, 1, retention(30 * day)},
		// Twice the router's default dedup window of one hour.
		{domain.TopicDedup, partitions, retention(2 * time.Hour)},
		// The detector rebuilds its windows from the last 15 minutes.
		{domain.TopicDetectorRepartition, partitions, retention(day)},
	}
}

// compacted is the config of a topic keyed by scope or symbol whose latest
// record per key is the truth, read from the start.
func compacted() map[string]string {
	return map[string]string{
		"cleanup.policy":            "compact",
		"min.cleanable.dirty.ratio": "0.01",
		"segment.ms":                "60000",
	}
}

// TopicResult says what CreateTopics or EnsureTopics did with one topic.
type TopicResult struct {
	Name       string
	Partitions int32
	Created    bool // false: it existed already
	// Differs lists the configs of an existing topic that differ from its
	// spec (EnsureTopics only); Fixed says they were altered to the spec.
	Differs []ConfigDiff
	Fixed   bool
}

// CreateTopics creates every missing topic of specs. Topics that exist are
// left as they are, so it is safe to run on every start.
func CreateTopics(ctx context.Context, adm *kadm.Client, specs []TopicSpec) ([]TopicResult, error) {
	var out []TopicResult
	var errs []error
	for _, s := range specs {
		cfg := make(map[string]*string, len(s.Configs))
		for k, v := range s.Configs {
			cfg[k] = &v
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, -1, cfg, s.Name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil:
			out = append(out, TopicResult{Name: s.Name, Partitions: s.Partitions, Created: true})
		case errors.Is(err, kerr.TopicAlreadyExists):
			out = append(out, TopicResult{Name: s.Name, Partitions: s.Partitions})
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
		}
	}
	return out, errors.Join(errs...)
}
