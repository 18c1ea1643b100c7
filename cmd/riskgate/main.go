// Command riskgate is the single binary of riskgate: every role (router,
// detector, worker, api, indexer), the embedded dev stack, and the operator
// and tooling commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/roles"
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
	pf.StringVar(&g.temporal, "temporal", os.Getenv("RISKGATE_TEMPORAL"), "Temporal frontend host:port (env RISKGATE_TEMPORAL, else TEMPORAL_ADDRESS or the Temporal CLI profile, else "+defaultTemporal+")")
	pf.StringVar(&g.namespace, "namespace", os.Getenv("RISKGATE_NAMESPACE"), "Temporal namespace (env RISKGATE_NAMESPACE, else TEMPORAL_NAMESPACE or the Temporal CLI profile, else default)")
	pf.StringVar(&g.logFormat, "log-format", envOr("RISKGATE_LOG_FORMAT", "json"), "log format: json or text (env RISKGATE_LOG_FORMAT)")
	pf.StringVar(&g.logLevel, "log-level", envOr("RISKGATE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env RISKGATE_LOG_LEVEL)")
}

func main() {
	addIndexFlags()
	root.Version = roles.BuildInfo().String()
	root.SetVersionTemplate("riskgate {{.Version}}\n")
	if len(envErrors) > 0 {
		fmt.Fprintln(os.Stderr, "riskgate:", errors.Join(envErrors...).Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		// One line, whatever the error joins: a start-up error must read
		// as one cause on stderr.
		fmt.Fprintln(os.Stderr, "riskgate:", strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
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

// envErrors collects environment variables that could not be read as
// their flags' defaults; main refuses to start with any.
var envErrors []error

// envBool reads a boolean environment variable: true/false, 1/0, yes/no,
// on/off in any case; unset or empty is false, anything else is an error
// reported at start (never silently false).
func envBool(key string) bool {
	v, ok := os.LookupEnv(key)
	if !ok || strings.TrimSpace(v) == "" {
		return false
	}
	b, err := parseBool(v)
	if err != nil {
		envErrors = append(envErrors, fmt.Errorf("%s=%q: %w", key, v, err))
	}
	return b
}

// parseBool reads the usual spellings of a boolean.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on", "t", "y":
		return true, nil
	case "false", "0", "no", "off", "f", "n":
		return false, nil
	}
	return false, errors.New("not a boolean (want true/false, 1/0, yes/no or on/off)")
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
	brokers := kafka.ParseBrokers(g.brokers)
	if len(brokers) == 0 {
		fmt.Fprintln(os.Stderr, "riskgate: --brokers is empty: give Kafka's seed brokers as host:port,... (env RISKGATE_BROKERS)")
		os.Exit(2)
	}
	// A command's Kafka client logs its warnings and errors (an
	// authentication failure, say) to stderr; a role's logs at the role's
	// level (roleKafka).
	return kafka.Config{Brokers: brokers, ClientID: clientID, Security: sec, Compression: kafkaComp,
		Log: slogAtLeast(slog.LevelWarn)}
}

// newLogger builds the logger of one component from the global flags.
func newLogger(component string) *slog.Logger {
	return slogRoot().With("component", component)
}

// slogRoot builds the process logger from the global flags.
func slogRoot() *slog.Logger { return slogAtLeast(slog.LevelDebug) }

// slogAtLeast is the process logger, but never below floor.
func slogAtLeast(floor slog.Level) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: max(lvl, floor)}
	var h slog.Handler
	if g.logFormat == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	} else {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	return slog.New(h)
}
