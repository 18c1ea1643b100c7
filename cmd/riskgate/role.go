package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/roles"
)

// opsEndpoint is what every long-running role serves beside its work:
// GET /metrics, GET /healthz (the process is up) and GET /readyz (it can do
// its job: 503 with NotReady until Ready reports true).
type opsEndpoint struct {
	// Addr to listen on; empty serves nothing.
	Addr     string
	Gatherer prometheus.Gatherer
	Ready    func() bool
	NotReady string
	// Detail, when set, is the /readyz body instead of NotReady and
	// "ready": what the role's readiness depends on, in words.
	Detail func() string
}

// newRoleRegistry is a role's metrics registry, with the Go runtime and
// process collectors.
func newRoleRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), roles.BuildInfoCollector())
	return reg
}

// roleKafka is a role's Kafka connection: its clients' metrics go into the
// role's registry and their log lines into its logger.
func roleKafka(clientID string, reg prometheus.Registerer, log *slog.Logger) kafka.Config {
	kc := kafkaConfig(clientID)
	kc.Metrics = kafka.NewClientMetrics(reg, log)
	kc.Log = log
	return kc
}

func (o opsEndpoint) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready := o.Ready == nil || o.Ready()
		body := o.NotReady
		if ready {
			body = "ready"
		}
		if o.Detail != nil {
			body = o.Detail()
		}
		if !ready {
			http.Error(w, body, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, body)
	})
	return mux
}

// runRole runs one role until ctx ends or it fails, serving its ops
// endpoint on addr (none when empty) meanwhile; a failure of either stops
// both. A failed role ends the process: its supervisor is the platform's
// (Kubernetes, compose), which restarts it.
func runRole(ctx context.Context, log *slog.Logger, addr string, reg prometheus.Gatherer, u roles.Unit) error {
	ops := opsEndpoint{Addr: addr, Gatherer: reg, Ready: u.Ready, NotReady: u.NotReady, Detail: u.Detail}
	run := u.Run
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srvErr := make(chan error, 1)
	var srv *http.Server
	if ops.Addr != "" {
		ln, err := net.Listen("tcp", ops.Addr)
		if err != nil {
			return fmt.Errorf("metrics listener on %s: %w", ops.Addr, err)
		}
		srv = &http.Server{Handler: ops.handler(), ReadHeaderTimeout: 5 * time.Second}
		log.Info("serving /metrics, /healthz and /readyz", "addr", "http://"+ln.Addr().String()+"/metrics")
		go func() { srvErr <- srv.Serve(ln) }()
		defer func() {
			shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
			defer stop()
			_ = srv.Shutdown(shutdown)
		}()
	}
	runErr := make(chan error, 1)
	go func() { runErr <- run(ctx) }()
	select {
	case err := <-runErr:
		return err
	case err := <-srvErr:
		cancel()
		<-runErr
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics server: %w", err)
	}
}
