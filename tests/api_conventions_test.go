package tests

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/workflows"
)

// countingIndex counts the index queries the event streams make.
type countingIndex struct {
	index.Reader
	rates atomic.Int64
}

func (c *countingIndex) Rates(ctx context.Context, since int64) ([]index.Rate, error) {
	c.rates.Add(1)
	return c.Reader.Rates(ctx, since)
}

// TestEventStreamsShareOneProducer: 100 open dashboards cost the index what
// one does — one rates query a second, not one per stream — and every
// stream still sees a kill.
func TestEventStreamsShareOneProducer(t *testing.T) {
	var counter *countingIndex
	h := newAPIHarness(t, func(c *api.Config) {
		counter = &countingIndex{Reader: c.Index}
		c.Index = counter
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const clients = 100
	streams := make([]<-chan sseEvent, clients)
	for i := range streams {
		req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+h.tokens["vera"])
		resp, err := h.ts.Client().Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d: %v %v", i, resp, err)
		}
		defer resp.Body.Close()
		streams[i] = readEvents(resp.Body)
	}
	start := counter.rates.Load()
	h.kill("ACCOUNT:A7", "olga")
	for i, ev := range streams {
		for got := false; !got; {
			select {
			case e, ok := <-ev:
				if !ok {
					t.Fatalf("stream %d ended", i)
				}
				got = e.name == api.EventKill && strings.Contains(e.data, "ACCOUNT:A7")
			case <-ctx.Done():
				t.Fatalf("stream %d never saw the kill", i)
			}
		}
	}
	began := time.Now()
	time.Sleep(3 * time.Second)
	secs := time.Since(began).Seconds() + 1
	if n := counter.rates.Load() - start; float64(n) > 2*secs+2 {
		t.Fatalf("%d rates queries in %.1f s with %d streams: the streams do not share one producer", n, secs, clients)
	}
}

// TestProblemsCarryTheRequestID: an error names the request it answers, in
// the body and the X-Request-Id header, and a caller's own id is kept.
func TestProblemsCarryTheRequestID(t *testing.T) {
	h := newAPIHarness(t)
	req, _ := http.NewRequest("GET", h.ts.URL+"/v1/scopes/NOT:A:SCOPE", nil)
	req.Header.Set("Authorization", "Bearer "+h.tokens["vera"])
	req.Header.Set("X-Request-Id", "trace-abc-123")
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := decodeAs[api.Problem](t, string(b))
	if resp.StatusCode != 400 || p.RequestID != "trace-abc-123" || resp.Header.Get("X-Request-Id") != "trace-abc-123" {
		t.Fatalf("%d %+v header %q", resp.StatusCode, p, resp.Header.Get("X-Request-Id"))
	}
	status, _, body := h.do("GET", "/v1/nothing-here", "vera", "")
	if status != 404 || !strings.Contains(body, `"request_id":"`) {
		t.Fatalf("generated id missing: %d %s", status, body)
	}
}

// slowControl holds every update until released, like a Temporal update
// waiting for its workflow task.
type slowControl struct {
	*fakeControl
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (c *slowControl) Operate(ctx context.Context, update string, req workflows.OperatorRequest) (domain.State, error) {
	c.once.Do(func() { close(c.entered) })
	select {
	case <-c.release:
	case <-ctx.Done():
		return domain.State{}, ctx.Err()
	}
	return c.fakeControl.Operate(ctx, update, req)
}

// TestShutdownLetsAnUpdateFinish: SIGTERM (the serve context ending) while
// an operator's kill is in flight lets it finish and answer, and ends the
// open event streams at once.
func TestShutdownLetsAnUpdateFinish(t *testing.T) {
	slow := &slowControl{fakeControl: newFakeControl(), entered: make(chan struct{}), release: make(chan struct{})}
	h := newAPIHarness(t, func(c *api.Config) { c.Control = slow; c.UpstreamTimeout = 5 * time.Second })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, sigterm := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln) }()

	sreq, _ := http.NewRequest("GET", base+"/v1/events", nil)
	sreq.Header.Set("Authorization", "Bearer "+h.tokens["vera"])
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	stream := readEvents(sresp.Body)

	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+"/v1/kill", strings.NewReader(`{"scope":"ACCOUNT:9","reason":"runaway"}`))
		req.Header.Set("Authorization", "Bearer "+h.tokens["olga"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{code: resp.StatusCode}
	}()
	select {
	case <-slow.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the kill never reached the control")
	}
	sigterm()
	// The stream ends at shutdown, before the update is released.
	for ended := false; !ended; {
		select {
		case _, ok := <-stream:
			ended = !ok
		case <-time.After(5 * time.Second):
			t.Fatal("the event stream did not end at shutdown")
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(slow.release)
	r := <-done
	if r.err != nil || r.code != 200 {
		t.Fatalf("the kill in flight at shutdown: %d %v, want 200", r.code, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
