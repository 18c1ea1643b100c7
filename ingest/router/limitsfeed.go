package router

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/limits"
)

// The limits' two compacted topics, risk.limits.v1 and marketdata.ref.v1,
// are followed as the kill state is (killstate.NewTopicFollower): every
// partition from the start, no consumer group (every instance needs every
// scope and symbol), read to the high watermarks before the router routes,
// then followed, each knowing how current it is. The router fails closed on
// them as on the kill state: it does not route before both are
// bootstrapped, it stops routing while either cannot be confirmed current
// for longer than Config.MaxStateAge (checkState), and a record it cannot
// read fails its scope (or symbol) closed in the engine until a readable
// one arrives.

// limitsFollowers returns the followers of the limits' topics into eng.
func limitsFollowers(kc kafka.Config, eng *limits.Engine, log *slog.Logger, opts ...killstate.Option) []*killstate.Follower {
	return []*killstate.Follower{
		killstate.NewTopicFollower(kc, domain.TopicLimits, func(key, value []byte) error {
			return applyLimitsRecord(eng, key, value)
		}, log, opts...),
		killstate.NewTopicFollower(kc, domain.TopicRefPrices, func(key, value []byte) error {
			return applyRefRecord(eng, key, value)
		}, log, opts...),
	}
}

// applyLimitsRecord applies a risk.limits.v1 record: a tombstone puts its
// scope back on the defaults, a record newer than the one held replaces its
// limits. A record that cannot be read (or names another scope than its
// key, under which compaction keeps it) fails the key's scope closed, when
// the key names one.
func applyLimitsRecord(eng *limits.Engine, key, value []byte) error {
	scope, kerr := domain.ParseScope(string(key))
	if len(value) == 0 {
		if kerr != nil {
			return fmt.Errorf("tombstone key: %w", kerr)
		}
		eng.DeleteLimits(scope)
		return nil
	}
	rec, err := domain.DecodeLimitsRecord(value)
	if err == nil && kerr == nil && rec.Scope != scope {
		err = fmt.Errorf("a record of %s under the key %s", rec.Scope, scope)
	}
	if err == nil {
		_, err = eng.ApplyLimits(rec)
	}
	if err != nil && kerr == nil {
		eng.FailLimitsClosed(scope, "unreadable record: "+err.Error())
		return fmt.Errorf("%s fails closed (every order blocked) until a readable record: %w", scope, err)
	}
	return err
}

// applyRefRecord applies a marketdata.ref.v1 record, failing its symbol's
// reference closed when it cannot be read and its key is a symbol.
func applyRefRecord(eng *limits.Engine, key, value []byte) error {
	sym := string(key)
	kerr := domain.ValidateID(sym)
	if len(value) == 0 {
		if kerr != nil {
			return fmt.Errorf("tombstone key: %w", kerr)
		}
		eng.DeleteReference(sym)
		return nil
	}
	p, err := domain.DecodeRefPrice(value)
	if err == nil && kerr == nil && p.Symbol != sym {
		err = fmt.Errorf("a reference of %s under the key %s", p.Symbol, sym)
	}
	if err == nil {
		_, err = eng.ApplyReference(p)
	}
	if err != nil && kerr == nil {
		eng.FailReferenceClosed(sym, "unreadable record: "+err.Error())
		return fmt.Errorf("the reference of %s fails closed until a readable record: %w", sym, err)
	}
	return err
}

// startFeeds starts following the limits' topics and returns once each has
// been read to its high watermark (stop ends them), or with the error that
// stops the router.
func (r *Router) startFeeds(ctx context.Context) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	for _, f := range r.feeds {
		s, err := f.Start(ctx)
		stops = append(stops, s)
		if err != nil {
			return stop, fmt.Errorf("bootstrap %s: %w", f.Topic(), err)
		}
	}
	return stop, nil
}

// feedsReady reports whether every limits topic has been bootstrapped.
func (r *Router) feedsReady() bool {
	for _, f := range r.feeds {
		if !f.Ready() {
			return false
		}
	}
	return true
}

// oldest returns the followed topic confirmed current longest ago, and
// how long ago (the maximum duration for one never confirmed).
func (r *Router) oldest() (topic string, age time.Duration) {
	for _, f := range r.followed {
		a, ok := f.Age()
		if !ok {
			a = time.Duration(1<<63 - 1)
		}
		if topic == "" || a > age {
			topic, age = f.Topic(), a
		}
	}
	return topic, age
}
