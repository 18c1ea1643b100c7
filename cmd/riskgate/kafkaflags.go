// Kafka flags shared by every command: TLS, SASL/SCRAM and MSK IAM, and
// the producers' compression. They are resolved once before a command runs,
// so a bad CA file, an incomplete SASL setting or an unknown codec stops the
// process at start, not at the first connection.

package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/ingest/kafka"
)

// kafkaPasswordEnv holds the SCRAM password. There is deliberately no flag:
// a flag would show in `ps` and in shell history.
const kafkaPasswordEnv = "RISKGATE_KAFKA_PASSWORD"

// kafkaSecurityFlags are the raw security flags.
type kafkaSecurityFlags struct {
	tls          bool
	tlsCA        string
	tlsCert      string
	tlsKey       string
	tlsServer    string
	sasl         string
	user         string
	awsRegion    string
	expiryWindow time.Duration
}

var (
	ksf kafkaSecurityFlags

	kafkaSecOnce sync.Once
	kafkaSec     *kafka.Security
	kafkaSecErr  error

	// kafkaCompressionFlag is the raw --kafka-compression; kafkaComp is
	// what it parsed to before the command ran.
	kafkaCompressionFlag string
	kafkaComp            kafka.Compression
)

func init() {
	pf := root.PersistentFlags()
	pf.BoolVar(&ksf.tls, "kafka-tls", envBool("RISKGATE_KAFKA_TLS"), "connect to Kafka over TLS (env RISKGATE_KAFKA_TLS; implied by --kafka-sasl aws-msk-iam)")
	pf.StringVar(&ksf.tlsCA, "kafka-tls-ca", os.Getenv("RISKGATE_KAFKA_TLS_CA"), "PEM file of the CAs of the brokers' certificates; default the system roots (env RISKGATE_KAFKA_TLS_CA)")
	pf.StringVar(&ksf.tlsCert, "kafka-tls-cert", os.Getenv("RISKGATE_KAFKA_TLS_CERT"), "PEM client certificate for mutual TLS (env RISKGATE_KAFKA_TLS_CERT)")
	pf.StringVar(&ksf.tlsKey, "kafka-tls-key", os.Getenv("RISKGATE_KAFKA_TLS_KEY"), "PEM client key for mutual TLS (env RISKGATE_KAFKA_TLS_KEY)")
	pf.StringVar(&ksf.tlsServer, "kafka-tls-server-name", os.Getenv("RISKGATE_KAFKA_TLS_SERVER_NAME"), "name to verify in the brokers' certificates; default each broker's host (env RISKGATE_KAFKA_TLS_SERVER_NAME)")
	pf.StringVar(&ksf.sasl, "kafka-sasl", envOr("RISKGATE_KAFKA_SASL", "none"), "Kafka SASL mechanism: none, scram-sha-256, scram-sha-512 or aws-msk-iam (env RISKGATE_KAFKA_SASL)")
	pf.StringVar(&ksf.user, "kafka-user", os.Getenv("RISKGATE_KAFKA_USER"), "SCRAM user; the password is read from env "+kafkaPasswordEnv+" only (env RISKGATE_KAFKA_USER)")
	pf.StringVar(&ksf.awsRegion, "aws-region", os.Getenv("AWS_REGION"), "AWS region for MSK IAM, DynamoDB and S3 (env AWS_REGION; default from the AWS configuration)")
	pf.DurationVar(&ksf.expiryWindow, "aws-credentials-expiry-window", kafka.DefaultExpiryWindow, "refresh AWS credentials this long before they expire")
	pf.StringVar(&kafkaCompressionFlag, "kafka-compression", envOr("RISKGATE_KAFKA_COMPRESSION", string(kafka.DefaultCompression)),
		"codec of the record batches riskgate produces: none, gzip, snappy, lz4 or zstd; consumers of snappy, lz4 and zstd may need extra codec libraries (env RISKGATE_KAFKA_COMPRESSION)")

	prev := root.PersistentPreRunE
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if prev != nil {
			if err := prev(cmd, args); err != nil {
				return err
			}
		}
		var err error
		if kafkaComp, err = kafkaCompression(cmd.CommandPath(), kafkaCompressionFlag); err != nil {
			return err
		}
		_, err = kafkaSecurity(cmd.Context())
		return err
	}
}

// kafkaCompression parses --kafka-compression. cmd names the command, for
// the error.
func kafkaCompression(cmd, flag string) (kafka.Compression, error) {
	c, err := kafka.ParseCompression(flag)
	if err != nil {
		return "", fmt.Errorf("%s --kafka-compression: %w", cmd, err)
	}
	return c, nil
}

// securityConfig turns the flags into a kafka.SecurityConfig.
func (f kafkaSecurityFlags) securityConfig() (kafka.SecurityConfig, error) {
	mech, err := kafka.ParseSASLMechanism(f.sasl)
	if err != nil {
		return kafka.SecurityConfig{}, err
	}
	cfg := kafka.SecurityConfig{
		TLS:           f.tls,
		TLSCAFile:     f.tlsCA,
		TLSCertFile:   f.tlsCert,
		TLSKeyFile:    f.tlsKey,
		TLSServerName: f.tlsServer,
		SASL:          mech,
		User:          f.user,
		AWSRegion:     f.awsRegion,
		ExpiryWindow:  f.expiryWindow,
		UserAgent:     "riskgate",
	}
	if mech == kafka.SASLScram256 || mech == kafka.SASLScram512 {
		cfg.Password = os.Getenv(kafkaPasswordEnv)
		if cfg.Password == "" {
			return cfg, fmt.Errorf("--kafka-sasl %s needs the password in env %s", mech, kafkaPasswordEnv)
		}
	}
	return cfg, nil
}

// kafkaSecurity resolves the security flags once per process. Plaintext
// without authentication (the default, and the dev stack's) resolves to nil.
func kafkaSecurity(ctx context.Context) (*kafka.Security, error) {
	kafkaSecOnce.Do(func() {
		cfg, err := ksf.securityConfig()
		if err != nil {
			kafkaSecErr = err
			return
		}
		if !cfg.TLS && cfg.SASL == kafka.SASLNone && cfg.TLSCAFile == "" && cfg.User == "" {
			return
		}
		if cfg.SASL == kafka.SASLAWSMSKIAM && cfg.AWSRegion != "" && os.Getenv("AWS_REGION") == "" {
			// franz-go's MSK IAM mechanism reads the region from the broker
			// host name and falls back to AWS_REGION.
			os.Setenv("AWS_REGION", cfg.AWSRegion)
		}
		if ctx == nil {
			ctx = context.Background()
		}
		kafkaSec, kafkaSecErr = kafka.NewSecurity(ctx, cfg)
		if kafkaSecErr != nil {
			kafkaSecErr = fmt.Errorf("kafka security settings: %w", kafkaSecErr)
		}
	})
	return kafkaSec, kafkaSecErr
}
