package gen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// publishTimeout bounds one publication of the reference prices, so a
// broker that stopped answering ends the run instead of hanging it.
const publishTimeout = 10 * time.Second

// errNoRefTopic says marketdata.ref.v1 does not exist. No router with
// limits can then be running (it reads the topic before it routes), so the
// generator warns and sends its orders anyway.
var errNoRefTopic = errors.New("topic " + domain.TopicRefPrices + " does not exist (riskgate topics create makes it)")

// PublishRefs produces one reference price record per symbol to
// marketdata.ref.v1, keyed by symbol, and waits until Kafka has them all.
func PublishRefs(ctx context.Context, cl *kgo.Client, refs []domain.RefPrice) error {
	recs := make([]*kgo.Record, 0, len(refs))
	for _, r := range refs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode reference price of %s: %w", r.Symbol, err)
		}
		recs = append(recs, &kgo.Record{Topic: domain.TopicRefPrices, Key: []byte(r.Symbol), Value: b})
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	// Ask for the topic first: producing to a missing topic retries until
	// the deadline, which would hold the orders back for nothing.
	details, err := kadm.NewClient(cl).ListTopics(pctx, domain.TopicRefPrices)
	if err != nil {
		return fmt.Errorf("look up topic %s: %w", domain.TopicRefPrices, err)
	}
	if d, ok := details[domain.TopicRefPrices]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return errNoRefTopic
	}
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return errNoRefTopic
		}
		return fmt.Errorf("publish reference prices to %s: %w", domain.TopicRefPrices, err)
	}
	return nil
}

// refresher keeps a generator's reference prices fresh while its run lasts:
// one publication before the first order, then one every interval. Run owns
// it and waits for it in stop.
type refresher struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	err     atomic.Value // the first failed refresh, ending the run
	warned  atomic.Bool
	publish func(context.Context) error
}

// startRefs publishes the references once and starts the refresh loop. A
// failed first publication is returned (no order is sent unpriced against a
// router that collars), except a missing topic, which is warned about.
func startRefs(ctx context.Context, g *Generator, cl *kgo.Client, every time.Duration) (*refresher, error) {
	r := &refresher{publish: func(ctx context.Context) error {
		return PublishRefs(ctx, cl, g.RefPrices(time.Now()))
	}}
	if err := r.once(ctx); err != nil {
		return nil, err
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := r.once(ctx); err != nil && ctx.Err() == nil {
					r.err.CompareAndSwap(nil, err)
					return
				}
			}
		}
	}()
	return r, nil
}

func (r *refresher) once(ctx context.Context) error {
	err := r.publish(ctx)
	if errors.Is(err, errNoRefTopic) {
		if !r.warned.Swap(true) {
			slog.Warn("orders are sent without reference prices", "err", err)
		}
		return nil
	}
	return err
}

// failed returns the error that ended the refresh loop, if any.
func (r *refresher) failed() error {
	if e := r.err.Load(); e != nil {
		return e.(error)
	}
	return nil
}

// stop ends the refresh loop and waits for it.
func (r *refresher) stop() {
	r.cancel()
	r.wg.Wait()
}
