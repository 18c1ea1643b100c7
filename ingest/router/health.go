package router

// Whether the router may route: its kill state, and the limits' topics
// when it enforces limits, must be bootstrapped and current. What it cannot
// confirm as current for longer than Config.MaxStateAge is not trusted
// (fail closed): the router stops routing, and resumes once it has read the
// topic again.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// errStateStale ends a routing session whose kill state or limits are too
// old.
var errStateStale = errors.New("kill state or limits too old")

// checkState returns an error wrapping errStateStale when a topic the
// router follows (the kill state, the limits, the reference prices) was
// last confirmed read to its end longer ago than the bound.
func (r *Router) checkState() error {
	if topic, age := r.oldest(); age > r.cfg.MaxStateAge {
		return fmt.Errorf("%w: %s could not be read to its end for %s (bound %s)",
			errStateStale, topic, age.Round(100*time.Millisecond), r.cfg.MaxStateAge)
	}
	return nil
}

// waitState waits until the kill state and the limits are current again;
// false when ctx ended first.
func (r *Router) waitState(ctx context.Context) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for r.checkState() != nil {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// maxDetailScopes bounds the failed-closed scopes ReadyDetail names.
const maxDetailScopes = 10

// ReadyDetail says in words what Ready reports, for /readyz: why the router
// is not ready, or that it is, and in both cases the scopes it holds KILLED
// because their state records could not be decoded.
func (r *Router) ReadyDetail() string {
	var b strings.Builder
	stale := r.checkState()
	replaying := r.replaying.Load()
	switch {
	case !r.follower.Ready():
		b.WriteString("not ready: kill state not bootstrapped from " + domain.TopicState)
	case !r.feedsReady():
		b.WriteString("not ready: limits not bootstrapped from " + domain.TopicLimits + " and " + domain.TopicRefPrices)
	case stale != nil:
		b.WriteString("not ready, routing stopped: " + stale.Error())
	case !r.ready.Load():
		b.WriteString("not ready: joining the consumer group on " + domain.TopicOrders)
	case replaying != nil:
		fmt.Fprintf(&b, "not ready: replaying the changelog of %s partitions %v (dedup window and limits usage); their orders wait",
			domain.TopicOrders, *replaying)
	default:
		b.WriteString("ready")
	}
	if n := r.follower.Undecodable(); n > 0 {
		b.WriteString("; " + strconv.FormatInt(n, 10) + " undecodable state records")
	}
	for _, f := range r.feeds {
		if n := f.Undecodable(); n > 0 {
			b.WriteString("; " + strconv.FormatInt(n, 10) + " unreadable " + f.Topic() + " records")
		}
	}
	if r.lim != nil {
		if bad := r.lim.FailedClosed(); len(bad) > 0 {
			b.WriteString("; failing closed (BLOCK) until a readable record: ")
			writeList(&b, bad)
		}
		if lost := r.lim.Unrestored(); len(lost) > 0 {
			b.WriteString("; failing closed (BLOCK) while the usage it held can count: ")
			writeList(&b, lost)
		}
	}
	if bad := r.table.FailedClosed(); len(bad) > 0 {
		b.WriteString("; failing closed (KILLED) until a newer decodable record: ")
		named := make([]string, len(bad))
		for i, fc := range bad {
			named[i] = string(fc.scope) + " (" + fc.why + ")"
		}
		writeList(&b, named)
	}
	return b.String()
}

// writeList writes items comma-separated, at most maxDetailScopes of them.
func writeList(b *strings.Builder, items []string) {
	for i, it := range items {
		if i == maxDetailScopes {
			b.WriteString(", and " + strconv.Itoa(len(items)-i) + " more")
			return
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it)
	}
}
