package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/limits"
)

// feed follows one compacted topic the pre-trade limits depend on
// (risk.limits.v1 or marketdata.ref.v1) into the limits engine: it reads
// every partition from the start (no consumer group: every instance needs
// every scope and symbol), reports ready once it has read to the high
// watermarks it found when it started, and keeps following. Until it is
// ready the router does not route (fail closed: an override may tighten a
// limit, and a symbol without its reference is collared or blocked).
type feed struct {
	kc    kafka.Config
	topic string
	log   *slog.Logger
	apply func(key, value []byte) error
	ready atomic.Bool
	done  chan struct{} // closed once ready
	bad   atomic.Int64
}

func newFeed(kc kafka.Config, topic string, log *slog.Logger, apply func(key, value []byte) error) *feed {
	return &feed{kc: kc, topic: topic, log: log, apply: apply, done: make(chan struct{})}
}

// limitsFeeds returns the feeds of the limits' two topics into eng.
func limitsFeeds(kc kafka.Config, eng *limits.Engine, log *slog.Logger) []*feed {
	return []*feed{
		newFeed(kc, domain.TopicLimits, log, func(key, value []byte) error {
			if len(value) == 0 {
				s, err := domain.ParseScope(string(key))
				if err != nil {
					return fmt.Errorf("tombstone key: %w", err)
				}
				eng.DeleteLimits(s)
				return nil
			}
			rec, err := domain.DecodeLimitsRecord(value)
			if err == nil {
				_, err = eng.ApplyLimits(rec)
			}
			return err
		}),
		newFeed(kc, domain.TopicRefPrices, log, func(key, value []byte) error {
			if len(value) == 0 {
				eng.DeleteReference(string(key))
				return nil
			}
			p, err := domain.DecodeRefPrice(value)
			if err == nil {
				_, err = eng.ApplyReference(p)
			}
			return err
		}),
	}
}

// run follows the topic until ctx ends, starting over after an error. It
// returns a fatal error (the topic is not compacted), else nil when ctx
// ends.
func (f *feed) run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return err
		}
		f.log.Error("following a limits topic failed; reading it again", "topic", f.topic, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// startFeeds starts following the limits' topics and returns once each has
// been read to its high watermark, or with the error that stops the router.
func (r *Router) startFeeds(ctx context.Context) error {
	r.feeds = limitsFeeds(r.cfg.Kafka, r.lim, r.log)
	errc := make(chan error, len(r.feeds))
	for _, f := range r.feeds {
		go func() { errc <- f.run(ctx) }()
	}
	for _, f := range r.feeds {
		select {
		case <-f.done:
		case err := <-errc:
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("bootstrap limits: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// feedsReady reports whether every limits topic has been bootstrapped.
func (r *Router) feedsReady() bool {
	for _, f := range r.feeds {
		if !f.ready.Load() {
			return false
		}
	}
	return r.lim == nil || len(r.feeds) > 0
}

func (f *feed) follow(ctx context.Context) error {
	ends, err := f.endOffsets(ctx)
	if err != nil {
		return err
	}
	parts := make(map[int32]kgo.Offset, len(ends))
	pending := make(map[int32]int64)
	for p, end := range ends {
		parts[p] = kgo.NewOffset().AtStart()
		if end > 0 {
			pending[p] = end
		}
	}
	cl, err := f.kc.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	start := time.Now()
	for {
		if len(pending) == 0 && !f.ready.Load() {
			f.ready.Store(true)
			close(f.done)
			f.log.Info("limits topic bootstrapped", "topic", f.topic, "took", time.Since(start).Round(time.Millisecond))
		}
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) {
			ferr = fmt.Errorf("fetch %s partition %d: %w", f.topic, p, err)
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			if err := f.apply(r.Key, r.Value); err != nil {
				f.bad.Add(1)
				f.log.Error("limits topic record skipped", "topic", f.topic, "key", string(r.Key),
					"partition", r.Partition, "offset", r.Offset, "err", err)
			}
		})
	}
}

// endOffsets waits for the topic and refuses it unless it is compacted: a
// bootstrap from a topic with a retention would miss the older overrides.
// The refusal ends the router (fatalError), not just this session.
func (f *feed) endOffsets(ctx context.Context) (map[int32]int64, error) {
	ends, err := kafka.CompactedEndOffsets(ctx, f.kc, f.topic, f.log)
	if errors.Is(err, kafka.ErrNotCompacted) {
		return nil, fatalError{fmt.Errorf("%s: %w", f.topic, err)}
	}
	return ends, err
}
