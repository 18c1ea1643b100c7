package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// Server-sent event names of GET /v1/events.
const (
	// EventSnapshot carries every state at connection time: {"scopes": [State…]}.
	EventSnapshot = "snapshot"
	// EventState carries a changed state: a State (with "deleted": true for a tombstone).
	EventState = "state"
	// EventKill carries a state that just became KILLED (also sent as EventState).
	EventKill = "kill"
	// EventRates carries the decision counts of the last complete second: an index.Rate.
	EventRates = "rates"
)

// How often the event broadcaster looks for state changes and sends rates
// and keep-alives.
const (
	eventStatePoll = 200 * time.Millisecond
	eventRatesTick = time.Second
	eventKeepAlive = 15 * time.Second
)

// stateEvent is the data of an EventState.
type stateEvent struct {
	domain.State
	Deleted bool `json:"deleted,omitempty"`
}

// broadcaster is the one producer of every event stream: it diffs the
// state table and asks the index for the last second's rates once for all
// subscribers, and hands each subscriber the same encoded frames, so a
// hundred open dashboards cost what one does.
type broadcaster struct {
	s *Server

	mu      sync.Mutex
	subs    map[chan []byte]struct{}
	known   map[domain.Scope]domain.State
	running bool
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// subscriberBuffer is how many frames a slow client may lag behind before
// its stream is ended (it reconnects and gets a fresh snapshot).
const subscriberBuffer = 256

func newBroadcaster(s *Server) *broadcaster {
	return &broadcaster{s: s, subs: make(map[chan []byte]struct{}), known: make(map[domain.Scope]domain.State)}
}

// subscribe returns the snapshot frame and a channel of the frames after
// it; the channel is closed when the subscriber falls too far behind or the
// broadcaster stops.
func (b *broadcaster) subscribe() ([]byte, chan []byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		// The first subscriber starts the loop; the snapshot is taken under
		// the lock the loop diffs under, so no change falls between them.
		clear(b.known)
		for _, st := range b.s.states.All() {
			b.known[st.Scope] = st
		}
		ctx, cancel := context.WithCancel(context.Background())
		b.running, b.stop = true, cancel
		b.wg.Go(func() { b.loop(ctx) })
	}
	all := make([]domain.State, 0, len(b.known))
	for _, st := range b.known {
		all = append(all, st)
	}
	slices.SortFunc(all, func(a, b domain.State) int { return strings.Compare(string(a.Scope), string(b.Scope)) })
	snap, err := frame(EventSnapshot, ScopeList{Scopes: all, Ready: b.s.cfg.StateReady()})
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan []byte, subscriberBuffer)
	b.subs[ch] = struct{}{}
	return snap, ch, nil
}

func (b *broadcaster) unsubscribe(ch chan []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[ch]; ok {
		delete(b.subs, ch)
		close(ch)
	}
}

// close ends every stream and the loop (server shutdown).
func (b *broadcaster) close() {
	b.mu.Lock()
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
	stop := b.stop
	b.running = false
	b.mu.Unlock()
	if stop != nil {
		stop()
	}
	b.wg.Wait()
}

// publish hands a frame to every subscriber; one that cannot take it is
// dropped rather than slowing the others.
func (b *broadcaster) publish(f []byte) {
	for ch := range b.subs {
		select {
		case ch <- f:
		default:
			delete(b.subs, ch)
			close(ch)
		}
	}
}

func (b *broadcaster) loop(ctx context.Context) {
	poll := time.NewTicker(eventStatePoll)
	defer poll.Stop()
	rates := time.NewTicker(eventRatesTick)
	defer rates.Stop()
	alive := time.NewTicker(eventKeepAlive)
	defer alive.Stop()
	var lastSecond int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			b.mu.Lock()
			if len(b.subs) == 0 {
				// Nobody listens: stop until the next subscriber.
				b.running = false
				b.stop()
				b.mu.Unlock()
				return
			}
			b.diff()
			b.mu.Unlock()
		case <-rates.C:
			if b.s.index == nil {
				continue
			}
			r, ok := b.s.lastRate(ctx, lastSecond)
			if !ok {
				continue
			}
			lastSecond = r.Second
			if f, err := frame(EventRates, r); err == nil {
				b.mu.Lock()
				b.publish(f)
				b.mu.Unlock()
			}
		case <-alive.C:
			b.mu.Lock()
			b.publish([]byte(": keep-alive\n\n"))
			b.mu.Unlock()
		}
	}
}

// diff publishes what changed in the table since the last look. b.mu held.
func (b *broadcaster) diff() {
	send := func(event string, v any) {
		f, err := frame(event, v)
		if err != nil {
			b.s.log.Error("encode event", "event", event, "err", err)
			return
		}
		b.publish(f)
	}
	seen := make(map[domain.Scope]bool, len(b.known))
	for _, st := range b.s.states.All() {
		seen[st.Scope] = true
		old, ok := b.known[st.Scope]
		if ok && old.Version == st.Version {
			continue
		}
		b.known[st.Scope] = st
		send(EventState, stateEvent{State: st})
		if st.Status == domain.StatusKilled && (!ok || old.Status != domain.StatusKilled) {
			send(EventKill, st)
		}
	}
	for scope, st := range b.known {
		if !seen[scope] {
			delete(b.known, scope)
			send(EventState, stateEvent{State: st, Deleted: true})
		}
	}
}

// frame encodes one server-sent event.
func frame(event string, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", event, err)
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data), nil
}

// events serves GET /v1/events as text/event-stream until the client goes
// away, falls too far behind, or the server shuts down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	snap, ch, err := s.bcast.subscribe()
	if err != nil {
		s.problem(w, r, http.StatusInternalServerError, "Internal error", err.Error())
		return
	}
	defer s.bcast.unsubscribe(ch)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(f []byte) bool {
		if _, err := w.Write(f); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(snap) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case f, ok := <-ch:
			if !ok || !write(f) {
				return
			}
		}
	}
}

// lastRate returns the counts of the last complete second, if it is newer
// than after. A second with no decisions is reported as zeros.
func (s *Server) lastRate(ctx context.Context, after int64) (index.Rate, bool) {
	now := s.cfg.Now()
	sec := now.Unix() - 1
	if sec <= after {
		return index.Rate{}, false
	}
	qctx, cancel := context.WithTimeout(ctx, min(s.timeout, time.Second))
	defer cancel()
	rs, err := s.index.Rates(qctx, sec*1000)
	if err != nil {
		s.log.Debug("rates for event stream", "err", err)
		return index.Rate{}, false
	}
	out := index.Rate{Second: sec}
	for _, r := range rs {
		if r.Second == sec {
			out = r
		}
	}
	return out, true
}
