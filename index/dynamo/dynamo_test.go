package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/index/dynamo"
)

func TestCreateTablesIsIdempotent(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	tables := dynamo.TableNames("idem-")
	for run, wantCreated := range []bool{true, false} {
		res, err := dynamo.CreateTables(ctx, c, tables)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if len(res) != len(dynamo.Specs(tables)) {
			t.Fatalf("run %d: %d results, want %d", run, len(res), len(dynamo.Specs(tables)))
		}
		for _, r := range res {
			if r.Created != wantCreated {
				t.Errorf("run %d: %s created=%v, want %v", run, r.Name, r.Created, wantCreated)
			}
		}
	}
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &tables.Audit})
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]bool{}
	for _, g := range d.Table.GlobalSecondaryIndexes {
		idx[*g.IndexName] = true
	}
	for _, want := range []string{"by-account", "by-corr", "by-time"} {
		if !idx[want] {
			t.Errorf("audit table lacks index %s", want)
		}
	}
}

// stream is a recorded index input: batches as the indexer would apply them.
type stream struct {
	batches  []*index.Batch
	orderIDs []string
	corrIDs  []string
	scopes   []domain.Scope
	start    int64
}

// genStream builds a deterministic stream over two UTC days: audit records
// on three partitions with many equal timestamps, duplicates, rejects
// without an account, commands, states and signals. Each batch covers a
// later time window than the one before. An audit record names an
// orders.v1 position (its account's partition, the next offset there) in
// another order than its audit.v1 position, as the router's do: both
// backends break timestamp ties by the orders.v1 position.
func genStream(seed uint64, batches, perBatch int) *stream {
	rng := rand.New(rand.NewPCG(seed, 7))
	st := &stream{start: time.Date(2026, 3, 9, 23, 30, 0, 0, time.UTC).UnixMilli()}
	accounts := []string{"A1", "A2", "A3", "A4", "A5", "12345"}
	symbols := []string{"AAPL", "MSFT", "TSLA", "NVDA"}
	strategies := []string{"ALGO_X", "MM_1", "ARB_2"}
	for _, a := range accounts[:3] {
		st.scopes = append(st.scopes, domain.Scope("ACCOUNT:"+a))
	}
	st.scopes = append(st.scopes, domain.Global)
	offsets := map[string]map[int32]int64{}
	next := func(topic string, p int32) int64 {
		if offsets[topic] == nil {
			offsets[topic] = map[int32]int64{}
		}
		o := offsets[topic][p]
		offsets[topic][p] = o + 1
		return o
	}
	version := map[domain.Scope]int64{}
	oid := 0
	for bi := 0; bi < batches; bi++ {
		b := &index.Batch{}
		// 35 windows of ~2 minutes each cross midnight UTC.
		base := st.start + int64(bi)*2*60*1000
		corr := fmt.Sprintf("corr-%02d", bi%5)
		if bi%5 == 0 || len(st.corrIDs) < 5 {
			st.corrIDs = appendUnique(st.corrIDs, corr)
		}
		for p := int32(0); p < 3; p++ {
			for i := 0; i < perBatch/3; i++ {
				ts := base + int64(rng.IntN(40)) // few distinct ms: many ties
				var r domain.AuditRecord
				if i > 0 && rng.IntN(15) == 0 {
					r.OrderID = st.orderIDs[rng.IntN(len(st.orderIDs))]
					r.Decision = domain.DecisionDuplicate
				} else {
					oid++
					r.OrderID = fmt.Sprintf("o-%05d", oid)
					st.orderIDs = append(st.orderIDs, r.OrderID)
					switch n := rng.IntN(10); {
					case n < 6:
						r.Decision = domain.DecisionAllow
					case n < 8:
						r.Decision, r.CorrID, r.KillswitchStatus = domain.DecisionDrop, corr, domain.StatusKilled
					case n < 9:
						r.Decision, r.CorrID, r.KillswitchStatus = domain.DecisionThrottle, corr, domain.StatusThrottled
					default:
						r.Decision = domain.DecisionReject
						if oid%2 == 0 {
							r.Decision, r.Limit, r.LimitValue, r.LimitsVersion = domain.DecisionBlock, "ACCOUNT:A1 max_orders=100/60s", 101, int64(oid%3)
						}
					}
				}
				r.TS = ts
				if r.Decision != domain.DecisionReject || rng.IntN(2) == 0 {
					r.AccountID = accounts[rng.IntN(len(accounts))]
				}
				r.Symbol = symbols[rng.IntN(len(symbols))]
				r.Strategy = strategies[rng.IntN(len(strategies))]
				r.Service = "riskgate-router"
				if r.AccountID != "" {
					r.Partition = int32(r.AccountID[len(r.AccountID)-1] % 3)
				}
				r.Offset = next(domain.TopicOrders, r.Partition)
				if r.KillswitchStatus == "" {
					r.KillswitchStatus = domain.StatusActive
				}
				off := next(domain.TopicAudit, p)
				b.Audit = append(b.Audit, index.AuditEntry{Pos: index.Pos{Partition: p, Offset: off}, Record: r})
				b.Advance(domain.TopicAudit, p, off+1)
			}
		}
		// A few commands, states and signals per batch.
		for i := 0; i < 3; i++ {
			sc := st.scopes[rng.IntN(len(st.scopes))]
			p := int32(rng.IntN(3))
			ts := base + 50 + int64(rng.IntN(20))
			action := []domain.Action{domain.ActionKill, domain.ActionUnkill, domain.ActionThrottle, domain.ActionPin}[rng.IntN(4)]
			trig := domain.TriggerDetector
			op, identity := "", domain.Identity("")
			if rng.IntN(2) == 0 {
				trig, op, identity = domain.TriggerOperator, "alice", domain.IdentityVerified
				if i == 1 { // not drawn from rng, so the rest of the data is as before
					op, identity = "a", domain.IdentityClaimed
				}
			}
			version[sc]++
			c := domain.Command{CmdID: fmt.Sprintf("cmd-%d-%d", bi, i), TS: ts, Scope: sc, Action: action,
				Reason: "test " + string(action), TriggeredBy: trig, Operator: op, Identity: identity,
				CorrID: corr, StateVersion: version[sc]}
			off := next(domain.TopicCommands, p)
			b.Commands = append(b.Commands, index.CommandEntry{Pos: index.Pos{Partition: p, Offset: off}, Command: c})
			b.Advance(domain.TopicCommands, p, off+1)
			status := domain.StatusKilled
			if action == domain.ActionUnkill {
				status = domain.StatusActive
			}
			sv := domain.State{Scope: sc, Status: status, UpdatedTS: ts, UpdatedBy: string(trig), Reason: c.Reason,
				LastCmdID: c.CmdID, CorrID: corr, Version: version[sc], WorkflowID: "killswitch/" + string(sc)}
			soff := next(domain.TopicState, p)
			b.States = append(b.States, index.StateEntry{Pos: index.Pos{Partition: p, Offset: soff}, State: sv})
			b.Advance(domain.TopicState, p, soff+1)
			g := domain.RiskSignal{TS: ts + 1, Scope: sc, WindowMS: 60000, OrderCount: int64(rng.IntN(200))}
			if g.OrderCount > 100 {
				g.Breaches = []domain.Breach{{Rule: "orders_1m", Metric: "order_count", Value: float64(g.OrderCount), Threshold: 100}}
			}
			goff := next(domain.TopicRiskSignals, p)
			b.Signals = append(b.Signals, index.SignalEntry{Pos: index.Pos{Partition: p, Offset: goff}, Signal: g})
			b.Advance(domain.TopicRiskSignals, p, goff+1)
		}
		// One change of limits a batch, drawn from nothing random, so the
		// rest of the stream stays as it was.
		{
			sc, p := st.scopes[bi%len(st.scopes)], int32(bi%3)
			n := int64(100 + bi)
			lc := domain.LimitsCommand{CmdID: fmt.Sprintf("lim-%d", bi), TS: base + 70, Scope: sc, Action: domain.LimitsSet,
				Operator: "olga", Reason: "desk", New: domain.LimitValues{MaxOrders: &n}, Version: int64(bi + 1)}
			off := next(domain.TopicLimitsCommands, p)
			b.Limits = append(b.Limits, index.LimitsCommandEntry{Pos: index.Pos{Partition: p, Offset: off}, Command: lc})
			b.Advance(domain.TopicLimitsCommands, p, off+1)
		}
		st.batches = append(st.batches, b)
	}
	return st
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func applyAll(t testing.TB, w index.Writer, st *stream) {
	t.Helper()
	for i, b := range st.batches {
		if err := w.Apply(context.Background(), b); err != nil {
			t.Fatalf("apply batch %d: %v", i, err)
		}
	}
}

// allPages walks an audit search to its end, returning the pages' records.
func allPages(ctx context.Context, r index.Reader, q index.AuditQuery) ([][]domain.AuditRecord, error) {
	var pages [][]domain.AuditRecord
	for i := 0; i < 10000; i++ {
		p, err := r.Audit(ctx, q)
		if err != nil {
			return nil, err
		}
		pages = append(pages, p.Records)
		if p.Next == "" {
			return pages, nil
		}
		q.Cursor = p.Next
	}
	return nil, errors.New("audit pages do not end")
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		if len(g) > 600 {
			g = append(g[:600], "..."...)
		}
		if len(w) > 600 {
			w = append(w[:600], "..."...)
		}
		t.Errorf("%s differs:\ndynamodb: %s\nsqlite:   %s", what, g, w)
	}
}

// TestQueryParityWithSQLite applies one recorded stream to the SQLite and
// the DynamoDB backends and checks that every query answers the same.
func TestQueryParityWithSQLite(t *testing.T) {
	c := newClient(t)
	st := genStream(1, 35, 60)
	dyn, _ := newStore(t, c, nil)
	sq, err := index.Open(filepath.Join(t.TempDir(), "index.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	start := time.Now()
	applyAll(t, dyn, st)
	t.Logf("applied %d batches to dynalite in %v", len(st.batches), time.Since(start).Round(time.Millisecond))
	applyAll(t, sq, st)
	ctx := context.Background()

	mid := st.start + 30*60*1000 // past midnight UTC
	auditQueries := []struct {
		name string
		q    index.AuditQuery
	}{
		{"everything", index.AuditQuery{}},
		{"everything, pages of 7", index.AuditQuery{Limit: 7}},
		{"everything, pages of 1000", index.AuditQuery{Limit: 1000}},
		{"account", index.AuditQuery{Account: "A2", Limit: 25}},
		{"account and decision", index.AuditQuery{Account: "12345", Decision: domain.DecisionDrop, Limit: 10}},
		{"account in a time range", index.AuditQuery{Account: "A1", Since: st.start + 10*60*1000, Until: mid, Limit: 13}},
		{"symbol", index.AuditQuery{Symbol: "TSLA", Limit: 50}},
		{"strategy and symbol", index.AuditQuery{Strategy: "MM_1", Symbol: "AAPL", Limit: 9}},
		{"decision", index.AuditQuery{Decision: domain.DecisionThrottle, Limit: 40}},
		{"decision BLOCK", index.AuditQuery{Decision: domain.DecisionBlock, Limit: 40}},
		{"corr_id", index.AuditQuery{CorrID: st.corrIDs[1], Limit: 30}},
		{"corr_id and account", index.AuditQuery{CorrID: st.corrIDs[2], Account: "A3"}},
		{"since", index.AuditQuery{Since: mid, Limit: 200}},
		{"until", index.AuditQuery{Until: mid, Limit: 200}},
		{"exact ms window", index.AuditQuery{Since: st.start + 4*60*1000 + 10, Until: st.start + 4*60*1000 + 12}},
		{"nothing matches", index.AuditQuery{Account: "nobody"}},
		{"empty range", index.AuditQuery{Since: mid, Until: mid}},
	}
	for _, tc := range auditQueries {
		t.Run("audit/"+tc.name, func(t *testing.T) {
			got, err := allPages(ctx, dyn, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := allPages(ctx, sq, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "pages", got, want)
		})
	}
	t.Run("audit/bad cursor", func(t *testing.T) {
		for _, r := range []index.Reader{dyn, sq} {
			if _, err := r.Audit(ctx, index.AuditQuery{Cursor: "!!not-a-cursor"}); !errors.Is(err, index.ErrBadCursor) {
				t.Errorf("%T: err = %v, want ErrBadCursor", r, err)
			}
		}
	})
	t.Run("order", func(t *testing.T) {
		for _, id := range append(st.orderIDs[:40:40], "no-such-order") {
			got, gerr := dyn.Order(ctx, id)
			want, werr := sq.Order(ctx, id)
			if errors.Is(werr, index.ErrNotFound) != errors.Is(gerr, index.ErrNotFound) {
				t.Fatalf("order %s: errors %v / %v", id, gerr, werr)
			}
			sameJSON(t, "order "+id, got, want)
		}
	})
	commandQueries := []index.CommandQuery{
		{}, {Limit: 5}, {Scope: st.scopes[0]}, {Scope: domain.Global, Limit: 3},
		{CorrID: st.corrIDs[0]}, {Scope: st.scopes[1], CorrID: st.corrIDs[3]}, {Since: mid, Limit: 1000},
	}
	for i, q := range commandQueries {
		t.Run(fmt.Sprintf("commands/%d", i), func(t *testing.T) {
			got, err := dyn.Commands(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sq.Commands(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, fmt.Sprintf("commands %+v", q), got, want)
			for _, c := range want {
				if (c.TriggeredBy == domain.TriggerOperator) != (c.Identity != "") {
					t.Errorf("command %s by %s %q: identity %q, want one on operator commands only", c.CmdID, c.TriggeredBy, c.Operator, c.Identity)
				}
			}
		})
	}
	limitsQueries := []index.LimitsCommandQuery{
		{}, {Limit: 5}, {Scope: st.scopes[0]}, {Scope: domain.Global, Limit: 3}, {Since: mid, Limit: 1000},
		{Until: mid}, {Scope: st.scopes[1], Since: st.start + 10*60*1000, Until: mid},
	}
	for i, q := range limitsQueries {
		t.Run(fmt.Sprintf("limits/%d", i), func(t *testing.T) {
			got, err := dyn.LimitsCommands(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sq.LimitsCommands(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 && i < 5 {
				t.Fatalf("query %+v found nothing in SQLite: the stream has no limits changes?", q)
			}
			sameJSON(t, fmt.Sprintf("limits %+v", q), got, want)
		})
	}
	signalQueries := []index.SignalQuery{
		{}, {Limit: 4}, {Scope: st.scopes[2]}, {Breaching: true}, {Breaching: true, Scope: domain.Global}, {Since: mid},
	}
	for i, q := range signalQueries {
		t.Run(fmt.Sprintf("signals/%d", i), func(t *testing.T) {
			got, err := dyn.Signals(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sq.Signals(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, fmt.Sprintf("signals %+v", q), got, want)
		})
	}
	t.Run("states", func(t *testing.T) {
		for _, sc := range append(st.scopes, "ACCOUNT:none") {
			for _, limit := range []int{0, 2} {
				got, err := dyn.States(ctx, sc, limit)
				if err != nil {
					t.Fatal(err)
				}
				want, err := sq.States(ctx, sc, limit)
				if err != nil {
					t.Fatal(err)
				}
				sameJSON(t, fmt.Sprintf("states of %s limit %d", sc, limit), got, want)
			}
		}
	})
	t.Run("states in force", func(t *testing.T) {
		// Before the first state, within the stream on both days, after it.
		ats := []int64{st.start - 1, st.start + 50, mid, mid + 60, st.start + 69*60*1000, st.start + 200*60*1000}
		for _, at := range ats {
			for _, status := range []domain.Status{"", domain.StatusKilled, domain.StatusActive} {
				got, err := dyn.InForce(ctx, at, status)
				if err != nil {
					t.Fatal(err)
				}
				want, err := sq.InForce(ctx, at, status)
				if err != nil {
					t.Fatal(err)
				}
				sameJSON(t, fmt.Sprintf("states in force at %d, status %q", at, status), got, want)
				for _, v := range want {
					if v.UpdatedTS > at || (status != "" && v.Status != status) {
						t.Errorf("in force at %d (status %q): %+v", at, status, v)
					}
				}
			}
		}
		all, err := sq.InForce(ctx, st.start+200*60*1000, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(st.scopes) {
			t.Errorf("%d scopes in force after the stream, want every scope: %d", len(all), len(st.scopes))
		}
		for _, s := range all {
			hist, err := sq.States(ctx, s.Scope, 1)
			if err != nil || len(hist) == 0 || hist[0].Version != s.Version {
				t.Errorf("%s in force after the stream at v%d, newest published %v (%v)", s.Scope, s.Version, hist, err)
			}
		}
	})
	t.Run("rates", func(t *testing.T) {
		for _, since := range []int64{0, mid, st.start + 69*60*1000} {
			got, err := dyn.Rates(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sq.Rates(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, fmt.Sprintf("rates since %d", since), got, want)
		}
	})
	t.Run("positions", func(t *testing.T) {
		got, err := dyn.Positions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sq.Positions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "positions", got, want)
	})
	t.Run("state cache holds the newest version", func(t *testing.T) {
		for _, sc := range st.scopes {
			hist, err := sq.States(ctx, sc, 1)
			if err != nil || len(hist) == 0 {
				continue
			}
			got, err := dyn.Latest(ctx, sc)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != hist[0].Version {
				t.Errorf("%s cached v%d, want v%d", sc, got.Version, hist[0].Version)
			}
		}
	})
}

// TestReplayAfterCrashDoesNotDoubleCount applies batches again, as the
// indexer does after a crash between storing records and advancing
// positions: every count stays the same and positions never go back.
func TestReplayAfterCrashDoesNotDoubleCount(t *testing.T) {
	c := newClient(t)
	st := genStream(2, 6, 30)
	s, _ := newStore(t, c, nil)
	ctx := context.Background()
	applyAll(t, s, st)
	before, err := s.Rates(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := s.Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Replay the first half (older positions) and the last batch again.
	for _, b := range append(st.batches[:3:3], st.batches[len(st.batches)-1]) {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	after, err := s.Rates(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "rates after replay", after, before)
	pos2, err := s.Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "positions after replay", pos2, pos)
	page, err := s.Audit(ctx, index.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range st.batches {
		n += len(b.Audit)
	}
	if len(page.Records) != n {
		t.Errorf("%d audit records after replay, want %d", len(page.Records), n)
	}
}

// flakyAPI passes everything to dynalite except BatchWriteItem, of which it
// stores only part of each request and returns the rest as unprocessed, as
// DynamoDB does under throttling.
type flakyAPI struct {
	dynamo.API
	mu sync.Mutex
	// keep is how many write requests of each call are really sent; the
	// rest come back unprocessed.
	keep        int
	calls       int
	unprocessed int
	// never makes every call return everything unprocessed.
	never bool
}

func (f *flakyAPI) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	send := map[string][]types.WriteRequest{}
	back := map[string][]types.WriteRequest{}
	n := 0
	for table, reqs := range in.RequestItems {
		for _, r := range reqs {
			if !f.never && n < f.keep {
				send[table] = append(send[table], r)
			} else {
				back[table] = append(back[table], r)
			}
			n++
		}
	}
	if len(send) > 0 {
		out, err := f.API.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: send}, opts...)
		if err != nil {
			return nil, err
		}
		for table, reqs := range out.UnprocessedItems {
			back[table] = append(back[table], reqs...)
		}
	}
	f.mu.Lock()
	for _, reqs := range back {
		f.unprocessed += len(reqs)
	}
	f.mu.Unlock()
	return &dynamodb.BatchWriteItemOutput{UnprocessedItems: back}, nil
}

func TestUnprocessedItemsAreRetried(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	st := genStream(3, 4, 90) // 360 audit records
	var total int
	for _, b := range st.batches {
		total += len(b.Audit)
	}
	for _, tc := range []struct {
		name      string
		keep      int
		never     bool
		attempts  int
		wantErr   bool
		minCalls  int
		wantStore bool
	}{
		{name: "a third of each request is processed", keep: 8, attempts: 12, minCalls: total / 8, wantStore: true},
		{name: "one item per request", keep: 1, attempts: 30, minCalls: total, wantStore: true},
		{name: "never processed: gives up after MaxAttempts", never: true, attempts: 3, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flakyAPI{API: c, keep: tc.keep, never: tc.never}
			s, _ := newStore(t, f, func(cfg *dynamo.Config) {
				cfg.MaxAttempts = tc.attempts
				cfg.BaseBackoff = time.Millisecond
				cfg.MaxBackoff = 5 * time.Millisecond
			})
			var err error
			for _, b := range st.batches {
				if err = s.Apply(ctx, b); err != nil {
					break
				}
			}
			if tc.wantErr {
				if err == nil {
					t.Fatal("Apply succeeded although nothing was ever processed")
				}
				pos, perr := s.Positions(ctx)
				if perr != nil {
					t.Fatal(perr)
				}
				if len(pos) != 0 {
					t.Errorf("positions advanced after a failed Apply: %v", pos)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.calls < tc.minCalls || f.unprocessed == 0 {
				t.Errorf("%d BatchWriteItem calls with %d unprocessed items; want at least %d calls", f.calls, f.unprocessed, tc.minCalls)
			}
			page, err := s.Audit(ctx, index.AuditQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Records) != total {
				t.Errorf("%d audit records stored, want %d", len(page.Records), total)
			}
			t.Logf("%d calls, %d items returned unprocessed and resent", f.calls, f.unprocessed)
		})
	}
}
