package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/interceptor"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/roles"
	"github.com/riskgate/riskgate/workflows"
)

// apiOptions are the flags of `riskgate api`.
type apiOptions struct {
	addr        string
	tokens      string
	data        string
	noIndex     bool
	corsOrigins string
	rateLimit   float64
	timeout     time.Duration
	maxCooldown time.Duration
	keyFile     string
	limitsFile  string
}

func init() {
	var o apiOptions
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the operator HTTP API and dashboard against external Kafka and Temporal",
		Long: `Serve the operator HTTP API and the dashboard.

Tokens come from a JSON file holding only their SHA-256 hashes:

  {"tokens": [{"name": "alice", "role": "operator", "sha256": "<hex>"}]}

Create entries with "riskgate token new --name alice --role operator".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAPI(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", envOr("RISKGATE_API_ADDR", ":8080"), "listen address (env RISKGATE_API_ADDR)")
	f.StringVar(&o.tokens, "tokens", envOr("RISKGATE_TOKENS_FILE", ""), "tokens file, JSON with hashed tokens (env RISKGATE_TOKENS_FILE)")
	f.StringVar(&o.data, "data", envOr("RISKGATE_DATA", "./data"), "data directory holding the audit index written by `riskgate indexer` (env RISKGATE_DATA)")
	f.BoolVar(&o.noIndex, "no-index", false, "run without the audit index (audit, order and signal routes answer 503)")
	f.StringVar(&o.corsOrigins, "cors-origins", "", "comma-separated origins allowed cross-origin access (default none: CORS off)")
	f.Float64Var(&o.rateLimit, "rate-limit", 5, "mutating calls per second allowed per token")
	f.DurationVar(&o.timeout, "upstream-timeout", 10*time.Second, "timeout of every call to Temporal or the index")
	f.DurationVar(&o.maxCooldown, "max-operator-cooldown", workflows.DefaultMaxOperatorCooldown, "longest cooldown an operator may give (kill, throttle, extend); 400 beyond it; no larger than the worker's")
	addIdentityKeyFlag(cmd, &o.keyFile)
	addLimitsFlag(cmd, &o.limitsFile)
	root.AddCommand(cmd)
}

func runAPI(ctx context.Context, o apiOptions) error {
	log := newLogger("api")
	if o.tokens == "" {
		return errors.New("--tokens is required (a JSON file of hashed tokens; see riskgate api --help)")
	}
	tokens, err := api.LoadTokens(o.tokens)
	if err != nil {
		return err
	}
	lim, err := loadLimits(o.limitsFile)
	if err != nil {
		return err
	}
	keys, err := loadIdentityKeys(o.keyFile)
	if err != nil {
		return err
	}
	var signers []interceptor.ClientInterceptor
	if len(keys) == 0 {
		log.Warn("no identity key: operator updates go unsigned and are recorded as claimed, and the workers refuse " +
			"four-eyes releases (GLOBAL unkill, unpin) unless they accept claimed approvals; give --identity-key-file")
	} else {
		// The API authenticated the operator: it signs the updates it sends.
		s, err := workflows.NewIdentitySigner(keys)
		if err != nil {
			return err
		}
		signers = append(signers, s)
	}
	// A lazy client lets the API start, serve reads and answer 503 on
	// actions while Temporal is down, instead of refusing to start.
	tc, closeTemporal, err := temporalLazyClient(log, prometheus.DefaultRegisterer, signers...)
	if err != nil {
		return err
	}
	defer closeTemporal()

	var idx index.Reader
	if !o.noIndex {
		db, err := openIndex(ctx, o.data)
		if err != nil {
			return err
		}
		defer db.Close()
		idx = db
	}

	var origins []string
	for _, s := range strings.Split(o.corsOrigins, ",") {
		if s = strings.TrimSpace(s); s != "" {
			origins = append(origins, s)
		}
	}
	u, addr, err := roles.API(api.Config{
		Temporal:        tc,
		Namespace:       temporalNamespace(),
		Tokens:          tokens,
		Index:           idx,
		Log:             log,
		Registerer:      prometheus.DefaultRegisterer,
		Gatherer:        prometheus.DefaultGatherer,
		UpstreamTimeout: o.timeout,
		RateLimit:       o.rateLimit,
		CORSOrigins:     origins,
		MaxCooldown:     o.maxCooldown,
		LimitsConfig:    lim,
	}, roleKafka("riskgate-api", prometheus.DefaultRegisterer, log), o.addr)
	if err != nil {
		return err
	}
	log.Info("api listening", "addr", addr.String())
	return u.Run(ctx)
}
