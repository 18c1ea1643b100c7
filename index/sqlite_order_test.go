package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// burst is ten orders of one account decided in one millisecond, in
// orders.v1 partition 2 at offsets 100…109, whose audit records reached
// audit.v1 (keyed by order_id) in another order: the order in which the
// indexer reads them.
func burst() []AuditEntry {
	const ts = 1_764_000_000_000
	auditOrder := []int{9, 8, 6, 7, 5, 4, 3, 1, 10, 2} // as a search once listed them
	var out []AuditEntry
	for i, n := range auditOrder {
		d := domain.DecisionAllow
		if n > 5 {
			d = domain.DecisionBlock
		}
		out = append(out, AuditEntry{Pos: Pos{Partition: int32(i % 3), Offset: int64(i)},
			Record: domain.AuditRecord{TS: ts, Decision: d, OrderID: fmt.Sprintf("b-%d", n), AccountID: "55701",
				Symbol: "AAPL", Strategy: "s1", Partition: 2, Offset: int64(99 + n), Service: "riskgate-router"}})
	}
	return out
}

func orderIDs(rs []domain.AuditRecord) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.OrderID)
	}
	return ids
}

// newestFirst is the burst's order ids as a search must list them: by
// orders.v1 offset, newest first.
var newestFirst = []string{"b-10", "b-9", "b-8", "b-7", "b-6", "b-5", "b-4", "b-3", "b-2", "b-1"}

// searchAll pages through a search in pages of limit records.
func searchAll(t *testing.T, s *SQLite, q AuditQuery) []string {
	t.Helper()
	var ids []string
	for range 100 {
		p, err := s.Audit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, orderIDs(p.Records)...)
		if p.Next == "" {
			return ids
		}
		q.Cursor = p.Next
	}
	t.Fatal("the pages do not end")
	return nil
}

// TestAuditTiesInOrdersPosition: records of one millisecond are listed
// newest first by their orders.v1 position, whatever order audit.v1 held
// them in, in every search and across page boundaries; the order lookup
// lists an order's records oldest first alike.
func TestAuditTiesInOrdersPosition(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "index.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(context.Background(), &Batch{Audit: burst()}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []AuditQuery{{}, {Account: "55701"}, {Symbol: "AAPL", Limit: 3}, {Strategy: "s1", Limit: 1},
		{Account: "55701", Limit: 4}} {
		if got := searchAll(t, s, q); !slices.Equal(got, newestFirst) {
			t.Errorf("%+v: %v, want %v", q, got, newestFirst)
		}
	}
	if got, want := searchAll(t, s, AuditQuery{Decision: domain.DecisionBlock, Limit: 2}), newestFirst[:5]; !slices.Equal(got, want) {
		t.Errorf("BLOCKs: %v, want %v", got, want)
	}
}

// oldSchema is the audit table and indexes of an index file written before
// the audit table held the orders.v1 position.
const oldSchema = `
CREATE TABLE audit (
	id INTEGER PRIMARY KEY, part INTEGER NOT NULL, off INTEGER NOT NULL,
	ts INTEGER NOT NULL, decision TEXT NOT NULL, order_id TEXT NOT NULL,
	account_id TEXT NOT NULL, symbol TEXT NOT NULL, strategy TEXT NOT NULL, corr_id TEXT NOT NULL,
	record TEXT NOT NULL, UNIQUE (part, off));
CREATE INDEX audit_ts ON audit (ts, id);
CREATE INDEX audit_account ON audit (account_id, ts, id);
CREATE INDEX audit_symbol ON audit (symbol, ts, id);
CREATE INDEX audit_strategy ON audit (strategy, ts, id);
CREATE INDEX audit_decision ON audit (decision, ts, id);
CREATE INDEX audit_order ON audit (order_id);
CREATE INDEX audit_corr ON audit (corr_id, ts, id) WHERE corr_id != '';
`

// TestOpenAddsOrdersPositionToAnOldFile: opening an index file from before
// gives its audit table the orders.v1 position of every stored record and
// the indexes that order by it, drops the old indexes, and its searches
// then list ties as a new file's do, records indexed before and after
// alike.
func TestOpenAddsOrdersPositionToAnOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.sqlite")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(oldSchema); err != nil {
		t.Fatal(err)
	}
	entries := burst()
	for _, e := range entries[:6] {
		js, err := json.Marshal(e.Record)
		if err != nil {
			t.Fatal(err)
		}
		r := e.Record
		if _, err := db.Exec(`INSERT INTO audit (part, off, ts, decision, order_id, account_id, symbol, strategy, corr_id, record)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Partition, e.Offset, r.TS, string(r.Decision), r.OrderID, r.AccountID,
			r.Symbol, r.Strategy, r.CorrID, string(js)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(context.Background(), &Batch{Audit: entries[6:]}); err != nil {
		t.Fatal(err)
	}
	if got := searchAll(t, s, AuditQuery{Account: "55701", Limit: 3}); !slices.Equal(got, newestFirst) {
		t.Errorf("after the upgrade: %v, want %v", got, newestFirst)
	}
	var old int
	if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN
		('audit_ts', 'audit_account', 'audit_symbol', 'audit_strategy', 'audit_decision', 'audit_corr')`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if old != 0 {
		t.Errorf("%d indexes of the old order left", old)
	}
	// A search's plan reads an index in order: no sorting of the table.
	var plan []string
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN SELECT id, ts, opart, ooff, record FROM audit WHERE account_id = ?
		AND (ts, opart, ooff, id) < (?, ?, ?, ?) ORDER BY ts DESC, opart DESC, ooff DESC, id DESC LIMIT 10`, "55701", 1, 2, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) != 1 || !strings.HasPrefix(plan[0], "SEARCH audit USING INDEX audit_seq_account (account_id=? AND (ts,opart,ooff") {
		t.Errorf("query plan %q: want one search of audit_seq_account, in its order", plan)
	}

	// Opening it again changes nothing.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}
