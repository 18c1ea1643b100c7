package kafka

// Whether existing topics carry the configs riskgate relies on: the state
// topic must be compacted (a kill older than a delete policy's retention
// would vanish, and a router bootstrapped after that would ALLOW its scope),
// and `riskgate topics create` reports, and with --fix repairs, any topic
// whose configs drifted from DESIGN §2.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ErrNotCompacted is wrapped by CheckCompacted's refusal.
var ErrNotCompacted = errors.New("topic is not compacted")

// CheckCompacted returns an error wrapping ErrNotCompacted unless topic's
// cleanup.policy is exactly compact: "delete" or "compact,delete" would drop
// records after the retention however current they are. Other errors say
// the configs could not be read.
func CheckCompacted(ctx context.Context, adm *kadm.Client, topic string) error {
	configs, err := describeTopicConfigs(ctx, adm, topic)
	if err != nil {
		return err
	}
	if policy := configs[topic]["cleanup.policy"]; policy != "compact" {
		return fmt.Errorf("%w: %s has cleanup.policy=%s; it must be compact, or it loses every record older than its retention "+
			"(`riskgate topics create --fix` alters it)", ErrNotCompacted, topic, policy)
	}
	return nil
}

// describeTopicConfigs returns the configs of topics, by topic and name.
func describeTopicConfigs(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]map[string]string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe the configs of %s: %w", strings.Join(topics, ", "), err)
	}
	out := make(map[string]map[string]string, len(topics))
	for _, topic := range topics {
		rc, err := rcs.On(topic, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return nil, fmt.Errorf("describe the configs of %s: %w", topic, err)
		}
		m := make(map[string]string, len(rc.Configs))
		for _, c := range rc.Configs {
			m[c.Key] = strings.TrimSpace(c.MaybeValue())
		}
		out[topic] = m
	}
	return out, nil
}

// ConfigDiff is a config of an existing topic that differs from its spec.
type ConfigDiff struct {
	Name, Have, Want string
}

func (d ConfigDiff) String() string { return d.Name + "=" + d.Have + " (want " + d.Want + ")" }

// differs reports whether a topic's config value have falls short of want.
// A retention longer than the spec's is no difference (the spec is the
// least a topic must keep; the dedup changelog, for one, keeps twice a
// router's window); numbers compare as numbers.
func differs(name, have, want string) bool {
	h, errH := strconv.ParseFloat(have, 64)
	w, errW := strconv.ParseFloat(want, 64)
	if errH != nil || errW != nil {
		return have != want
	}
	if name == "retention.ms" {
		return h >= 0 && h < w // -1 keeps forever
	}
	return h != w
}

// EnsureTopics is CreateTopics, and for every topic that exists already it
// compares the configs of its spec with the topic's: a difference is
// reported in the result and, with fix, altered to the spec (an incremental
// alter: the topic's other configs stay as they are). Partition counts are
// left alone (orders.v1 may have grown on purpose).
func EnsureTopics(ctx context.Context, adm *kadm.Client, specs []TopicSpec, fix bool) ([]TopicResult, error) {
	res, err := CreateTopics(ctx, adm, specs)
	var existing []string
	for _, r := range res {
		if !r.Created {
			existing = append(existing, r.Name)
		}
	}
	if len(existing) == 0 {
		return res, err
	}
	errs := []error{err}
	have, derr := describeTopicConfigs(ctx, adm, existing...)
	if derr != nil {
		return res, errors.Join(append(errs, derr)...)
	}
	for i := range res {
		r := &res[i]
		if r.Created {
			continue
		}
		spec := specs[slices.IndexFunc(specs, func(s TopicSpec) bool { return s.Name == r.Name })]
		var alter []kadm.AlterConfig
		for _, name := range sortedKeys(spec.Configs) {
			want := spec.Configs[name]
			if got := have[r.Name][name]; differs(name, got, want) {
				r.Differs = append(r.Differs, ConfigDiff{name, got, want})
				alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: &want})
			}
		}
		if !fix || len(alter) == 0 {
			continue
		}
		resp, aerr := adm.AlterTopicConfigs(ctx, alter, r.Name)
		if aerr == nil {
			var ar kadm.AlterConfigsResponse
			if ar, aerr = resp.On(r.Name, nil); aerr == nil {
				aerr = ar.Err
			}
		}
		if aerr != nil {
			errs = append(errs, fmt.Errorf("alter the configs of %s: %w", r.Name, aerr))
			continue
		}
		r.Fixed = true
	}
	return res, errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CompactedEndOffsets waits for a compacted topic a role bootstraps from
// and returns its end offsets per partition. Until the topic exists with
// partitions and its configs can be read, it logs why it waits and retries
// every second; a topic that is not compacted is refused at once (an error
// wrapping ErrNotCompacted): bootstrapping from it would miss every record
// older than its retention.
func CompactedEndOffsets(ctx context.Context, kc Config, topic string, log *slog.Logger) (map[int32]int64, error) {
	cl, err := kc.NewClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			out := make(map[int32]int64)
			ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
			if len(out) == 0 {
				err = errors.New("topic has no partitions")
			} else if err = CheckCompacted(ctx, adm, topic); err == nil {
				return out, nil
			} else if errors.Is(err, ErrNotCompacted) {
				return nil, err
			}
		}
		log.Warn("waiting for a topic to bootstrap from", "topic", topic, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list end offsets of %s: %w", topic, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
