// Package api is riskgate's operator surface over HTTP: kill, unkill,
// throttle, extend and pin scopes through their KillSwitch workflows, read
// states, audit, signals and live events, and serve the dashboard. Every
// error is an application/problem+json document; every mutating call needs
// a bearer token whose identity becomes the recorded operator.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/workflows"
)

// Config is what a Server needs. Temporal (or Control), States and Tokens are
// required; the rest has defaults.
type Config struct {
	// Temporal is the client for the KillSwitch workflows. Ignored when
	// Control is set. Give it a workflows.IdentitySigner interceptor: the
	// API authenticated the operator, and the signature is how the workers
	// know it (without one every action is recorded as claimed, and
	// four-eyes releases are refused).
	Temporal client.Client
	// Namespace is the Temporal namespace, for visibility queries. Default "default".
	Namespace string
	// Control overrides the Temporal calls (tests use a fake).
	Control Control
	// Limits overrides the Limits workflows' calls (tests use a fake).
	// Default: Control when it implements LimitsControl, else the
	// TemporalControl over Temporal; nil for both makes the limits routes
	// answer 503.
	Limits LimitsControl
	// LimitsConfig is the limits file (deploy/limits.yaml): the defaults
	// shown for a scope that has no Limits workflow, and the ceilings
	// beyond which a change needs the admin role. Default limits.Default().
	LimitsConfig *limits.Config
	// States is the kill-state table fed by a killstate.Follower.
	States *killstate.Table
	// StateReady reports whether States has bootstrapped; nil means always.
	StateReady func() bool
	// Tokens authenticates bearer tokens.
	Tokens *Tokens
	// Index serves the audit, order and signal queries. Nil makes those
	// routes answer 503.
	Index index.Reader
	// Log is the logger. Default slog.Default().
	Log *slog.Logger
	// Registerer receives the API's metrics. Default: a private registry.
	Registerer prometheus.Registerer
	// Gatherer is served at /metrics. Default: Registerer when it is also a
	// Gatherer, else prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// UpstreamTimeout bounds every call to Temporal or the index. Default 10s.
	UpstreamTimeout time.Duration
	// RateLimit is the sustained number of mutating calls per second allowed
	// per token. Default 5.
	RateLimit float64
	// RateBurst is how many mutating calls a token may make at once. Default 10.
	RateBurst int
	// CORSOrigins lists the origins allowed cross-origin access. Empty (the
	// default) sends no CORS headers at all.
	CORSOrigins []string
	// MaxCooldown bounds cooldown_seconds of a kill, a throttle and an
	// extend. Default workflows.DefaultMaxOperatorCooldown (7 days); keep it
	// no larger than the workers' bound, which rejects what exceeds theirs.
	MaxCooldown time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server is the HTTP API. Create it with New and mount Handler.
type Server struct {
	cfg       Config
	control   Control
	limits    LimitsControl
	limitsCfg *limits.Config
	tokens    *Tokens
	states    *killstate.Table
	index     index.Reader
	log       *slog.Logger
	timeout   time.Duration
	limiter   *limiter
	metrics   *metrics
	gather    prometheus.Gatherer
	handler   http.Handler
	bcast     *broadcaster
}

// New validates cfg and builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.States == nil {
		return nil, errors.New("api: Config.States is required")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("api: Config.Tokens is required")
	}
	ctl := cfg.Control
	lim := cfg.Limits
	if ctl == nil {
		if cfg.Temporal == nil {
			return nil, errors.New("api: Config.Temporal or Config.Control is required")
		}
		ns := cfg.Namespace
		if ns == "" {
			ns = "default"
		}
		tc := TemporalControl{Client: cfg.Temporal, Namespace: ns}
		ctl = tc
		if lim == nil {
			lim = tc
		}
	}
	if lim == nil {
		lim, _ = ctl.(LimitsControl)
	}
	if cfg.LimitsConfig == nil {
		d := limits.Default()
		cfg.LimitsConfig = &d
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.StateReady == nil {
		cfg.StateReady = func() bool { return true }
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = defaultUpstreamTimeout
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 5
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxCooldown <= 0 {
		cfg.MaxCooldown = workflows.DefaultMaxOperatorCooldown
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	gat := cfg.Gatherer
	if gat == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gat = g
		} else {
			gat = prometheus.DefaultGatherer
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		control:   ctl,
		limits:    lim,
		limitsCfg: cfg.LimitsConfig,
		tokens:    cfg.Tokens,
		states:    cfg.States,
		index:     cfg.Index,
		log:       cfg.Log,
		timeout:   cfg.UpstreamTimeout,
		limiter:   newLimiter(cfg.RateLimit, cfg.RateBurst),
		metrics:   m,
		gather:    gat,
	}
	s.bcast = newBroadcaster(s)
	s.handler = s.routes()
	return s, nil
}

// Handler is the API's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// routes declares every route of the API in one place.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.echoRequestID, s.recoverer, s.instrument, s.cors, limitBody(maxBody))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, "Not found", "no route for "+r.Method+" "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusMethodNotAllowed, "Method not allowed", r.Method+" is not supported on "+r.URL.Path)
	})

	// Open: probes, metrics, the API description and the dashboard (which
	// asks for a token before it calls anything else).
	r.Get("/healthz", s.healthz)
	r.Get("/health", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", s.metricsHandler())
	r.Get("/openapi.json", s.openapi)
	r.Get("/", s.dashboard)
	r.Get("/assets/*", s.assets)

	// Reads need a viewer token.
	r.Group(func(r chi.Router) {
		r.Use(s.require(RoleViewer))
		r.Get("/v1/whoami", s.whoami)
		r.Get("/v1/scopes", s.listScopes)
		r.Get("/v1/scopes/{scope}", s.getScope)
		r.Get("/v1/audit", s.searchAudit)
		r.Get("/v1/orders/{order_id}", s.getOrder)
		r.Get("/v1/signals", s.listSignals)
		r.Get("/v1/events", s.events)
		r.Get("/v1/limits", s.listLimits)
		r.Get("/v1/limits/usage", s.limitsUsage)
		r.Get("/v1/limits/{scope}", s.getLimits)
		r.Get("/v1/limits/{scope}/history", s.limitsHistory)
		r.Get("/state", s.demoState)
		r.Get("/audit", s.demoAudit)
	})

	// Mutations need an operator token (admin for GLOBAL, checked per call)
	// and are rate limited per token.
	r.Group(func(r chi.Router) {
		r.Use(s.require(RoleOperator), s.rateLimit)
		r.Post("/v1/kill", s.operate(opKill))
		r.Post("/v1/unkill", s.operate(opUnkill))
		r.Post("/v1/throttle", s.operate(opThrottle))
		r.Post("/v1/scopes/{scope}/extend", s.operate(opExtend))
		r.Post("/v1/scopes/{scope}/pin", s.operate(opPin))
		r.Delete("/v1/scopes/{scope}/pin", s.operate(opUnpin))
		r.Post("/kill", s.operate(opKill))
		r.Post("/unkill", s.operate(opUnkill))
		// Limits: each route checks its own least role (limitsOp.needs).
		r.Put("/v1/limits/{scope}", s.changeLimits(limSet))
		r.Post("/v1/limits/{scope}/raise", s.changeLimits(limRaise))
		r.Post("/v1/limits/{scope}/approve", s.changeLimits(limApprove))
		r.Post("/v1/limits/{scope}/reject", s.changeLimits(limReject))
		r.Post("/v1/limits/{scope}/restrict", s.changeLimits(limRestrict))
		r.Post("/v1/limits/{scope}/unrestrict", s.changeLimits(limUnrestrict))
	})
	return r
}

// Serve serves the API on ln until ctx ends, then shuts down gracefully:
// requests in flight — an operator's update among them — finish (up to the
// upstream timeout), because request contexts do not derive from ctx; event
// streams end at once, through RegisterOnShutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base := context.WithoutCancel(ctx)
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	hs.RegisterOnShutdown(s.bcast.close)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.bcast.close()
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.timeout+time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http server: %w", err)
	}
	<-errc
	return nil
}
