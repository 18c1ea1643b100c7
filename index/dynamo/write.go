package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/retry"
)

// Bucket kinds, the suffixes of the "#buckets#<kind>" items.
const (
	kindAudit    = "audit"
	kindCommands = "commands"
	kindSignals  = "signals"
)

// noOrderID stands for an empty order_id, which cannot be a key ("#" is not
// a valid id character, so it never collides with a real one).
const noOrderID = "#none"

// tsKey is the time-ordered, position-unique sort key of a record.
func tsKey(ts int64, p index.Pos) string {
	return fmt.Sprintf("%016d#%05d#%019d", max(ts, 0), p.Partition, p.Offset)
}

// auditKey is an audit record's sort key: tsKey with the orders.v1
// position the record names before its own audit.v1 position, so that the
// records of one millisecond sort as the router decided them (one
// account's orders are all in one orders.v1 partition; audit.v1 is keyed by
// order_id and spreads them over its partitions).
func auditKey(r *domain.AuditRecord, p index.Pos) string {
	return fmt.Sprintf("%016d#%05d#%019d#%05d#%019d", max(r.TS, 0), max(r.Partition, 0), max(r.Offset, 0), p.Partition, p.Offset)
}

// tsBound is the smallest key of any record at ts or later.
func tsBound(ts int64) string { return fmt.Sprintf("%016d", max(ts, 0)) }

func tsOfKey(k string) int64 {
	n, _ := strconv.ParseInt(strings.SplitN(k, "#", 2)[0], 10, 64)
	return n
}

func vKey(version int64, p index.Pos) string {
	return fmt.Sprintf("%019d#%05d#%019d", max(version, 0), p.Partition, p.Offset)
}

const dayLayout = "2006-01-02"

func dayOf(ts int64) string { return time.UnixMilli(max(ts, 0)).UTC().Format(dayLayout) }

func bucket(ts int64, partition int32) string { return dayOf(ts) + "#" + strconv.Itoa(int(partition)) }

func strAttr(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func numAttr(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// putIfSet adds a string attribute only when it is not empty: index key
// attributes cannot be empty, and leaving them out keeps indexes sparse.
func putIfSet(item map[string]types.AttributeValue, name, v string) {
	if v != "" {
		item[name] = strAttr(v)
	}
}

// writeReq is one item to put, with its table.
type writeReq struct {
	table string
	item  map[string]types.AttributeValue
	key   string // table + primary key, to drop duplicates
}

func (s *Store) expiresAt(ts int64) (types.AttributeValue, bool) {
	if s.cfg.TTL < 0 {
		return nil, false
	}
	return numAttr(time.UnixMilli(ts).Add(s.cfg.TTL).Unix()), true
}

func (s *Store) auditItem(e *index.AuditEntry) (writeReq, error) {
	r := &e.Record
	js, err := json.Marshal(r)
	if err != nil {
		return writeReq{}, fmt.Errorf("encode audit record %s: %w", r.OrderID, err)
	}
	oid := r.OrderID
	if oid == "" {
		oid = noOrderID
	}
	k := auditKey(r, e.Pos)
	item := map[string]types.AttributeValue{
		attrOrderID:  strAttr(oid),
		attrTSKey:    strAttr(k),
		attrTS:       numAttr(r.TS),
		attrDecision: strAttr(string(r.Decision)),
		attrBucket:   strAttr(bucket(r.TS, e.Partition)),
		attrRecord:   strAttr(string(js)),
	}
	putIfSet(item, attrAccount, r.AccountID)
	putIfSet(item, attrSymbol, r.Symbol)
	putIfSet(item, attrStrategy, r.Strategy)
	putIfSet(item, attrCorrID, r.CorrID)
	if v, ok := s.expiresAt(r.TS); ok {
		item[attrExpiresAt] = v
	}
	return writeReq{s.t.Audit, item, s.t.Audit + "\x00" + oid + "\x00" + k}, nil
}

func (s *Store) commandItem(e *index.CommandEntry) (writeReq, error) {
	c := &e.Command
	js, err := json.Marshal(c)
	if err != nil {
		return writeReq{}, fmt.Errorf("encode command %s: %w", c.CmdID, err)
	}
	w := byScope(s.t.Commands, c.Scope, c.TS, e.Pos, js)
	putIfSet(w.item, attrCorrID, c.CorrID)
	return w, nil
}

func (s *Store) signalItem(e *index.SignalEntry) (writeReq, error) {
	g := &e.Signal
	js, err := json.Marshal(g)
	if err != nil {
		return writeReq{}, fmt.Errorf("encode signal of %s: %w", g.Scope, err)
	}
	breaching := int64(0)
	if len(g.Breaches) > 0 {
		breaching = 1
	}
	w := byScope(s.t.Signals, g.Scope, g.TS, e.Pos, js)
	w.item[attrBreaching] = numAttr(breaching)
	if v, ok := s.expiresAt(g.TS); ok {
		w.item[attrExpiresAt] = v
	}
	return w, nil
}

// byScope is the item of a record kept by scope and time (a command, a
// change of limits, a signal): its JSON under its scope, time key and day
// bucket, in table.
func byScope(table string, scope domain.Scope, ts int64, p index.Pos, js []byte) writeReq {
	k := tsKey(ts, p)
	item := map[string]types.AttributeValue{
		attrScope:  strAttr(scopeKey(scope)),
		attrTSKey:  strAttr(k),
		attrTS:     numAttr(ts),
		attrBucket: strAttr(bucket(ts, p.Partition)),
		attrRecord: strAttr(string(js)),
	}
	return writeReq{table, item, table + "\x00" + string(scope) + "\x00" + k}
}

func (s *Store) stateItem(e *index.StateEntry) (writeReq, []byte, error) {
	v := &e.State
	js, err := json.Marshal(v)
	if err != nil {
		return writeReq{}, nil, fmt.Errorf("encode state of %s: %w", v.Scope, err)
	}
	k := vKey(v.Version, e.Pos)
	item := map[string]types.AttributeValue{
		attrScope:   strAttr(scopeKey(v.Scope)),
		attrVKey:    strAttr(k),
		attrVersion: numAttr(v.Version),
		attrTS:      numAttr(v.UpdatedTS),
		attrRecord:  strAttr(string(js)),
	}
	return writeReq{s.t.StateHistory, item, s.t.StateHistory + "\x00" + string(v.Scope) + "\x00" + k}, js, nil
}

// scopeKey maps the empty scope (never valid, but a decodable command may
// carry it) to a non-empty key.
func scopeKey(sc domain.Scope) string {
	if sc == "" {
		return "#none"
	}
	return string(sc)
}

// Apply implements index.Writer. See the package documentation for why it
// is exactly-once without a transaction: buckets, then records (idempotent
// by key), then the state cache (conditional on version), then positions.
func (s *Store) Apply(ctx context.Context, b *index.Batch) error {
	var (
		reqs    []writeReq
		buckets = map[string]map[string]bool{}
		latest  = map[domain.Scope]*index.StateEntry{}
		seen    = map[string]bool{}
	)
	add := func(w writeReq, kind string, ts int64, p int32) {
		if seen[w.key] {
			return
		}
		seen[w.key] = true
		reqs = append(reqs, w)
		if kind != "" {
			if buckets[kind] == nil {
				buckets[kind] = map[string]bool{}
			}
			buckets[kind][bucket(ts, p)] = true
		}
	}
	for i := range b.Audit {
		w, err := s.auditItem(&b.Audit[i])
		if err != nil {
			return err
		}
		add(w, kindAudit, b.Audit[i].Record.TS, b.Audit[i].Partition)
	}
	for i := range b.Commands {
		w, err := s.commandItem(&b.Commands[i])
		if err != nil {
			return err
		}
		add(w, kindCommands, b.Commands[i].Command.TS, b.Commands[i].Partition)
	}
	for i := range b.Limits {
		w, err := s.limitsItem(&b.Limits[i])
		if err != nil {
			return err
		}
		add(w, kindLimits, b.Limits[i].Command.TS, b.Limits[i].Partition)
	}
	for i := range b.Signals {
		w, err := s.signalItem(&b.Signals[i])
		if err != nil {
			return err
		}
		add(w, kindSignals, b.Signals[i].Signal.TS, b.Signals[i].Partition)
	}
	for i := range b.States {
		e := &b.States[i]
		w, _, err := s.stateItem(e)
		if err != nil {
			return err
		}
		add(w, "", 0, 0)
		if cur := latest[e.State.Scope]; cur == nil || e.State.Version > cur.State.Version {
			latest[e.State.Scope] = e
		}
	}

	// Buckets first: a record in a bucket readers do not know of would be
	// invisible to time-ordered searches.
	for kind, set := range buckets {
		if err := s.addBuckets(ctx, kind, set); err != nil {
			return err
		}
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return err
	}
	if err := s.cacheStates(ctx, latest); err != nil {
		return err
	}
	return s.advance(ctx, b.Next)
}

// addBuckets adds bucket names to the kind's set (ADD on a string set is
// idempotent).
func (s *Store) addBuckets(ctx context.Context, kind string, set map[string]bool) error {
	vals := make([]string, 0, len(set))
	for v := range set {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	_, err := s.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.t.Positions),
		Key: map[string]types.AttributeValue{
			attrTopic: strAttr("#buckets#" + kind),
			attrPart:  numAttr(0),
		},
		UpdateExpression:          aws.String("ADD #b :b"),
		ExpressionAttributeNames:  map[string]string{"#b": attrBuckets},
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": &types.AttributeValueMemberSS{Value: vals}},
	})
	if err != nil {
		return fmt.Errorf("record %s time buckets %v: %w", kind, vals, err)
	}
	return nil
}

// batchWrite puts items with BatchWriteItem, 25 per request, Concurrency
// requests at a time.
func (s *Store) batchWrite(ctx context.Context, reqs []writeReq) error {
	const per = 25
	if len(reqs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, s.cfg.Concurrency)
	)
	for start := 0; start < len(reqs); start += per {
		chunk := reqs[start:min(start+per, len(reqs))]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.writeChunk(ctx, chunk); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		return fmt.Errorf("write index items: %w", ctx.Err())
	}
	return errors.Join(errs...)
}

// writeChunk sends one BatchWriteItem and resends what DynamoDB leaves
// unprocessed (throttling, partition limits), backing off exponentially with
// jitter (riskgate's retry policy, between BaseBackoff and MaxBackoff), up
// to MaxAttempts requests. Each chunk starts its waits over.
func (s *Store) writeChunk(ctx context.Context, chunk []writeReq) error {
	pending := map[string][]types.WriteRequest{}
	for _, w := range chunk {
		pending[w.table] = append(pending[w.table], types.WriteRequest{PutRequest: &types.PutRequest{Item: w.item}})
	}
	b := retry.Policy{Initial: s.cfg.BaseBackoff, Max: s.cfg.MaxBackoff}.New()
	for attempt := 1; ; attempt++ {
		out, err := s.cfg.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("write %d index items: %w", countWrites(pending), err)
		}
		if countWrites(out.UnprocessedItems) == 0 {
			return nil
		}
		pending = out.UnprocessedItems
		if attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("write index items: %d still unprocessed after %d attempts", countWrites(pending), attempt)
		}
		if err := retry.Wait(ctx, b.Next()); err != nil {
			return fmt.Errorf("write index items: %d unprocessed: %w", countWrites(pending), err)
		}
	}
}

func countWrites(m map[string][]types.WriteRequest) int {
	n := 0
	for _, w := range m {
		n += len(w)
	}
	return n
}

// cacheStates writes each scope's newest state to the state cache unless
// the cache already holds that version or a newer one.
func (s *Store) cacheStates(ctx context.Context, latest map[domain.Scope]*index.StateEntry) error {
	for sc, e := range latest {
		js, err := json.Marshal(&e.State)
		if err != nil {
			return fmt.Errorf("encode state of %s: %w", sc, err)
		}
		_, err = s.cfg.Client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.t.StateCache),
			Item: map[string]types.AttributeValue{
				attrScope:   strAttr(scopeKey(sc)),
				attrVersion: numAttr(e.State.Version),
				attrTS:      numAttr(e.State.UpdatedTS),
				attrRecord:  strAttr(string(js)),
			},
			ConditionExpression:       aws.String("attribute_not_exists(#v) OR #v < :v"),
			ExpressionAttributeNames:  map[string]string{"#v": attrVersion},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": numAttr(e.State.Version)},
		})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("cache state of %s v%d: %w", sc, e.State.Version, err)
		}
	}
	return nil
}

// advance moves positions forward (never back).
func (s *Store) advance(ctx context.Context, next map[string]map[int32]int64) error {
	for topic, parts := range next {
		for p, n := range parts {
			_, err := s.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(s.t.Positions),
				Key: map[string]types.AttributeValue{
					attrTopic: strAttr(topic),
					attrPart:  numAttr(int64(p)),
				},
				UpdateExpression:          aws.String("SET #n = :n"),
				ConditionExpression:       aws.String("attribute_not_exists(#n) OR #n < :n"),
				ExpressionAttributeNames:  map[string]string{"#n": attrNext},
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": numAttr(n)},
			})
			var ccf *types.ConditionalCheckFailedException
			if err != nil && !errors.As(err, &ccf) {
				return fmt.Errorf("advance index position %s/%d: %w", topic, p, err)
			}
		}
	}
	return nil
}

// Positions implements index.Writer.
func (s *Store) Positions(ctx context.Context) (map[string]map[int32]int64, error) {
	out := make(map[string]map[int32]int64)
	var start map[string]types.AttributeValue
	for {
		page, err := s.cfg.Client.Scan(ctx, &dynamodb.ScanInput{
			TableName:         aws.String(s.t.Positions),
			ExclusiveStartKey: start,
			ConsistentRead:    aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("read index positions: %w", err)
		}
		for _, it := range page.Items {
			topic := getS(it, attrTopic)
			if strings.HasPrefix(topic, "#") {
				continue
			}
			if out[topic] == nil {
				out[topic] = make(map[int32]int64)
			}
			out[topic][int32(getN(it, attrPart))] = getN(it, attrNext)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

func getS(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it map[string]types.AttributeValue, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}
