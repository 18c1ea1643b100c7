package router

// Whether the router may route: its kill state must be bootstrapped and
// current. A state it cannot confirm as current for longer than
// Config.MaxStateAge is not trusted (fail closed): the router stops
// routing, and resumes once it has read the topic again.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// errStateStale ends a routing session whose kill state is too old.
var errStateStale = errors.New("kill state too old")

// stateAge is how old the kill state may be: the time since the follower
// last confirmed it had read every record of the state topic.
func (r *Router) stateAge() time.Duration {
	at := r.follower.FreshAsOf()
	if at.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(at)
}

// checkState returns an error wrapping errStateStale when the kill state is
// older than the bound.
func (r *Router) checkState() error {
	if age := r.stateAge(); age > r.cfg.MaxStateAge {
		return fmt.Errorf("%w: %s could not be read to its end for %s (bound %s)",
			errStateStale, domain.TopicState, age.Round(100*time.Millisecond), r.cfg.MaxStateAge)
	}
	return nil
}

// waitState waits until the kill state is current again; false when ctx
// ended first.
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
	switch {
	case !r.follower.Ready():
		b.WriteString("not ready: kill state not bootstrapped from " + domain.TopicState)
	case r.checkState() != nil:
		b.WriteString("not ready, routing stopped: " + r.checkState().Error())
	case !r.ready.Load():
		b.WriteString("not ready: joining the consumer group on " + domain.TopicOrders)
	default:
		b.WriteString("ready")
	}
	if n := r.follower.Undecodable(); n > 0 {
		b.WriteString("; " + strconv.FormatInt(n, 10) + " undecodable state records")
	}
	if bad := r.table.FailedClosed(); len(bad) > 0 {
		b.WriteString("; failing closed (KILLED) until a newer decodable record: ")
		for i, fc := range bad {
			if i == maxDetailScopes {
				b.WriteString(", and " + strconv.Itoa(len(bad)-i) + " more")
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(string(fc.scope) + " (" + fc.why + ")")
		}
	}
	return b.String()
}
