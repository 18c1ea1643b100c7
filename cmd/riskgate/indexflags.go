// Audit index backend selection: the embedded SQLite file (default) or
// DynamoDB. `riskgate api` and `riskgate indexer` open their index through
// openIndex, so both follow the same flags.

package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/index/dynamo"
)

// Index backends.
const (
	indexSQLite   = "sqlite"
	indexDynamoDB = "dynamodb"
)

// indexFlags choose and configure the audit index backend.
type indexFlags struct {
	backend          string
	dynamoEndpoint   string
	dynamoPrefix     string
	auditTTL         time.Duration
	dynamoWriteConns int
}

var ixf indexFlags

// indexCommands are the commands that open the audit index or its tables;
// only they take the index flags.
var indexCommands = []string{"api", "indexer", "report", "tables"}

// addIndexFlags gives the index flags to indexCommands. It runs from main,
// once every command has registered itself.
func addIndexFlags() {
	for _, c := range root.Commands() {
		if !slices.Contains(indexCommands, c.Name()) {
			continue
		}
		pf := c.PersistentFlags()
		pf.StringVar(&ixf.backend, "index", envOr("RISKGATE_INDEX", indexSQLite), "audit index backend: sqlite (a file under --data) or dynamodb (env RISKGATE_INDEX)")
		pf.StringVar(&ixf.dynamoEndpoint, "dynamodb-endpoint", os.Getenv("RISKGATE_DYNAMODB_ENDPOINT"), "DynamoDB endpoint URL overriding the AWS SDK's (AWS_ENDPOINT_URL_DYNAMODB, as for DynamoDB Local; else the region's AWS endpoint) (env RISKGATE_DYNAMODB_ENDPOINT)")
		pf.StringVar(&ixf.dynamoPrefix, "dynamodb-table-prefix", os.Getenv("RISKGATE_DYNAMODB_TABLE_PREFIX"), "prefix of the DynamoDB table names, e.g. prod- (env RISKGATE_DYNAMODB_TABLE_PREFIX)")
		pf.DurationVar(&ixf.auditTTL, "audit-ttl", dynamo.DefaultTTL, "DynamoDB index: how long audit records and risk signals are kept (TTL)")
		pf.IntVar(&ixf.dynamoWriteConns, "dynamodb-write-concurrency", 8, "DynamoDB index: BatchWriteItem requests in flight per batch")
	}
}

// awsConfig loads the AWS configuration (default credential chain) with the
// region of --aws-region, if given.
func awsConfig(ctx context.Context) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if ksf.awsRegion != "" {
		opts = append(opts, awsconfig.WithRegion(ksf.awsRegion))
	}
	opts = append(opts, awsconfig.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = ksf.expiryWindow
	}))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// dynamoClient is the DynamoDB client of the flags.
func dynamoClient(ctx context.Context) (*dynamodb.Client, error) {
	cfg, err := awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	// Without the flag the SDK reads AWS_ENDPOINT_URL_DYNAMODB (and
	// AWS_ENDPOINT_URL) itself, as every AWS tool does.
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ixf.dynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(ixf.dynamoEndpoint)
		}
	}), nil
}

// openIndex opens the audit index chosen by --index: the SQLite file under
// dataDir, or the DynamoDB tables (created beforehand by `riskgate tables
// create`).
func openIndex(ctx context.Context, dataDir string) (index.Index, error) {
	switch ixf.backend {
	case indexSQLite, "":
		return index.OpenDir(dataDir)
	case indexDynamoDB:
		c, err := dynamoClient(ctx)
		if err != nil {
			return nil, err
		}
		s, err := dynamo.New(dynamo.Config{
			Client:      c,
			Tables:      dynamo.TableNames(ixf.dynamoPrefix),
			TTL:         ixf.auditTTL,
			Concurrency: ixf.dynamoWriteConns,
		})
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.Ping(pctx); err != nil {
			return nil, fmt.Errorf("open DynamoDB audit index (run riskgate tables create first): %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("--index %q: want sqlite or dynamodb", ixf.backend)
	}
}
