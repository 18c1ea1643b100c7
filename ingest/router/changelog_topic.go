package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// ensureChangelog waits for orders.v1 and makes sure the dedup changelog
// exists with the same partition count (creating it, or adding the
// partitions orders.v1 gained), since its partition p holds the window of
// orders.v1 partition p. It returns that partition count.
func ensureChangelog(ctx context.Context, kc kafka.Config, topic string, window time.Duration, log *slog.Logger) (int32, error) {
	for {
		// A new client each time: a client caches topic metadata.
		cl, err := kc.NewClient()
		if err != nil {
			return 0, fatalError{err}
		}
		n, err := checkChangelog(ctx, kadm.NewClient(cl), topic, window, log)
		cl.Close()
		if err == nil {
			return n, nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return 0, err
		}
		wait := time.Second
		if errors.Is(err, errChangelogRace) {
			wait = 50 * time.Millisecond
		} else {
			log.Warn("waiting for the orders topic", "topic", domain.TopicOrders, "err", err)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for %s: %w", domain.TopicOrders, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func checkChangelog(ctx context.Context, adm *kadm.Client, topic string, window time.Duration, log *slog.Logger) (int32, error) {
	md, err := adm.ListTopics(ctx, domain.TopicOrders, topic)
	if err != nil {
		return 0, err
	}
	orders, ok := md[domain.TopicOrders]
	if !ok || orders.Err != nil || len(orders.Partitions) == 0 {
		if ok && orders.Err != nil {
			return 0, orders.Err
		}
		return 0, errors.New("topic does not exist yet")
	}
	n := int32(len(orders.Partitions))
	dedup, ok := md[topic]
	if ok && dedup.Err == nil && len(dedup.Partitions) > 0 {
		got := int32(len(dedup.Partitions))
		if got > n {
			// Partitions are never removed: orders.v1 was recreated, and
			// the windows no longer match its partitions.
			return 0, fatalError{fmt.Errorf("%s has %d partitions but %s has %d: the dedup changelog must be partitioned like the orders",
				topic, got, domain.TopicOrders, n)}
		}
		if got < n {
			return 0, growChangelog(ctx, adm, topic, got, n, log)
		}
		return n, nil
	}
	ret := strconv.FormatInt((2 * window).Milliseconds(), 10)
	resp, err := adm.CreateTopic(ctx, n, -1, map[string]*string{"retention.ms": &ret}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create %s: %w", topic, err)
	}
	if err != nil {
		// Another instance created it first: look again with fresh
		// metadata.
		return 0, errChangelogRace
	}
	log.Info("created the dedup changelog topic", "topic", topic, "partitions", n, "retention_ms", ret)
	return n, nil
}

// growChangelog adds the partitions orders.v1 gained to its changelog. The
// windows of the existing partitions stay where they are; a new partition
// starts with an empty window (Kafka moves the accounts whose hash now
// lands on it, so their earlier order_ids are forgotten, as in any
// repartitioning). It returns errChangelogRace on success too, so the
// caller looks again with fresh metadata.
func growChangelog(ctx context.Context, adm *kadm.Client, topic string, have, want int32, log *slog.Logger) error {
	resp, err := adm.UpdatePartitions(ctx, int(want), topic)
	if err == nil {
		err = resp.Error()
	}
	switch {
	case errors.Is(err, kerr.InvalidPartitions):
		// Another instance grew it first.
	case err != nil:
		return fmt.Errorf("add partitions to %s (%d → %d, like %s): %w", topic, have, want, domain.TopicOrders, err)
	default:
		log.Info("added partitions to the dedup changelog topic, as orders.v1 gained them", "topic", topic,
			"from", have, "to", want)
	}
	return errChangelogRace
}

// errChangelogRace makes ensureChangelog look again shortly.
var errChangelogRace = errors.New("dedup changelog topic created concurrently")

// coverChangelog makes sure the dedup changelog has a partition for each of
// parts: orders.v1 may have gained partitions since the start, and its
// changelog grows with it.
func (r *Router) coverChangelog(ctx context.Context, parts []int32) error {
	need := r.clParts
	for _, p := range parts {
		need = max(need, p+1)
	}
	if need <= r.clParts {
		return nil
	}
	n, err := ensureChangelog(ctx, r.cfg.Kafka, r.cfg.DedupTopic, r.cfg.DedupWindow, r.log)
	if err != nil {
		return err
	}
	if n < need {
		// Assigned from fresher metadata than this listing: a new session
		// looks again.
		return fmt.Errorf("%s lists %d partitions but partition %d is assigned", domain.TopicOrders, n, need-1)
	}
	r.clParts = n
	if r.em != nil {
		awaitPartitions(ctx, r.em.sess.Client(), r.cfg.DedupTopic, n)
	}
	return nil
}

// awaitPartitions has a client's producer learn that topic has n partitions
// before it writes to the new ones: a record for a partition its metadata
// does not have yet fails, and aborts the transaction (which is then
// retried). A producer that has not written to topic yet loads fresh
// metadata with its first record.
func awaitPartitions(ctx context.Context, cl *kgo.Client, topic string, n int32) {
	if leader, _, _ := cl.PartitionLeader(topic, 0); leader < 0 {
		return
	}
	cl.ForceMetadataRefresh()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if leader, _, _ := cl.PartitionLeader(topic, n-1); leader >= 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
