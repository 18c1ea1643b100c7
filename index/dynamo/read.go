package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// keyRange bounds ts_key: lo ≤ key ≤ hi, and key ≠ exclude (a cursor).
type keyRange struct {
	lo, hi  string
	exclude string
}

// maxKey sorts after every ts_key.
const maxKey = "~"

func newRange(since, until int64, cursor string) keyRange {
	r := keyRange{lo: tsBound(since), hi: maxKey}
	if until > 0 {
		// Keys at ts == until start with tsBound(until) + "#", after it.
		r.hi = tsBound(until)
	}
	if cursor != "" && cursor < r.hi {
		r.hi, r.exclude = cursor, cursor
	}
	return r
}

func (r keyRange) empty() bool { return r.lo > r.hi }

// filter is a FilterExpression built from equality conditions.
type filter struct {
	conds  []string
	names  map[string]string
	values map[string]types.AttributeValue
}

func (f *filter) eq(attr string, v types.AttributeValue) {
	if f.names == nil {
		f.names = map[string]string{}
		f.values = map[string]types.AttributeValue{}
	}
	n := fmt.Sprintf("f%d", len(f.conds))
	f.names["#"+n] = attr
	f.values[":"+n] = v
	f.conds = append(f.conds, "#"+n+" = :"+n)
}

func (f *filter) eqS(attr, v string) {
	if v != "" {
		f.eq(attr, strAttr(v))
	}
}

// rangeQuery reads one partition key of a table or index in ts_key order.
type rangeQuery struct {
	table, index string
	pk, pkValue  string
	rng          keyRange
	filter       filter
	asc          bool
	// want stops the read after this many matching items; 0 reads all.
	want       int
	projection []string
}

// query runs q to the end or to q.want matching items.
func (s *Store) query(ctx context.Context, q rangeQuery) ([]map[string]types.AttributeValue, error) {
	if q.rng.empty() {
		return nil, nil
	}
	names := map[string]string{"#pk": q.pk, "#sk": attrTSKey}
	values := map[string]types.AttributeValue{":pk": strAttr(q.pkValue), ":lo": strAttr(q.rng.lo), ":hi": strAttr(q.rng.hi)}
	for k, v := range q.filter.names {
		names[k] = v
	}
	for k, v := range q.filter.values {
		values[k] = v
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(q.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(q.asc),
	}
	if q.index != "" {
		in.IndexName = aws.String(q.index)
	}
	if len(q.filter.conds) > 0 {
		in.FilterExpression = aws.String(strings.Join(q.filter.conds, " AND "))
	}
	if len(q.projection) > 0 {
		var ps []string
		for i, p := range q.projection {
			n := fmt.Sprintf("#p%d", i)
			names[n] = p
			ps = append(ps, n)
		}
		in.ProjectionExpression = aws.String(strings.Join(ps, ", "))
	}
	var out []map[string]types.AttributeValue
	for {
		if q.want > 0 {
			// One more than needed for the excluded cursor; with a filter,
			// larger pages, since the filter drops items after the read.
			n := q.want - len(out) + 1
			if len(q.filter.conds) > 0 {
				n = max(4*n, 100)
			}
			in.Limit = aws.Int32(int32(min(n, 1000)))
		}
		page, err := s.cfg.Client.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			if q.rng.exclude != "" && getS(it, attrTSKey) == q.rng.exclude {
				continue
			}
			out = append(out, it)
			if q.want > 0 && len(out) >= q.want {
				return out, nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// buckets returns the kind's time buckets grouped by day, newest day first.
func (s *Store) buckets(ctx context.Context, kind string) ([]string, map[string][]string, error) {
	out, err := s.cfg.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.t.Positions),
		Key: map[string]types.AttributeValue{
			attrTopic: strAttr("#buckets#" + kind),
			attrPart:  numAttr(0),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read %s time buckets: %w", kind, err)
	}
	byDay := map[string][]string{}
	if ss, ok := out.Item[attrBuckets].(*types.AttributeValueMemberSS); ok {
		for _, b := range ss.Value {
			day, _, _ := strings.Cut(b, "#")
			byDay[day] = append(byDay[day], b)
		}
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(days)))
	return days, byDay, nil
}

// timeline reads a kind's by-time index newest first (or oldest first with
// asc), across its buckets, up to want items (0: all).
func (s *Store) timeline(ctx context.Context, kind, table string, rng keyRange, f filter, want int, asc bool, projection ...string) ([]map[string]types.AttributeValue, error) {
	if rng.empty() {
		return nil, nil
	}
	days, byDay, err := s.buckets(ctx, kind)
	if err != nil {
		return nil, err
	}
	if asc {
		sort.Strings(days)
	}
	loDay, hiDay := dayOf(tsOfKey(rng.lo)), dayOf(tsOfKey(rng.hi))
	if rng.hi == maxKey {
		hiDay = "9999-12-31"
	}
	var out []map[string]types.AttributeValue
	for _, day := range days {
		if day < loDay || day > hiDay {
			continue
		}
		need := 0
		if want > 0 {
			need = want - len(out)
		}
		// Each bucket of the day is sorted; the day's newest need items
		// are among each bucket's newest need items.
		var dayItems []map[string]types.AttributeValue
		for _, b := range byDay[day] {
			items, err := s.query(ctx, rangeQuery{
				table: table, index: indexByTime, pk: attrBucket, pkValue: b,
				rng: rng, filter: f, asc: asc, want: need, projection: projection,
			})
			if err != nil {
				return nil, fmt.Errorf("read %s bucket %s: %w", kind, b, err)
			}
			dayItems = append(dayItems, items...)
		}
		sort.Slice(dayItems, func(i, j int) bool {
			a, b := getS(dayItems[i], attrTSKey), getS(dayItems[j], attrTSKey)
			if asc {
				return a < b
			}
			return a > b
		})
		if need > 0 && len(dayItems) > need {
			dayItems = dayItems[:need]
		}
		out = append(out, dayItems...)
		if want > 0 && len(out) >= want {
			break
		}
	}
	return out, nil
}

func encodeCursor(k string) string { return base64.RawURLEncoding.EncodeToString([]byte(k)) }

// decodeCursor reads an audit search's cursor, the sort key of the last
// record of the page before (auditKey). A tsKey is a cursor from before
// audit keys held the orders.v1 position: it continues from the start of
// its millisecond, so a search paged across an upgrade may list a few
// records twice but skips none.
func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", index.ErrBadCursor
	}
	k := string(b)
	switch {
	case len(k) == len(auditKey(&domain.AuditRecord{}, index.Pos{})) && strings.Count(k, "#") == 4:
		return k, nil
	case len(k) == len(tsKey(0, index.Pos{})) && strings.Count(k, "#") == 2:
		return k[:len(tsBound(0))] + "#" + maxKey, nil
	}
	return "", index.ErrBadCursor
}

func decodeRecords[T any](items []map[string]types.AttributeValue) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := json.Unmarshal([]byte(getS(it, attrRecord)), &v); err != nil {
			return nil, fmt.Errorf("decode indexed record %s: %w", getS(it, attrTSKey), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Audit implements index.Reader. An account search reads the by-account
// index, a corr_id search the by-corr index, any other the by-time index;
// the remaining conditions are filters.
func (s *Store) Audit(ctx context.Context, q index.AuditQuery) (index.AuditPage, error) {
	limit := index.ClampLimit(q.Limit, 100, 1000)
	var cur string
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return index.AuditPage{}, err
		}
		cur = c
	}
	rng := newRange(q.Since, q.Until, cur)
	var f filter
	f.eqS(attrSymbol, q.Symbol)
	f.eqS(attrStrategy, q.Strategy)
	f.eqS(attrDecision, string(q.Decision))
	var (
		items []map[string]types.AttributeValue
		err   error
	)
	switch {
	case q.Account != "":
		f.eqS(attrCorrID, q.CorrID)
		items, err = s.query(ctx, rangeQuery{table: s.t.Audit, index: indexByAccount, pk: attrAccount, pkValue: q.Account,
			rng: rng, filter: f, want: limit + 1})
	case q.CorrID != "":
		items, err = s.query(ctx, rangeQuery{table: s.t.Audit, index: indexByCorr, pk: attrCorrID, pkValue: q.CorrID,
			rng: rng, filter: f, want: limit + 1})
	default:
		items, err = s.timeline(ctx, kindAudit, s.t.Audit, rng, f, limit+1, false)
	}
	if err != nil {
		return index.AuditPage{}, fmt.Errorf("search audit: %w", err)
	}
	page := index.AuditPage{Records: []domain.AuditRecord{}}
	if len(items) > limit {
		page.Next = encodeCursor(getS(items[limit-1], attrTSKey))
		items = items[:limit]
	}
	recs, err := decodeRecords[domain.AuditRecord](items)
	if err != nil {
		return index.AuditPage{}, fmt.Errorf("search audit: %w", err)
	}
	page.Records = recs
	return page, nil
}

// Order implements index.Reader.
func (s *Store) Order(ctx context.Context, orderID string) ([]domain.AuditRecord, error) {
	pk := orderID
	if pk == "" {
		pk = noOrderID
	}
	items, err := s.query(ctx, rangeQuery{table: s.t.Audit, pk: attrOrderID, pkValue: pk,
		rng: keyRange{lo: tsBound(0), hi: maxKey}, asc: true, want: 100})
	if err != nil {
		return nil, fmt.Errorf("look up order %s: %w", orderID, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("order %s: %w", orderID, index.ErrNotFound)
	}
	out, err := decodeRecords[domain.AuditRecord](items)
	if err != nil {
		return nil, fmt.Errorf("look up order %s: %w", orderID, err)
	}
	return out, nil
}

// Commands implements index.Reader.
func (s *Store) Commands(ctx context.Context, q index.CommandQuery) ([]domain.Command, error) {
	limit := index.ClampLimit(q.Limit, 100, 1000)
	rng := newRange(q.Since, 0, "")
	var (
		f     filter
		items []map[string]types.AttributeValue
		err   error
	)
	switch {
	case q.Scope != "":
		f.eqS(attrCorrID, q.CorrID)
		items, err = s.query(ctx, rangeQuery{table: s.t.Commands, pk: attrScope, pkValue: scopeKey(q.Scope), rng: rng, filter: f, want: limit})
	case q.CorrID != "":
		items, err = s.query(ctx, rangeQuery{table: s.t.Commands, index: indexByCorr, pk: attrCorrID, pkValue: q.CorrID, rng: rng, want: limit})
	default:
		items, err = s.timeline(ctx, kindCommands, s.t.Commands, rng, f, limit, false)
	}
	if err != nil {
		return nil, fmt.Errorf("query commands: %w", err)
	}
	out, err := decodeRecords[domain.Command](items)
	if err != nil {
		return nil, fmt.Errorf("query commands: %w", err)
	}
	return out, nil
}

// Signals implements index.Reader.
func (s *Store) Signals(ctx context.Context, q index.SignalQuery) ([]domain.RiskSignal, error) {
	limit := index.ClampLimit(q.Limit, 100, 1000)
	rng := newRange(q.Since, 0, "")
	var f filter
	if q.Breaching {
		f.eq(attrBreaching, numAttr(1))
	}
	items, err := s.scopeOrTimeline(ctx, kindSignals, s.t.Signals, q.Scope, rng, f, limit)
	if err != nil {
		return nil, fmt.Errorf("query signals: %w", err)
	}
	out, err := decodeRecords[domain.RiskSignal](items)
	if err != nil {
		return nil, fmt.Errorf("query signals: %w", err)
	}
	return out, nil
}

// scopeOrTimeline reads the items of a table kept by scope and time (bucket
// kind kind) that meet f in rng, newest first: the scope's own with a
// scope, else every scope's through the time buckets.
func (s *Store) scopeOrTimeline(ctx context.Context, kind, table string, scope domain.Scope, rng keyRange, f filter, limit int) ([]map[string]types.AttributeValue, error) {
	if scope != "" {
		return s.query(ctx, rangeQuery{table: table, pk: attrScope, pkValue: scopeKey(scope), rng: rng, filter: f, want: limit})
	}
	return s.timeline(ctx, kind, table, rng, f, limit, false)
}

// States implements index.Reader.
func (s *Store) States(ctx context.Context, scope domain.Scope, limit int) ([]domain.State, error) {
	limit = index.ClampLimit(limit, 100, 1000)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.StateHistory),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrScope},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(scopeKey(scope))},
		ScanIndexForward:          aws.Bool(false),
	}
	var items []map[string]types.AttributeValue
	for len(items) < limit {
		in.Limit = aws.Int32(int32(limit - len(items)))
		page, err := s.cfg.Client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query states of %s: %w", scope, err)
		}
		items = append(items, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	out, err := decodeRecords[domain.State](items)
	if err != nil {
		return nil, fmt.Errorf("query states of %s: %w", scope, err)
	}
	return out, nil
}

// InForce implements index.Reader. The state cache holds every scope's
// newest state; a scope whose newest state is later than at is read back
// in its history, newest version first, to the first with updated_ts ≤ at.
func (s *Store) InForce(ctx context.Context, at int64, status domain.Status) ([]domain.State, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(s.t.StateCache)}
	out := []domain.State{}
	for {
		page, err := s.cfg.Client.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("read state cache for the states in force at %d: %w", at, err)
		}
		for _, it := range page.Items {
			var st domain.State
			if err := json.Unmarshal([]byte(getS(it, attrRecord)), &st); err != nil {
				return nil, fmt.Errorf("decode cached state of %s: %w", getS(it, attrScope), err)
			}
			if st.UpdatedTS > at {
				var found bool
				if st, found, err = s.stateAt(ctx, getS(it, attrScope), at); err != nil {
					return nil, err
				}
				if !found {
					continue // published only after at
				}
			}
			if status == "" || st.Status == status {
				out = append(out, st)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scope < out[j].Scope })
	return out, nil
}

// stateAt reads a scope's newest published state with updated_ts ≤ at from
// its history; false when it has none.
func (s *Store) stateAt(ctx context.Context, pk string, at int64) (domain.State, bool, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.StateHistory),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		FilterExpression:          aws.String("#ts <= :at"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrScope, "#ts": attrTS},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(pk), ":at": numAttr(at)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(100),
	}
	for {
		page, err := s.cfg.Client.Query(ctx, in)
		if err != nil {
			return domain.State{}, false, fmt.Errorf("query state of %s at %d: %w", pk, at, err)
		}
		if len(page.Items) > 0 {
			var st domain.State
			if err := json.Unmarshal([]byte(getS(page.Items[0], attrRecord)), &st); err != nil {
				return domain.State{}, false, fmt.Errorf("decode state of %s at %d: %w", pk, at, err)
			}
			return st, true, nil
		}
		if len(page.LastEvaluatedKey) == 0 {
			return domain.State{}, false, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Latest returns the newest state of a scope from the state cache, with
// ErrNotFound when the scope has never been published.
func (s *Store) Latest(ctx context.Context, scope domain.Scope) (domain.State, error) {
	out, err := s.cfg.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.t.StateCache),
		Key:       map[string]types.AttributeValue{attrScope: strAttr(scopeKey(scope))},
	})
	if err != nil {
		return domain.State{}, fmt.Errorf("read cached state of %s: %w", scope, err)
	}
	if len(out.Item) == 0 {
		return domain.State{}, fmt.Errorf("state of %s: %w", scope, index.ErrNotFound)
	}
	var st domain.State
	if err := json.Unmarshal([]byte(getS(out.Item, attrRecord)), &st); err != nil {
		return domain.State{}, fmt.Errorf("decode cached state of %s: %w", scope, err)
	}
	return st, nil
}

// Rates implements index.Reader by counting the audit items since since
// (Unix ms) on the by-time index, reading only their ts and decision.
func (s *Store) Rates(ctx context.Context, since int64) ([]index.Rate, error) {
	items, err := s.timeline(ctx, kindAudit, s.t.Audit, newRange(since, 0, ""), filter{}, 0, true, attrTSKey, attrTS, attrDecision)
	if err != nil {
		return nil, fmt.Errorf("count decisions: %w", err)
	}
	bySec := map[int64]*index.Rate{}
	for _, it := range items {
		sec := getN(it, attrTS) / 1000
		r := bySec[sec]
		if r == nil {
			r = &index.Rate{Second: sec}
			bySec[sec] = r
		}
		switch domain.Decision(getS(it, attrDecision)) {
		case domain.DecisionAllow:
			r.Allow++
		case domain.DecisionDrop:
			r.Drop++
		case domain.DecisionThrottle:
			r.Throttle++
		case domain.DecisionBlock:
			r.Block++
		default:
			r.Other++
		}
	}
	var out []index.Rate
	for _, r := range bySec {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Second < out[j].Second })
	return out, nil
}
