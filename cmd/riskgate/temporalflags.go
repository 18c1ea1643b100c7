package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/interceptor"

	"github.com/riskgate/riskgate/roles"
)

// Temporal connection settings are read the way Temporal's own tools read
// them (go.temporal.io/sdk/contrib/envconfig): the profile of the Temporal
// CLI's config file (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), then the
// TEMPORAL_* environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH,
// TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
// TEMPORAL_TLS_SERVER_NAME, ...), then riskgate's own flags and their
// RISKGATE_* variables, which win. An API key is never a flag: a flag's
// value shows in the process list.

// temporalTLS are the flags that override the profile's TLS settings.
type temporalTLS struct {
	cert, key, ca, serverName string
}

var gtls temporalTLS

const defaultTemporal = "127.0.0.1:7233"

func init() {
	pf := root.PersistentFlags()
	pf.StringVar(&gtls.cert, "temporal-tls-cert", os.Getenv("RISKGATE_TEMPORAL_TLS_CERT"), "client certificate (PEM) for mTLS to Temporal (env RISKGATE_TEMPORAL_TLS_CERT, or TEMPORAL_TLS_CLIENT_CERT_PATH)")
	pf.StringVar(&gtls.key, "temporal-tls-key", os.Getenv("RISKGATE_TEMPORAL_TLS_KEY"), "client key (PEM) for mTLS to Temporal (env RISKGATE_TEMPORAL_TLS_KEY, or TEMPORAL_TLS_CLIENT_KEY_PATH)")
	pf.StringVar(&gtls.ca, "temporal-tls-ca", os.Getenv("RISKGATE_TEMPORAL_TLS_CA"), "CA bundle (PEM) that signs Temporal's server certificate (env RISKGATE_TEMPORAL_TLS_CA, or TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	pf.StringVar(&gtls.serverName, "temporal-tls-server-name", os.Getenv("RISKGATE_TEMPORAL_TLS_SERVER_NAME"), "server name Temporal's certificate must carry (env RISKGATE_TEMPORAL_TLS_SERVER_NAME, or TEMPORAL_TLS_SERVER_NAME)")
}

// temporalProfile resolves the connection: CLI profile and TEMPORAL_* env,
// then riskgate's flags and env on top.
func temporalProfile() (envconfig.ClientConfigProfile, error) {
	p, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{})
	if err != nil {
		return p, fmt.Errorf("temporal client profile: %w", err)
	}
	if g.temporal != "" {
		p.Address = g.temporal
	}
	if p.Address == "" {
		p.Address = defaultTemporal
	}
	if g.namespace != "" {
		p.Namespace = g.namespace
	}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if gtls != (temporalTLS{}) {
		if p.TLS == nil {
			p.TLS = &envconfig.ClientConfigTLS{}
		}
		if (gtls.cert == "") != (gtls.key == "") && p.TLS.ClientCertPath == "" && len(p.TLS.ClientCertData) == 0 {
			return p, errors.New("--temporal-tls-cert and --temporal-tls-key go together")
		}
		set := func(dst *string, data *[]byte, v string) {
			if v != "" {
				*dst, *data = v, nil
			}
		}
		set(&p.TLS.ClientCertPath, &p.TLS.ClientCertData, gtls.cert)
		set(&p.TLS.ClientKeyPath, &p.TLS.ClientKeyData, gtls.key)
		set(&p.TLS.ServerCACertPath, &p.TLS.ServerCACertData, gtls.ca)
		if gtls.serverName != "" {
			p.TLS.ServerName = gtls.serverName
		}
		p.TLS.Disabled = false
	}
	return p, nil
}

// temporalOptions are the client options of every Temporal client riskgate
// makes outside the dev stack.
func temporalOptions(log *slog.Logger) (client.Options, error) {
	p, err := temporalProfile()
	if err != nil {
		return client.Options{}, err
	}
	opts, err := p.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client options for %s: %w", p.Address, err)
	}
	opts.Logger = newTemporalLogger(log)
	return opts, nil
}

// temporalNamespace is the namespace the clients use.
func temporalNamespace() string {
	if p, err := temporalProfile(); err == nil {
		return p.Namespace
	}
	if g.namespace != "" {
		return g.namespace
	}
	return "default"
}

// temporalClient dials Temporal. The SDK's own metrics go into reg (the
// role's registry). closeClient closes the client and then stops the
// metrics; the client itself stays the SDK's (a worker needs that).
func temporalClient(log *slog.Logger, reg prometheus.Registerer) (c client.Client, closeClient func(), err error) {
	return newTemporalClient(log, reg, client.Dial, "connect to Temporal at %s: %w")
}

// temporalLazyClient is a client that connects on first use, so a role can
// start and serve while Temporal is down; otherwise as temporalClient.
func temporalLazyClient(log *slog.Logger, reg prometheus.Registerer, interceptors ...interceptor.ClientInterceptor) (client.Client, func(), error) {
	return newTemporalClient(log, reg, client.NewLazyClient, "temporal client for %s: %w", interceptors...)
}

func newTemporalClient(log *slog.Logger, reg prometheus.Registerer, dial func(client.Options) (client.Client, error),
	errFormat string, interceptors ...interceptor.ClientInterceptor) (client.Client, func(), error) {
	opts, err := temporalOptions(log)
	if err != nil {
		return nil, nil, err
	}
	opts.Interceptors = append(opts.Interceptors, interceptors...)
	var stop io.Closer = io.NopCloser(nil)
	if reg != nil {
		opts.MetricsHandler, stop = roles.TemporalMetrics(reg, log)
	}
	c, err := dial(opts)
	if err != nil {
		stop.Close()
		return nil, nil, fmt.Errorf(errFormat, opts.HostPort, err)
	}
	return c, func() {
		c.Close()
		stop.Close()
	}, nil
}
