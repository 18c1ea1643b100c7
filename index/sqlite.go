package index

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/retry"
)

// SQLite is the embedded index: one SQLite file (WAL mode), written by one
// indexer and read by any number of API processes on the same host.
type SQLite struct {
	db *sql.DB
}

var _ Index = (*SQLite)(nil)

// FileName is the index's file name inside a data directory.
const FileName = "audit-index.sqlite"

// OpenDir opens (creating if needed) the index file in a data directory.
func OpenDir(dir string) (*SQLite, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create index dir %s: %w", dir, err)
	}
	return Open(filepath.Join(dir, FileName))
}

// Open opens (creating if needed) the SQLite index at path.
func Open(path string) (*SQLite, error) {
	q := url.Values{}
	// The busy timeout first: switching to WAL takes a lock that another
	// process opening the same file (API and indexer at start) may hold.
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &SQLite{db: db}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Ping implements Reader.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping index: %w", err)
	}
	return nil
}

// Every table keys its rows by the record's topic position, so a record can
// only ever be stored once even if positions were lost.
//
// An audit row also holds the orders.v1 position its record names (opart,
// ooff), which orders the records of one millisecond: audit.v1 is keyed by
// order_id, so one account's records spread over its partitions and reach
// the index in no particular order, while all of an account's orders are
// in one orders.v1 partition, in the order the router decided them.
const schema = `
CREATE TABLE IF NOT EXISTS positions (
	topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL,
	PRIMARY KEY (topic, part));
CREATE TABLE IF NOT EXISTS audit (
	id INTEGER PRIMARY KEY, part INTEGER NOT NULL, off INTEGER NOT NULL,
	ts INTEGER NOT NULL, decision TEXT NOT NULL, order_id TEXT NOT NULL,
	account_id TEXT NOT NULL, symbol TEXT NOT NULL, strategy TEXT NOT NULL, corr_id TEXT NOT NULL,
	record TEXT NOT NULL, opart INTEGER NOT NULL DEFAULT 0, ooff INTEGER NOT NULL DEFAULT 0,
	UNIQUE (part, off));
CREATE TABLE IF NOT EXISTS commands (
	id INTEGER PRIMARY KEY, part INTEGER NOT NULL, off INTEGER NOT NULL,
	ts INTEGER NOT NULL, scope TEXT NOT NULL, corr_id TEXT NOT NULL, action TEXT NOT NULL,
	record TEXT NOT NULL, UNIQUE (part, off));
CREATE INDEX IF NOT EXISTS commands_scope ON commands (scope, ts, id);
CREATE INDEX IF NOT EXISTS commands_corr ON commands (corr_id, ts, id);
CREATE INDEX IF NOT EXISTS commands_ts ON commands (ts, id);
CREATE TABLE IF NOT EXISTS states (
	id INTEGER PRIMARY KEY, part INTEGER NOT NULL, off INTEGER NOT NULL,
	scope TEXT NOT NULL, version INTEGER NOT NULL, ts INTEGER NOT NULL,
	record TEXT NOT NULL, UNIQUE (part, off));
CREATE INDEX IF NOT EXISTS states_scope ON states (scope, version);
CREATE TABLE IF NOT EXISTS signals (
	id INTEGER PRIMARY KEY, part INTEGER NOT NULL, off INTEGER NOT NULL,
	ts INTEGER NOT NULL, scope TEXT NOT NULL, breaching INTEGER NOT NULL,
	record TEXT NOT NULL, UNIQUE (part, off));
CREATE INDEX IF NOT EXISTS signals_scope ON signals (scope, ts, id);
CREATE INDEX IF NOT EXISTS signals_ts ON signals (ts, id);
`

// auditIndexes are the audit table's indexes, created once its orders.v1
// position columns exist (auditOrderColumns). Searches read them newest
// first in (ts, opart, ooff, id) order.
const auditIndexes = `
CREATE INDEX IF NOT EXISTS audit_seq_ts ON audit (ts, opart, ooff, id);
CREATE INDEX IF NOT EXISTS audit_seq_account ON audit (account_id, ts, opart, ooff, id);
CREATE INDEX IF NOT EXISTS audit_seq_symbol ON audit (symbol, ts, opart, ooff, id);
CREATE INDEX IF NOT EXISTS audit_seq_strategy ON audit (strategy, ts, opart, ooff, id);
CREATE INDEX IF NOT EXISTS audit_seq_decision ON audit (decision, ts, opart, ooff, id);
CREATE INDEX IF NOT EXISTS audit_order ON audit (order_id);
CREATE INDEX IF NOT EXISTS audit_seq_corr ON audit (corr_id, ts, opart, ooff, id) WHERE corr_id != '';
DROP INDEX IF EXISTS audit_ts;
DROP INDEX IF EXISTS audit_account;
DROP INDEX IF EXISTS audit_symbol;
DROP INDEX IF EXISTS audit_strategy;
DROP INDEX IF EXISTS audit_decision;
DROP INDEX IF EXISTS audit_corr;
`

// auditOrderColumns adds the orders.v1 position columns to an audit table
// created before they were, filling them from the stored records (which
// have always carried the position), in the schema's transaction.
func auditOrderColumns(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('audit') WHERE name = 'ooff'`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
ALTER TABLE audit ADD COLUMN opart INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit ADD COLUMN ooff INTEGER NOT NULL DEFAULT 0;
UPDATE audit SET opart = coalesce(json_extract(record, '$.partition'), 0),
	ooff = coalesce(json_extract(record, '$.offset'), 0);`)
	return err
}

// migrate creates what is missing of the schema, in one immediate
// transaction (_txlock): BEGIN IMMEDIATE takes the write lock before the
// schema is read, waiting for it within the busy timeout.
//
// Two processes opening a new file together (the API and the indexer at
// start) can still be told SQLITE_BUSY at once, without the busy timeout:
// a new connection switches the file to WAL, and SQLite refuses rather
// than waits where waiting could deadlock. So a busy answer is retried
// for as long as the busy timeout, and any other error is returned.
func (s *SQLite) migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, busyTimeout)
	defer cancel()
	var last error
	err := retry.Do(ctx, migrateRetry, 0, func() error {
		last = s.createSchema(ctx)
		if last != nil && !isBusy(last) {
			return retry.Permanent(last)
		}
		return last
	}, nil)
	if err != nil {
		return fmt.Errorf("create schema: %w", cmp.Or(last, err))
	}
	return nil
}

// busyTimeout is how long a connection waits for another one's lock.
const busyTimeout = 10 * time.Second

// migrateRetry spaces the schema's attempts while another process holds
// the file: a few milliseconds at first, as another opening takes.
var migrateRetry = retry.Policy{Initial: 5 * time.Millisecond, Max: 200 * time.Millisecond}

func (s *SQLite) createSchema(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema+limitsSchema); err != nil {
		return err
	}
	if err := auditOrderColumns(ctx, tx); err != nil {
		return fmt.Errorf("add the orders.v1 position to the audit table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, auditIndexes); err != nil {
		return err
	}
	return tx.Commit()
}

// isBusy reports SQLite's SQLITE_BUSY, extended codes included.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Positions implements Writer.
func (s *SQLite) Positions(ctx context.Context) (map[string]map[int32]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT topic, part, next FROM positions`)
	if err != nil {
		return nil, fmt.Errorf("read index positions: %w", err)
	}
	defer rows.Close()
	out := make(map[string]map[int32]int64)
	for rows.Next() {
		var (
			topic string
			part  int32
			next  int64
		)
		if err := rows.Scan(&topic, &part, &next); err != nil {
			return nil, fmt.Errorf("read index positions: %w", err)
		}
		if out[topic] == nil {
			out[topic] = make(map[int32]int64)
		}
		out[topic][part] = next
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read index positions: %w", err)
	}
	return out, nil
}

// Apply implements Writer: one transaction for the records and positions.
func (s *SQLite) Apply(ctx context.Context, b *Batch) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply index batch: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := insertEach(ctx, tx, `INSERT OR IGNORE INTO audit
		(part, off, ts, decision, order_id, account_id, symbol, strategy, corr_id, opart, ooff, record)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.Audit,
		func(e *AuditEntry) (any, []any) {
			r := &e.Record
			return r, []any{e.Partition, e.Offset, r.TS, string(r.Decision), r.OrderID, r.AccountID, r.Symbol, r.Strategy, r.CorrID,
				max(r.Partition, 0), max(r.Offset, 0)}
		},
		func(e *AuditEntry) string {
			return fmt.Sprintf("audit record %s at %d/%d", e.Record.OrderID, e.Partition, e.Offset)
		}); err != nil {
		return err
	}
	if err := insertEach(ctx, tx, `INSERT OR IGNORE INTO commands
		(part, off, ts, scope, corr_id, action, record) VALUES (?, ?, ?, ?, ?, ?, ?)`, b.Commands,
		func(e *CommandEntry) (any, []any) {
			c := &e.Command
			return c, []any{e.Partition, e.Offset, c.TS, string(c.Scope), c.CorrID, string(c.Action)}
		},
		func(e *CommandEntry) string {
			return fmt.Sprintf("command %s for %s", e.Command.CmdID, e.Command.Scope)
		}); err != nil {
		return err
	}
	if err := insertEach(ctx, tx, `INSERT OR IGNORE INTO states
		(part, off, scope, version, ts, record) VALUES (?, ?, ?, ?, ?, ?)`, b.States,
		func(e *StateEntry) (any, []any) {
			v := &e.State
			return v, []any{e.Partition, e.Offset, string(v.Scope), v.Version, v.UpdatedTS}
		},
		func(e *StateEntry) string { return fmt.Sprintf("state of %s v%d", e.State.Scope, e.State.Version) }); err != nil {
		return err
	}
	if err := insertEach(ctx, tx, `INSERT OR IGNORE INTO signals
		(part, off, ts, scope, breaching, record) VALUES (?, ?, ?, ?, ?, ?)`, b.Signals,
		func(e *SignalEntry) (any, []any) {
			g := &e.Signal
			breaching := 0
			if len(g.Breaches) > 0 {
				breaching = 1
			}
			return g, []any{e.Partition, e.Offset, g.TS, string(g.Scope), breaching}
		},
		func(e *SignalEntry) string { return fmt.Sprintf("signal of %s", e.Signal.Scope) }); err != nil {
		return err
	}
	if err := applyLimits(ctx, tx, b.Limits); err != nil {
		return err
	}
	for topic, parts := range b.Next {
		for p, next := range parts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO positions (topic, part, next) VALUES (?, ?, ?)
				ON CONFLICT (topic, part) DO UPDATE SET next = max(next, excluded.next)`, topic, p, next); err != nil {
				return fmt.Errorf("advance index position %s/%d: %w", topic, p, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit index batch: %w", err)
	}
	return nil
}

// insertEach runs one prepared INSERT per entry of a batch: row gives the
// record, stored as JSON in the last column, and the columns before it; name
// says which record an error is about.
func insertEach[E any](ctx context.Context, tx *sql.Tx, query string, entries []E,
	row func(*E) (record any, cols []any), name func(*E) string) error {
	if len(entries) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("apply index batch: %w", err)
	}
	defer st.Close()
	for i := range entries {
		e := &entries[i]
		record, cols := row(e)
		js, err := json.Marshal(record)
		if err != nil {
			return fmt.Errorf("encode %s: %w", name(e), err)
		}
		if _, err := st.ExecContext(ctx, append(cols, string(js))...); err != nil {
			return fmt.Errorf("index %s: %w", name(e), err)
		}
	}
	return nil
}

// cursor is an audit page boundary: the (ts, opart, ooff, id) of the last
// record returned, in the order searches list records.
type cursor struct {
	ts, opart, ooff, id int64
}

func (c cursor) String() string {
	b := strconv.AppendInt(nil, c.ts, 10)
	for _, v := range []int64{c.opart, c.ooff, c.id} {
		b = strconv.AppendInt(append(b, '.'), v, 10)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseCursor reads a cursor. One of two numbers (ts.id) is a page
// boundary from before searches ordered a millisecond's records by their
// orders.v1 position: it continues from the start of its millisecond, so a
// search paged across an upgrade may list a few records twice but skips
// none.
func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrBadCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 2 && len(parts) != 4 {
		return cursor{}, ErrBadCursor
	}
	var v [4]int64
	for i, p := range parts {
		if v[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return cursor{}, ErrBadCursor
		}
	}
	if len(parts) == 2 {
		return cursor{ts: v[0], opart: math.MaxInt64, ooff: math.MaxInt64, id: math.MaxInt64}, nil
	}
	return cursor{v[0], v[1], v[2], v[3]}, nil
}

// Audit implements Reader.
func (s *SQLite) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	limit := ClampLimit(q.Limit, 100, 1000)
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if q.Account != "" {
		add("account_id = ?", q.Account)
	}
	if q.Symbol != "" {
		add("symbol = ?", q.Symbol)
	}
	if q.Strategy != "" {
		add("strategy = ?", q.Strategy)
	}
	if q.Decision != "" {
		add("decision = ?", string(q.Decision))
	}
	if q.CorrID != "" {
		add("corr_id = ?", q.CorrID)
	}
	if q.Since > 0 {
		add("ts >= ?", q.Since)
	}
	if q.Until > 0 {
		add("ts < ?", q.Until)
	}
	if q.Cursor != "" {
		c, err := parseCursor(q.Cursor)
		if err != nil {
			return AuditPage{}, err
		}
		where = append(where, "(ts, opart, ooff, id) < (?, ?, ?, ?)")
		args = append(args, c.ts, c.opart, c.ooff, c.id)
	}
	sqlq := "SELECT id, ts, opart, ooff, record FROM audit"
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += " ORDER BY ts DESC, opart DESC, ooff DESC, id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return AuditPage{}, fmt.Errorf("search audit: %w", err)
	}
	defer rows.Close()
	page := AuditPage{Records: []domain.AuditRecord{}}
	var last cursor
	for rows.Next() {
		var (
			c   cursor
			raw string
		)
		if err := rows.Scan(&c.id, &c.ts, &c.opart, &c.ooff, &raw); err != nil {
			return AuditPage{}, fmt.Errorf("search audit: %w", err)
		}
		if len(page.Records) == limit {
			page.Next = last.String()
			break
		}
		var r domain.AuditRecord
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return AuditPage{}, fmt.Errorf("decode indexed audit record %d: %w", c.id, err)
		}
		page.Records = append(page.Records, r)
		last = c
	}
	if err := rows.Err(); err != nil {
		return AuditPage{}, fmt.Errorf("search audit: %w", err)
	}
	return page, nil
}

// Order implements Reader.
func (s *SQLite) Order(ctx context.Context, orderID string) ([]domain.AuditRecord, error) {
	out, err := queryJSON[domain.AuditRecord](ctx, s.db,
		`SELECT record FROM audit WHERE order_id = ? ORDER BY ts, opart, ooff, id LIMIT 100`, orderID)
	if err != nil {
		return nil, fmt.Errorf("look up order %s: %w", orderID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("order %s: %w", orderID, ErrNotFound)
	}
	return out, nil
}

// Commands implements Reader.
func (s *SQLite) Commands(ctx context.Context, q CommandQuery) ([]domain.Command, error) {
	var c conds
	if q.Scope != "" {
		c.add("scope = ?", string(q.Scope))
	}
	if q.CorrID != "" {
		c.add("corr_id = ?", q.CorrID)
	}
	if q.Since > 0 {
		c.add("ts >= ?", q.Since)
	}
	out, err := newest[domain.Command](ctx, s.db, "commands", c, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("query commands: %w", err)
	}
	return out, nil
}

// Signals implements Reader.
func (s *SQLite) Signals(ctx context.Context, q SignalQuery) ([]domain.RiskSignal, error) {
	var c conds
	if q.Scope != "" {
		c.add("scope = ?", string(q.Scope))
	}
	if q.Breaching {
		c.add("breaching = 1")
	}
	if q.Since > 0 {
		c.add("ts >= ?", q.Since)
	}
	out, err := newest[domain.RiskSignal](ctx, s.db, "signals", c, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("query signals: %w", err)
	}
	return out, nil
}

// States implements Reader.
func (s *SQLite) States(ctx context.Context, scope domain.Scope, limit int) ([]domain.State, error) {
	out, err := queryJSON[domain.State](ctx, s.db,
		`SELECT record FROM states WHERE scope = ? ORDER BY version DESC LIMIT ?`, string(scope), ClampLimit(limit, 100, 1000))
	if err != nil {
		return nil, fmt.Errorf("query states of %s: %w", scope, err)
	}
	return out, nil
}

// InForce implements Reader. A publish that was retried stored its version
// twice; either copy will do.
func (s *SQLite) InForce(ctx context.Context, at int64, status domain.Status) ([]domain.State, error) {
	out, err := queryJSON[domain.State](ctx, s.db, `SELECT record FROM (
			SELECT scope, record, row_number() OVER (PARTITION BY scope ORDER BY version DESC, id DESC) AS newest
			FROM states WHERE ts <= ?)
		WHERE newest = 1 AND (? = '' OR json_extract(record, '$.status') = ?) ORDER BY scope`,
		at, string(status), string(status))
	if err != nil {
		return nil, fmt.Errorf("query states in force at %d: %w", at, err)
	}
	return out, nil
}

// Rates implements Reader.
func (s *SQLite) Rates(ctx context.Context, since int64) ([]Rate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ts / 1000 AS sec, decision, count(*) FROM audit
		WHERE ts >= ? GROUP BY sec, decision ORDER BY sec`, since)
	if err != nil {
		return nil, fmt.Errorf("count decisions: %w", err)
	}
	defer rows.Close()
	var out []Rate
	for rows.Next() {
		var (
			sec, n int64
			dec    string
		)
		if err := rows.Scan(&sec, &dec, &n); err != nil {
			return nil, fmt.Errorf("count decisions: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Second != sec {
			out = append(out, Rate{Second: sec})
		}
		r := &out[len(out)-1]
		switch domain.Decision(dec) {
		case domain.DecisionAllow:
			r.Allow += n
		case domain.DecisionDrop:
			r.Drop += n
		case domain.DecisionThrottle:
			r.Throttle += n
		case domain.DecisionBlock:
			r.Block += n
		default:
			r.Other += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count decisions: %w", err)
	}
	return out, nil
}

// Count returns the number of rows of each kind, for tests and status.
func (s *SQLite) Count(ctx context.Context) (audit, commands, states, signals int64, err error) {
	row := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM audit), (SELECT count(*) FROM commands),
		(SELECT count(*) FROM states), (SELECT count(*) FROM signals)`)
	if err := row.Scan(&audit, &commands, &states, &signals); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("count index rows: %w", err)
	}
	return audit, commands, states, signals, nil
}

// conds are the conditions of a query, ANDed, with their arguments.
type conds struct {
	where []string
	args  []any
}

func (c *conds) add(cond string, args ...any) {
	c.where = append(c.where, cond)
	c.args = append(c.args, args...)
}

// newest reads the records of table that meet c, newest first, at most
// limit of them (default 100, up to 1000).
func newest[T any](ctx context.Context, db *sql.DB, table string, c conds, limit int) ([]T, error) {
	where := strings.Join(append([]string{"1 = 1"}, c.where...), " AND ")
	return queryJSON[T](ctx, db, `SELECT record FROM `+table+` WHERE `+where+` ORDER BY ts DESC, id DESC LIMIT ?`,
		append(c.args, ClampLimit(limit, 100, 1000))...)
}

func queryJSON[T any](ctx context.Context, db *sql.DB, q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("decode indexed record: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, ctx.Err()
	}
	return out, nil
}
