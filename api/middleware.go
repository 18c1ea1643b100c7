package api

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// maxBody is the largest request body accepted (413 beyond).
const maxBody = 64 << 10

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	actions  *prometheus.CounterVec
	panics   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskgate_api_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "riskgate_api_request_duration_seconds",
			Help:    "HTTP request latency by route pattern (SSE streams excluded).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"route"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskgate_api_operator_actions_total",
			Help: "Operator actions by action and outcome (ok, rejected, error).",
		}, []string{"action", "outcome"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskgate_api_panics_total",
			Help: "Handler panics turned into 500 responses.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.actions, m.panics} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register api metrics: %w", err)
		}
	}
	return m, nil
}

// statusWriter records the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets server-sent events through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times requests by route pattern and logs them.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		took := time.Since(start)
		s.metrics.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(sw.code)).Inc()
		if route != "/v1/events" {
			s.metrics.latency.WithLabelValues(route).Observe(took.Seconds())
		}
		lvl := s.log.Debug
		if r.Method != http.MethodGet || sw.code >= 500 {
			lvl = s.log.Info
		}
		lvl("http request", "method", r.Method, "path", r.URL.Path, "route", route,
			"status", sw.code, "took", took.Round(time.Microsecond), "remote", r.RemoteAddr,
			"request_id", middleware.GetReqID(r.Context()))
	})
}

// methodLabel bounds the method label: a client inventing methods must not
// create time series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// echoRequestID returns the request's id (chi's middleware.RequestID made
// or took it) in the X-Request-Id header.
func (s *Server) echoRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := middleware.GetReqID(r.Context()); id != "" {
			w.Header().Set(middleware.RequestIDHeader, id)
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a handler panic into a 500 problem instead of a dropped
// connection, and logs it.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.metrics.panics.Inc()
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v),
					"request_id", middleware.GetReqID(r.Context()))
				s.problem(w, r, http.StatusInternalServerError, "Internal error", "the server failed to handle the request")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; reading past the cap fails with
// *http.MaxBytesError, which handlers turn into 413.
func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				w.Header().Set("Content-Type", ProblemContentType)
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				fmt.Fprintf(w, `{"type":"about:blank","title":"Request body too large","status":413,"detail":"the body is %d bytes; the limit is %d"}`+"\n", r.ContentLength, n)
				return
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// cors answers cross-origin requests only from the configured origins. With
// none configured it does nothing, so browsers enforce same-origin.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (slices.Contains(s.cfg.CORSOrigins, origin) || slices.Contains(s.cfg.CORSOrigins, "*")) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limiter holds one token bucket per caller identity.
type limiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*rate.Limiter)}
}

// reserve takes a token for name, or says how long until one is free.
func (l *limiter) reserve(name string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	b, ok := l.buckets[name]
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[name] = b
	}
	l.mu.Unlock()
	if b.AllowN(now, 1) {
		return true, 0
	}
	wait := time.Duration(float64(time.Second) / float64(l.rate))
	return false, wait
}

// rateLimit applies the per-token limit to mutating calls. It runs after
// authentication, so the bucket is the token's identity.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := IdentityFrom(r.Context())
		if ok, wait := s.limiter.reserve(id.Name, s.cfg.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			s.problem(w, r, http.StatusTooManyRequests, "Rate limit exceeded",
				fmt.Sprintf("token %q may make %.3g mutating calls per second (burst %d)", id.Name, float64(s.limiter.rate), s.limiter.burst))
			return
		}
		next.ServeHTTP(w, r)
	})
}
