// Package dynamo is the DynamoDB backend of the audit index (index.Index),
// for deployments on AWS where the embedded SQLite file cannot be shared by
// several API processes.
//
// # Tables
//
// Every table name takes an optional prefix (Tables / TableNames). Sort keys
// that order records in time are strings, "ts_key" =
// <ts, 16 digits>#<partition, 5 digits>#<offset, 19 digits>, so that they
// sort by time and two records of one millisecond stay distinct; the
// partition and offset are the record's position in its topic. An audit
// record's ts_key holds the orders.v1 position it names before that:
// <ts>#<orders.v1 partition>#<orders.v1 offset>#<partition>#<offset>, so
// that the records of one millisecond sort as the router decided them.
// (Audit items written before that have the shorter key; a search reads
// both, and may order the records of the millisecond of the upgrade
// differently.)
//
//	audit-index     PK order_id, SK ts_key. One item per audit.v1 record.
//	                GSI by-account (account_id, ts_key): account searches.
//	                GSI by-corr    (corr_id, ts_key), sparse: the drops of one kill.
//	                GSI by-time    (bucket, ts_key): time-ordered searches,
//	                               bucket = <UTC day>#<audit.v1 partition>,
//	                               so writes spread over the topic's partitions.
//	                TTL attribute expires_at (default 30 days after ts).
//	command-log     PK scope, SK ts_key; GSIs by-corr and by-time.
//	                Commands are the regulatory trail: no TTL.
//	limits-log      PK scope, SK ts_key; GSI by-time. Changes of limits
//	                (risk.limits.commands.v1), kept like commands: no TTL.
//	risk-signals    PK scope, SK ts_key; GSI by-time; TTL expires_at.
//	state-history   PK scope, SK v_key = <version>#<partition>#<offset>:
//	                every published state, newest version first.
//	state-cache     PK scope: the newest state of each scope (written only
//	                when its version is newer than the stored one).
//	index-positions PK topic, SK part: the indexer's next offset per
//	                partition. Items whose topic starts with "#" are not
//	                positions: "#buckets#<kind>" holds the set of by-time
//	                buckets written so far, which time-ordered reads walk.
//
// # Exactly once
//
// Apply does not use TransactWriteItems (100 items and 4 MB per transaction,
// at twice the write cost, would split a batch anyway). Instead every write
// is idempotent by key: an item's key is derived from its record's topic
// position, so writing a record again replaces it with an identical item,
// and nothing is counted by increments (Rates counts items). Apply writes
// the records first and advances the positions only after all of them are
// stored. A crash in between leaves positions behind the records; the
// indexer then replays from the old positions and rewrites the same items:
// nothing is lost and nothing is counted twice. Readers may see the records
// of a batch whose positions are not yet advanced, which is harmless: they
// are committed Kafka records.
//
// That holds while a record's key stays what it was. A release that
// changes a key (the audit key's orders.v1 position did) stores a batch
// replayed after a crash of the release before it again, beside its items
// of the old key: a stopped indexer finishes its batch first
// (index.StopGrace), so only a crash (SIGKILL, a lost node) just before an
// upgrade leaves such duplicates, of one batch at most.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/riskgate/riskgate/index"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// implements it.
type API interface {
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(context.Context, *dynamodb.DescribeTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Tables names the tables of one index.
type Tables struct {
	Audit        string
	Commands     string
	Limits       string
	Signals      string
	StateHistory string
	StateCache   string
	Positions    string
}

// TableNames returns the default table names, each behind prefix (for
// example "prod-" or "" for none).
func TableNames(prefix string) Tables {
	return Tables{
		Audit:        prefix + "audit-index",
		Commands:     prefix + "command-log",
		Limits:       prefix + "limits-log",
		Signals:      prefix + "risk-signals",
		StateHistory: prefix + "state-history",
		StateCache:   prefix + "state-cache",
		Positions:    prefix + "index-positions",
	}
}

// DefaultTTL is how long audit records and risk signals are kept.
const DefaultTTL = 30 * 24 * time.Hour

// Config configures a Store.
type Config struct {
	// Client is the DynamoDB client. Required.
	Client API
	// Tables are the table names. Default TableNames("").
	Tables Tables
	// TTL is how long after its ts an audit record or risk signal expires
	// (DynamoDB deletes expired items within days, so readers may still
	// see them for a while). Default DefaultTTL; negative keeps them.
	TTL time.Duration
	// Concurrency is how many BatchWriteItem requests run at once. Default 8.
	Concurrency int
	// MaxAttempts bounds the BatchWriteItem requests sent for one chunk of
	// items while DynamoDB leaves some unprocessed. Default 12.
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the exponential backoff (with
	// jitter, see package retry) between those attempts. Defaults 50 ms
	// and 5 s.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Store is the DynamoDB audit index.
type Store struct {
	cfg Config
	t   Tables
}

var _ index.Index = (*Store)(nil)

// New returns a store on existing tables (see CreateTables). It makes no
// request; Ping checks the tables answer.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("dynamo index: Client is required")
	}
	if cfg.Tables == (Tables{}) {
		cfg.Tables = TableNames("")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{cfg: cfg, t: cfg.Tables}, nil
}

// Close implements index.Index; the client holds no resources to release.
func (s *Store) Close() error { return nil }

// Ping implements index.Reader: the positions table answers.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.cfg.Client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.t.Positions)}); err != nil {
		return fmt.Errorf("ping dynamodb index table %s: %w", s.t.Positions, err)
	}
	return nil
}

// Attribute and index names.
const (
	attrOrderID   = "order_id"
	attrTSKey     = "ts_key"
	attrTS        = "ts"
	attrDecision  = "decision"
	attrAccount   = "account_id"
	attrSymbol    = "symbol"
	attrStrategy  = "strategy"
	attrCorrID    = "corr_id"
	attrBucket    = "bucket"
	attrRecord    = "record"
	attrExpiresAt = "expires_at"
	attrScope     = "scope"
	attrVKey      = "v_key"
	attrVersion   = "version"
	attrBreaching = "breaching"
	attrTopic     = "topic"
	attrPart      = "part"
	attrNext      = "next"
	attrBuckets   = "buckets"

	indexByAccount = "by-account"
	indexByCorr    = "by-corr"
	indexByTime    = "by-time"
)

// TableSpec is one table's definition, as CreateTables creates it.
type TableSpec struct {
	Input *dynamodb.CreateTableInput
	// TTLAttribute is the table's TTL attribute, empty for none.
	TTLAttribute string
}

func keyAttr(name string, t types.ScalarAttributeType) types.AttributeDefinition {
	return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: t}
}

func keySchema(pk, sk string) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}}
	if sk != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange})
	}
	return ks
}

func gsi(name, pk, sk string) types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{
		IndexName:  aws.String(name),
		KeySchema:  keySchema(pk, sk),
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
	}
}

// Specs returns the definitions of the tables of t, all on-demand capacity.
func Specs(t Tables) []TableSpec {
	table := func(name, pk, sk string, attrs []types.AttributeDefinition, gsis ...types.GlobalSecondaryIndex) *dynamodb.CreateTableInput {
		in := &dynamodb.CreateTableInput{
			TableName:            aws.String(name),
			AttributeDefinitions: attrs,
			KeySchema:            keySchema(pk, sk),
			BillingMode:          types.BillingModePayPerRequest,
		}
		if len(gsis) > 0 {
			in.GlobalSecondaryIndexes = gsis
		}
		return in
	}
	S, N := types.ScalarAttributeTypeS, types.ScalarAttributeTypeN
	return []TableSpec{
		{Input: table(t.Audit, attrOrderID, attrTSKey,
			[]types.AttributeDefinition{keyAttr(attrOrderID, S), keyAttr(attrTSKey, S), keyAttr(attrAccount, S), keyAttr(attrCorrID, S), keyAttr(attrBucket, S)},
			gsi(indexByAccount, attrAccount, attrTSKey), gsi(indexByCorr, attrCorrID, attrTSKey), gsi(indexByTime, attrBucket, attrTSKey)),
			TTLAttribute: attrExpiresAt},
		{Input: table(t.Commands, attrScope, attrTSKey,
			[]types.AttributeDefinition{keyAttr(attrScope, S), keyAttr(attrTSKey, S), keyAttr(attrCorrID, S), keyAttr(attrBucket, S)},
			gsi(indexByCorr, attrCorrID, attrTSKey), gsi(indexByTime, attrBucket, attrTSKey))},
		{Input: table(t.Limits, attrScope, attrTSKey,
			[]types.AttributeDefinition{keyAttr(attrScope, S), keyAttr(attrTSKey, S), keyAttr(attrBucket, S)},
			gsi(indexByTime, attrBucket, attrTSKey))},
		{Input: table(t.Signals, attrScope, attrTSKey,
			[]types.AttributeDefinition{keyAttr(attrScope, S), keyAttr(attrTSKey, S), keyAttr(attrBucket, S)},
			gsi(indexByTime, attrBucket, attrTSKey)),
			TTLAttribute: attrExpiresAt},
		{Input: table(t.StateHistory, attrScope, attrVKey,
			[]types.AttributeDefinition{keyAttr(attrScope, S), keyAttr(attrVKey, S)})},
		{Input: table(t.StateCache, attrScope, "",
			[]types.AttributeDefinition{keyAttr(attrScope, S)})},
		{Input: table(t.Positions, attrTopic, attrPart,
			[]types.AttributeDefinition{keyAttr(attrTopic, S), keyAttr(attrPart, N)})},
	}
}

// TableResult says what CreateTables did with one table.
type TableResult struct {
	Name    string
	Created bool // false: it existed already
	// TTL describes the table's TTL setting: "", "enabled", "already
	// enabled", or why it could not be enabled.
	TTL string
}

// CreateTables creates every missing table of t, waits until each is
// active, and enables TTL where the table has one. Existing tables are left
// as they are (an existing table missing one of the indexes is an error), so
// it is safe to run on every deploy.
func CreateTables(ctx context.Context, c API, t Tables) ([]TableResult, error) {
	var (
		out  []TableResult
		errs []error
	)
	for _, spec := range Specs(t) {
		name := aws.ToString(spec.Input.TableName)
		res := TableResult{Name: name}
		_, err := c.CreateTable(ctx, spec.Input)
		var inUse *types.ResourceInUseException
		switch {
		case err == nil:
			res.Created = true
		case errors.As(err, &inUse):
		default:
			errs = append(errs, fmt.Errorf("create table %s: %w", name, err))
			continue
		}
		desc, err := waitActive(ctx, c, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkIndexes(desc, spec.Input); err != nil {
			errs = append(errs, err)
			continue
		}
		if spec.TTLAttribute != "" {
			res.TTL, err = enableTTL(ctx, c, name, spec.TTLAttribute)
			if err != nil {
				errs = append(errs, err)
			}
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// waitActive polls a table until it is ACTIVE (new tables take seconds).
func waitActive(ctx context.Context, c API, name string) (*types.TableDescription, error) {
	delay := 100 * time.Millisecond
	for {
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("describe table %s: %w", name, err)
		}
		if d.Table != nil && d.Table.TableStatus == types.TableStatusActive {
			return d.Table, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for table %s to be active: %w", name, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// checkIndexes reports an existing table that lacks an index of the spec.
func checkIndexes(d *types.TableDescription, want *dynamodb.CreateTableInput) error {
	have := map[string]bool{}
	for _, g := range d.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = true
	}
	for _, g := range want.GlobalSecondaryIndexes {
		if !have[aws.ToString(g.IndexName)] {
			return fmt.Errorf("table %s exists without global secondary index %s: add it or drop the table", aws.ToString(want.TableName), aws.ToString(g.IndexName))
		}
	}
	return nil
}

// enableTTL turns on TTL on attr unless it is on. An endpoint without the
// TTL API (dynalite) is reported, not failed: the data is only kept longer.
func enableTTL(ctx context.Context, c API, table, attr string) (string, error) {
	d, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err == nil && d.TimeToLiveDescription != nil {
		switch d.TimeToLiveDescription.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if aws.ToString(d.TimeToLiveDescription.AttributeName) == attr {
				return "already enabled", nil
			}
		}
	}
	_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
	})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "UnknownOperationException" || ae.ErrorCode() == "UnrecognizedClientException") {
			return "not supported by this endpoint", nil
		}
		return "", fmt.Errorf("enable TTL on %s.%s: %w", table, attr, err)
	}
	return "enabled", nil
}
