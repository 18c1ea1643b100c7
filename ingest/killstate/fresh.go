package killstate

// How current a follower's state is. A follower that cannot read the state
// topic (brokers down, partition leaderless, access revoked) would go on
// serving the last state it read, however old; its users need to know
// for how long they have not been able to confirm it, to stop trusting it
// past a bound. The probe asks the brokers for the end offsets every
// interval; once everything below those ends has been read, the state is
// complete as of the moment the ends were listed.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type freshness struct {
	every time.Duration

	mu       sync.Mutex
	pos      map[int32]int64 // next offset to read, per partition
	target   map[int32]int64 // end offsets listed at targetAt, not all read yet
	targetAt time.Time

	asOf atomic.Int64 // UnixNano; zero until the bootstrap
}

// FreshAsOf is the latest time at which the follower had read every record
// its topic then held: what it read is at most time.Since(FreshAsOf())
// old. Zero until the bootstrap completes.
func (f *Follower) FreshAsOf() time.Time {
	ns := f.fresh.asOf.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Age is how old what the follower read may be, time.Since(FreshAsOf()),
// and false before the bootstrap completes.
func (f *Follower) Age() (time.Duration, bool) {
	at := f.FreshAsOf()
	if at.IsZero() {
		return 0, false
	}
	return time.Since(at), true
}

// begin starts from the bootstrap's end offsets, listed at start.
func (fr *freshness) begin(ends map[int32]int64, start time.Time) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.pos = make(map[int32]int64, len(ends))
	for p := range ends {
		fr.pos[p] = 0
	}
	fr.target, fr.targetAt = ends, start
	fr.reached()
}

// read records that the record at offset of p has been read. Under mu.
func (fr *freshness) read(p int32, offset int64) {
	fr.pos[p] = offset + 1
}

// reached moves asOf to targetAt once every target is read. Under mu.
func (fr *freshness) reached() {
	if fr.target == nil {
		return
	}
	for p, end := range fr.target {
		if fr.pos[p] < end {
			return
		}
	}
	if ns := fr.targetAt.UnixNano(); ns > fr.asOf.Load() {
		fr.asOf.Store(ns)
	}
	fr.target = nil
}

// probe lists the end offsets every interval until ctx ends, and starts
// reading partitions the topic gained (their records are part of the state
// too: until read, the state cannot be current).
func (f *Follower) probe(ctx context.Context, cl *kgo.Client) {
	fr := &f.fresh
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(fr.every)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := time.Now()
		lctx, cancel := context.WithTimeout(ctx, max(fr.every, 5*time.Second))
		ends, err := adm.ListEndOffsets(lctx, f.topic)
		cancel()
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				f.log.Warn("cannot list the topic's end offsets; what was read of it ages until it can",
					"topic", f.topic, "err", err)
			}
			failing = true
			continue
		}
		if failing {
			f.log.Info("topic's end offsets listed again", "topic", f.topic)
			failing = false
		}
		target := make(map[int32]int64)
		added := make(map[int32]kgo.Offset)
		fr.mu.Lock()
		ends.Each(func(o kadm.ListedOffset) {
			target[o.Partition] = o.Offset
			if _, ok := fr.pos[o.Partition]; !ok {
				fr.pos[o.Partition] = 0
				added[o.Partition] = kgo.NewOffset().AtStart()
			}
		})
		fr.target, fr.targetAt = target, at
		fr.reached()
		fr.mu.Unlock()
		if len(added) > 0 {
			f.log.Info("topic gained partitions; reading them", "topic", f.topic, "partitions", len(added))
			cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: added})
		}
	}
}
