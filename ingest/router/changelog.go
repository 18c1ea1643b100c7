package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// ensureChangelog waits for orders.v1 and makes sure the dedup changelog
// exists with the same partition count (creating it if needed), since its
// partition p holds the window of orders.v1 partition p. It returns that
// partition count.
func ensureChangelog(ctx context.Context, kc kafka.Config, window time.Duration, log *slog.Logger) (int32, error) {
	cl, err := kc.NewClient()
	if err != nil {
		return 0, fatalError{err}
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		n, err := checkChangelog(ctx, adm, window, log)
		if err == nil {
			return n, nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return 0, err
		}
		log.Warn("waiting for the orders topic", "topic", domain.TopicOrders, "err", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for %s: %w", domain.TopicOrders, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func checkChangelog(ctx context.Context, adm *kadm.Client, window time.Duration, log *slog.Logger) (int32, error) {
	md, err := adm.ListTopics(ctx, domain.TopicOrders, domain.TopicDedup)
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
	dedup, ok := md[domain.TopicDedup]
	if ok && dedup.Err == nil && len(dedup.Partitions) > 0 {
		if got := int32(len(dedup.Partitions)); got != n {
			return 0, fatalError{fmt.Errorf("%s has %d partitions but %s has %d: the dedup changelog must be partitioned like the orders",
				domain.TopicDedup, got, domain.TopicOrders, n)}
		}
		return n, nil
	}
	ret := strconv.FormatInt((2 * window).Milliseconds(), 10)
	resp, err := adm.CreateTopic(ctx, n, -1, map[string]*string{"retention.ms": &ret}, domain.TopicDedup)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create %s: %w", domain.TopicDedup, err)
	}
	if err == nil {
		log.Info("created the dedup changelog topic", "topic", domain.TopicDedup, "partitions", n, "retention_ms", ret)
	}
	return checkChangelog(ctx, adm, window, log)
}

// replayChangelog rebuilds the dedup window of the given orders.v1
// partitions from the committed changelog records written since cutoff
// (Unix ms).
func replayChangelog(ctx context.Context, kc kafka.Config, parts []int32, h hasher, cutoff int64) (map[int32]*dedupStore, error) {
	stores := make(map[int32]*dedupStore, len(parts))
	for _, p := range parts {
		stores[p] = newDedupStore()
	}
	admCl, err := kc.NewClient()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, domain.TopicDedup)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListOffsetsAfterMilli(ctx, cutoff, domain.TopicDedup)
		if err == nil {
			err = starts.Error()
		}
	}
	admCl.Close()
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", domain.TopicDedup, err)
	}

	pending := make(map[int32]int64)
	consume := make(map[int32]kgo.Offset)
	for _, p := range parts {
		end, ok := ends.Lookup(domain.TopicDedup, p)
		if !ok {
			return nil, fmt.Errorf("%s has no partition %d", domain.TopicDedup, p)
		}
		from := int64(0)
		if s, ok := starts.Lookup(domain.TopicDedup, p); ok && s.Offset >= 0 {
			from = s.Offset
		}
		if from < end.Offset {
			pending[p] = end.Offset
			consume[p] = kgo.NewOffset().At(from)
		}
	}
	if len(pending) == 0 {
		return stores, nil
	}
	cl, err := kc.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{domain.TopicDedup: consume}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var bad error
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fetches.EachError(func(_ string, p int32, err error) {
			bad = fmt.Errorf("fetch %s partition %d: %w", domain.TopicDedup, p, err)
		})
		if bad != nil {
			return nil, bad
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			if end, ok := pending[rec.Partition]; ok && rec.Offset+1 >= end {
				delete(pending, rec.Partition)
			}
			if rec.Attrs.IsControl() {
				return
			}
			s := stores[rec.Partition]
			if s == nil {
				return
			}
			// A malformed record is skipped: it can only make the window
			// forget, never invent, a duplicate.
			_ = readChangelog(rec.Value, func(ms int64, id []byte, cancel bool) {
				if ms >= cutoff {
					s.add(h.key(unsafe.String(unsafe.SliceData(id), len(id)), cancel), ms)
				}
			})
		})
	}
	return stores, nil
}
