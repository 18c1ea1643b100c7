// Command riskgate is the single binary of riskgate: every role (router,
// detector, worker, api, indexer), the embedded dev stack, and the operator
// and tooling commands.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/ingest/kafka"
)

// globals are the flags every command shares. Each has an environment
// variable that sets its default.
type globals struct {
	brokers   string
	temporal  string
	namespace string
	logFormat string
	logLevel  string
}

var g globals

var root = &cobra.Command{
	Use:           "riskgate",
	Short:         "Real-time pre-trade risk control: detect runaway order flow, kill it, audit every decision",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func init() {
	pf := root.PersistentFlags()
	pf.StringVar(&g.brokers, "brokers", envOr("RISKGATE_BROKERS", "127.0.0.1:9092"), "Kafka seed brokers, comma-separated (env RISKGATE_BROKERS)")
	pf.StringVar(&g.temporal, "temporal", envOr("RISKGATE_TEMPORAL", "127.0.0.1:7233"), "Temporal frontend host:port (env RISKGATE_TEMPORAL)")
	pf.StringVar(&g.namespace, "namespace", envOr("RISKGATE_NAMESPACE", "default"), "Temporal namespace (env RISKGATE_NAMESPACE)")
	pf.StringVar(&g.logFormat, "log-format", envOr("RISKGATE_LOG_FORMAT", "json"), "log format: json or text (env RISKGATE_LOG_FORMAT)")
	pf.StringVar(&g.logLevel, "log-level", envOr("RISKGATE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env RISKGATE_LOG_LEVEL)")
}

func main() {
	addIndexFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "riskgate:", err)
		var ec exitCoder
		if ok := asExitCoder(err, &ec); ok {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// exitCoder is an error that chooses the process exit code.
type exitCoder interface {
	error
	ExitCode() int
}

func asExitCoder(err error, out *exitCoder) bool {
	ec, ok := err.(exitCoder)
	if ok {
		*out = ec
	}
	return ok
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// kafkaConfig is the Kafka connection from the global flags, with the
// security and compression settings of kafkaflags.go (resolved before any
// command runs, so an error here cannot happen after a successful start).
func kafkaConfig(clientID string) kafka.Config {
	sec, err := kafkaSecurity(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "riskgate:", err)
		os.Exit(2)
	}
	return kafka.Config{Brokers: kafka.ParseBrokers(g.brokers), ClientID: clientID, Security: sec, Compression: kafkaComp}
}

// newLogger builds the logger of one component from the global flags.
func newLogger(component string) *slog.Logger {
	return slogRoot().With("component", component)
}

// slogRoot builds the process logger from the global flags.
func slogRoot() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if g.logFormat == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	} else {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	return slog.New(h)
}

// temporalClient dials Temporal from the global flags.
func temporalClient(log *slog.Logger) (client.Client, error) {
	c, err := client.Dial(client.Options{
		HostPort:  g.temporal,
		Namespace: g.namespace,
		Logger:    newTemporalLogger(log),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", g.temporal, err)
	}
	return c, nil
}
