package kafka

// Broker security: TLS, SASL/SCRAM and Amazon MSK IAM. The settings are
// resolved once (CA files read, AWS configuration loaded) by NewSecurity, so
// that building a client afterwards cannot fail on them and every role gets
// the same settings through Config.Opts.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASLMechanism names how a client authenticates to the brokers.
type SASLMechanism string

// Supported SASL mechanisms.
const (
	// SASLNone sends no SASL authentication.
	SASLNone SASLMechanism = ""
	// SASLScram256 is SCRAM-SHA-256 with a user name and password.
	SASLScram256 SASLMechanism = "scram-sha-256"
	// SASLScram512 is SCRAM-SHA-512 with a user name and password (what MSK
	// uses for SCRAM).
	SASLScram512 SASLMechanism = "scram-sha-512"
	// SASLAWSMSKIAM is Amazon MSK IAM access control (AWS_MSK_IAM): every
	// connection is authenticated by a SigV4-signed payload built from the
	// process's AWS credentials.
	SASLAWSMSKIAM SASLMechanism = "aws-msk-iam"
)

// ParseSASLMechanism parses a mechanism name; "" and "none" are SASLNone.
func ParseSASLMechanism(s string) (SASLMechanism, error) {
	switch m := SASLMechanism(strings.ToLower(strings.TrimSpace(s))); m {
	case SASLNone, "none":
		return SASLNone, nil
	case SASLScram256, SASLScram512, SASLAWSMSKIAM:
		return m, nil
	default:
		return "", fmt.Errorf("unknown Kafka SASL mechanism %q (want none, scram-sha-256, scram-sha-512 or aws-msk-iam)", s)
	}
}

// DefaultExpiryWindow is how long before their expiry the AWS credentials
// used for MSK IAM are refreshed. MSK checks the credentials only when a
// connection authenticates, so a window of minutes keeps a new connection
// from ever presenting credentials that expire while it signs.
const DefaultExpiryWindow = 5 * time.Minute

// SecurityConfig is the broker security of every client. The zero value is
// plaintext without authentication, as the embedded dev Kafka expects.
type SecurityConfig struct {
	// TLS encrypts connections to the brokers. Forced on by SASLAWSMSKIAM,
	// since MSK serves IAM only on its TLS listener.
	TLS bool
	// TLSCAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates. Default: the system roots (right for MSK).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a PEM client certificate and key for
	// mutual TLS. Both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// TLSServerName overrides the name checked in the brokers' certificates.
	// Default: the host of each broker address.
	TLSServerName string

	// SASL is the authentication mechanism. Default none.
	SASL SASLMechanism
	// User and Password authenticate SCRAM.
	User     string
	Password string

	// AWSRegion is the region for the AWS configuration. The MSK IAM
	// signature itself takes the region from the broker's host name
	// (b-1.<cluster>.kafka.<region>.amazonaws.com), falling back to
	// AWS_REGION, so this matters for brokers reached by another name.
	AWSRegion string
	// ExpiryWindow is how long before expiry cached AWS credentials are
	// refreshed. Default DefaultExpiryWindow.
	ExpiryWindow time.Duration
	// AWSCredentials overrides the default credential chain of
	// aws-sdk-go-v2 (environment, shared config and SSO, web identity for
	// EKS, ECS container credentials, EC2 instance role). It is still
	// wrapped in a credentials cache.
	AWSCredentials aws.CredentialsProvider
	// UserAgent is sent in the MSK IAM payload, which IAM policies can match
	// with aws:UserAgent. Default franz-go's.
	UserAgent string
}

// Security is resolved broker security, ready to add to every client.
type Security struct {
	cfg   SecurityConfig
	tls   *tls.Config
	mech  sasl.Mechanism
	creds *aws.CredentialsCache
}

// NewSecurity validates cfg and resolves it: it reads the TLS files and,
// for MSK IAM, loads the AWS configuration (credentials themselves are
// fetched lazily, when a connection first authenticates).
func NewSecurity(ctx context.Context, cfg SecurityConfig) (*Security, error) {
	s := &Security{cfg: cfg}
	if cfg.SASL == SASLAWSMSKIAM {
		cfg.TLS = true
		s.cfg.TLS = true
	}
	if !cfg.TLS && (cfg.TLSCAFile != "" || cfg.TLSCertFile != "" || cfg.TLSServerName != "") {
		return nil, errors.New("kafka TLS settings given but TLS is off (enable it with --kafka-tls)")
	}
	if cfg.TLS {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		s.tls = tc
	}
	switch cfg.SASL {
	case SASLNone:
		if cfg.User != "" {
			return nil, errors.New("kafka user given without a SASL mechanism")
		}
	case SASLScram256, SASLScram512:
		if cfg.User == "" || cfg.Password == "" {
			return nil, fmt.Errorf("kafka SASL %s needs a user and a password", cfg.SASL)
		}
		a := scram.Auth{User: cfg.User, Pass: cfg.Password}
		if cfg.SASL == SASLScram256 {
			s.mech = a.AsSha256Mechanism()
		} else {
			s.mech = a.AsSha512Mechanism()
		}
	case SASLAWSMSKIAM:
		if cfg.User != "" || cfg.Password != "" {
			return nil, errors.New("kafka SASL aws-msk-iam takes AWS credentials, not a user and password")
		}
		cache, err := awsCredentials(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s.creds = cache
		ua := cfg.UserAgent
		s.mech = saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
			c, err := cache.Retrieve(ctx)
			if err != nil {
				return saslaws.Auth{}, fmt.Errorf("retrieve AWS credentials for MSK IAM: %w", err)
			}
			return saslaws.Auth{
				AccessKey:    c.AccessKeyID,
				SecretKey:    c.SecretAccessKey,
				SessionToken: c.SessionToken,
				UserAgent:    ua,
			}, nil
		})
	default:
		return nil, fmt.Errorf("unknown Kafka SASL mechanism %q", cfg.SASL)
	}
	return s, nil
}

// awsCredentials loads the default AWS configuration with a credentials
// cache that refreshes ExpiryWindow before expiry. LoadDefaultConfig wraps
// the chain's provider in an aws.CredentialsCache built with these options;
// an explicit provider is wrapped the same way.
func awsCredentials(ctx context.Context, cfg SecurityConfig) (*aws.CredentialsCache, error) {
	window := cfg.ExpiryWindow
	if window <= 0 {
		window = DefaultExpiryWindow
	}
	cacheOpts := func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = window
		// Spread refreshes of many processes sharing one role.
		o.ExpiryWindowJitterFrac = 0.2
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithCredentialsCacheOptions(cacheOpts)}
	if cfg.AWSRegion != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.AWSRegion))
	}
	if cfg.AWSCredentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(cfg.AWSCredentials))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for MSK IAM: %w", err)
	}
	if ac.Credentials == nil {
		return nil, errors.New("load AWS configuration for MSK IAM: no credential provider")
	}
	if c, ok := ac.Credentials.(*aws.CredentialsCache); ok {
		return c, nil
	}
	return aws.NewCredentialsCache(ac.Credentials, cacheOpts), nil
}

func tlsConfig(cfg SecurityConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("read Kafka TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka TLS CA file %s holds no PEM certificate", cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("kafka TLS client certificate and key go together: give both or neither")
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load Kafka TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Opts returns the client options of the security settings. A nil Security
// adds none.
func (s *Security) Opts() []kgo.Opt {
	if s == nil {
		return nil
	}
	var opts []kgo.Opt
	if s.tls != nil {
		// kgo sets ServerName from each broker's host when it is empty, on
		// a clone, so one config serves every broker.
		opts = append(opts, kgo.DialTLSConfig(s.tls.Clone()))
	}
	if s.mech != nil {
		opts = append(opts, kgo.SASL(s.mech))
	}
	return opts
}

// Mechanism is the SASL mechanism in use, nil for none.
func (s *Security) Mechanism() sasl.Mechanism {
	if s == nil {
		return nil
	}
	return s.mech
}

// TLS reports whether connections use TLS.
func (s *Security) TLS() bool { return s != nil && s.tls != nil }

// String describes the settings without secrets, for logs.
func (s *Security) String() string {
	if s == nil {
		return "plaintext"
	}
	var parts []string
	if s.tls != nil {
		parts = append(parts, "tls")
	} else {
		parts = append(parts, "plaintext")
	}
	switch s.cfg.SASL {
	case SASLNone:
	case SASLAWSMSKIAM:
		parts = append(parts, "sasl="+string(s.cfg.SASL))
	default:
		parts = append(parts, "sasl="+string(s.cfg.SASL), "user="+s.cfg.User)
	}
	return strings.Join(parts, " ")
}
