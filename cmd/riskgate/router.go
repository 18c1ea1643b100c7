package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/router"
)

func init() {
	var (
		metricsAddr string
		cfg         router.Config
	)
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run the router: enforce the kill state on every order of orders.v1 (one process per instance)",
		Long: `Run the router role against an external Kafka. It reads killswitch.state.v1 to its
high watermark before routing anything, then decides every order of orders.v1 in the
consumer group and writes orders.gated.v1, audit.v1 and orders.dlq.v1 exactly once.
GET /metrics serves Prometheus metrics, GET /readyz answers 200 once routing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger("router")
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg.Kafka = kafkaConfig("riskgate-router")
			cfg.Log = log
			cfg.Registerer = reg
			r, err := router.New(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			var srv *http.Server
			srvErr := make(chan error, 1)
			if metricsAddr != "" {
				ln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					return fmt.Errorf("router metrics listener on %s: %w", metricsAddr, err)
				}
				srv = &http.Server{Handler: routerMux(reg, r.Ready), ReadHeaderTimeout: 5 * time.Second}
				log.Info("router metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
				go func() { srvErr <- srv.Serve(ln) }()
			}
			runErr := make(chan error, 1)
			go func() { runErr <- r.Run(ctx) }()
			select {
			case err = <-runErr:
			case err = <-srvErr:
				cancel()
				<-runErr
				err = fmt.Errorf("router metrics server: %w", err)
			}
			if srv != nil {
				shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
				_ = srv.Shutdown(shutdown)
				stop()
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&metricsAddr, "metrics-addr", envOr("RISKGATE_ROUTER_METRICS_ADDR", ":9101"), "address serving /metrics and /readyz; empty disables (env RISKGATE_ROUTER_METRICS_ADDR)")
	f.StringVar(&cfg.Group, "group", envOr("RISKGATE_ROUTER_GROUP", router.DefaultGroup), "consumer group on orders.v1 (env RISKGATE_ROUTER_GROUP)")
	f.StringVar(&cfg.InstanceID, "instance-id", envOr("RISKGATE_INSTANCE_ID", ""), "stable unique name of this instance (e.g. the pod name): static group membership and a fencing transactional id, so a restart resumes at once (env RISKGATE_INSTANCE_ID)")
	f.StringVar(&cfg.Service, "service", router.DefaultService, "service name written into audit records")
	f.DurationVar(&cfg.DedupWindow, "dedup-window", router.DefaultDedupWindow, "how long an order_id is remembered")
	f.StringVar(&cfg.DedupTopic, "dedup-topic", domain.TopicDedup, "changelog topic of the dedup window (one per group)")
	f.IntVar(&cfg.MaxBatch, "max-batch", router.DefaultMaxBatch, "most orders decided in one transaction")
	f.DurationVar(&cfg.TransactionTimeout, "txn-timeout", router.DefaultTransactionTimeout, "transaction timeout: how long a crashed instance's open transaction can block readers")
	root.AddCommand(cmd)
}

// routerMux serves the router's metrics and readiness.
func routerMux(g prometheus.Gatherer, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "kill state not bootstrapped", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}
