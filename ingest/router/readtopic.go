package router

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/ingest/kafka"
)

// readTopic calls fn, in offset order per partition, for the committed
// records of topic's partitions parts (nil: all) from the first offset at or
// after fromMS (Unix ms) up to the end offsets listed when it starts. Open
// transactions below those ends are waited for.
func readTopic(ctx context.Context, kc kafka.Config, topic string, parts []int32, fromMS int64, fn func(*kgo.Record)) error {
	admCl, err := kc.NewClient()
	if err != nil {
		return err
	}
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListOffsetsAfterMilli(ctx, fromMS, topic)
		if err == nil {
			err = starts.Error()
		}
	}
	admCl.Close()
	if err != nil {
		return fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	if parts == nil {
		ends.Each(func(o kadm.ListedOffset) { parts = append(parts, o.Partition) })
	}
	pending := make(map[int32]int64)
	consume := make(map[int32]kgo.Offset)
	for _, p := range parts {
		end, ok := ends.Lookup(topic, p)
		if !ok {
			return fmt.Errorf("%s has no partition %d", topic, p)
		}
		from := end.Offset
		if s, ok := starts.Lookup(topic, p); ok && s.Offset >= 0 {
			from = s.Offset
		}
		if from < end.Offset {
			pending[p] = end.Offset
			consume[p] = kgo.NewOffset().At(from)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	cl, err := kc.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) {
			ferr = fmt.Errorf("fetch %s partition %d: %w", topic, p, err)
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			end, ok := pending[rec.Partition]
			if !ok || rec.Offset >= end {
				return
			}
			if rec.Offset+1 >= end {
				delete(pending, rec.Partition)
			}
			if !rec.Attrs.IsControl() {
				fn(rec)
			}
		})
	}
	return nil
}
