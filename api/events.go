package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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

// How often an event stream looks for state changes and sends rates and
// keep-alives.
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

// events serves GET /v1/events as text/event-stream until the client goes
// away or the server shuts down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s event: %w", event, err)
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return rc.Flush()
	}

	known := make(map[domain.Scope]domain.State)
	all := s.states.All()
	for _, st := range all {
		known[st.Scope] = st
	}
	if err := send(EventSnapshot, ScopeList{Scopes: all, Ready: s.cfg.StateReady()}); err != nil {
		return
	}
	ctx := r.Context()
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
			if err := s.sendStateChanges(known, send); err != nil {
				return
			}
		case <-rates.C:
			if s.index == nil {
				continue
			}
			r, ok := s.lastRate(ctx, lastSecond)
			if !ok {
				continue
			}
			lastSecond = r.Second
			if err := send(EventRates, r); err != nil {
				return
			}
		case <-alive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// sendStateChanges diffs the table against what the stream has sent.
func (s *Server) sendStateChanges(known map[domain.Scope]domain.State, send func(string, any) error) error {
	seen := make(map[domain.Scope]bool, len(known))
	for _, st := range s.states.All() {
		seen[st.Scope] = true
		old, ok := known[st.Scope]
		if ok && old.Version == st.Version {
			continue
		}
		known[st.Scope] = st
		if err := send(EventState, stateEvent{State: st}); err != nil {
			return err
		}
		if st.Status == domain.StatusKilled && (!ok || old.Status != domain.StatusKilled) {
			if err := send(EventKill, st); err != nil {
				return err
			}
		}
	}
	for scope, st := range known {
		if !seen[scope] {
			delete(known, scope)
			if err := send(EventState, stateEvent{State: st, Deleted: true}); err != nil {
				return err
			}
		}
	}
	return nil
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
