package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/report"
)

// The report counts the day's BLOCKs by limit and scope, with the first and
// last block of each, in its JSON, a CSV and the HTML page; blocks of
// another day and the other decisions are left out.
func TestBlocksByLimit(t *testing.T) {
	db := loadDay(t)
	at := func(h, m, s int) int64 { return time.Date(2026, 3, 10, h, m, s, 0, time.UTC).UnixMilli() }
	block := func(ts int64, account, limit string) domain.AuditRecord {
		return domain.AuditRecord{TS: ts, Decision: domain.DecisionBlock, OrderID: "blk-" + time.UnixMilli(ts).Format("150405.000"),
			AccountID: account, Symbol: "AAPL", Strategy: "VWAP", KillswitchStatus: domain.StatusActive, Service: "router",
			Limit: limit, LimitValue: 101, LimitsVersion: 0}
	}
	const count, collar = "ACCOUNT:12345 max_orders=100/60s", "SYMBOL:AAPL collar_pct=10"
	recs := []domain.AuditRecord{
		block(at(9, 0, 3), "12345", count),
		block(at(9, 0, 1), "12345", count),
		block(at(9, 0, 2), "12345", count),
		block(at(14, 30, 0), "555", collar),
		block(time.Date(2026, 3, 9, 23, 59, 59, 0, time.UTC).UnixMilli(), "12345", count), // the day before
	}
	var b index.Batch
	for i, r := range recs {
		b.Audit = append(b.Audit, index.AuditEntry{Pos: index.Pos{Partition: 9, Offset: int64(i)}, Record: r})
	}
	if err := db.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	day, _ := report.ParseDate("2026-03-10", nil)
	r, err := report.Build(context.Background(), db, day, report.Options{Now: func() time.Time { return time.Date(2026, 3, 11, 1, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalBlocks != 4 || r.TotalDrops != 97 {
		t.Errorf("total blocks %d drops %d, want 4 and 97", r.TotalBlocks, r.TotalDrops)
	}
	want := []report.Block{
		{Scope: "ACCOUNT:12345", Limit: "max_orders=100/60s", Count: 3, First: time.UnixMilli(at(9, 0, 1)).UTC(), Last: time.UnixMilli(at(9, 0, 3)).UTC()},
		{Scope: "SYMBOL:AAPL", Limit: "collar_pct=10", Count: 1, First: time.UnixMilli(at(14, 30, 0)).UTC(), Last: time.UnixMilli(at(14, 30, 0)).UTC()},
	}
	if len(r.Blocks) != len(want) {
		t.Fatalf("blocks %+v, want %+v", r.Blocks, want)
	}
	for i, w := range want {
		g := r.Blocks[i]
		if g.Scope != w.Scope || g.Limit != w.Limit || g.Count != w.Count || !g.First.Equal(w.First) || !g.Last.Equal(w.Last) {
			t.Errorf("block %d = %+v, want %+v", i, g, w)
		}
	}

	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch {
		case strings.HasSuffix(f.Name, "-blocks.csv"):
			rows, err := csv.NewReader(bytes.NewReader(f.Body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 3 || strings.Join(rows[1], ",") != "2026-03-10,max_orders=100/60s,ACCOUNT:12345,3,2026-03-10T09:00:01.000Z,2026-03-10T09:00:03.000Z" {
				t.Errorf("blocks CSV %q", rows)
			}
		case strings.HasSuffix(f.Name, ".html"):
			html := string(f.Body)
			for _, s := range []string{"Blocks by limit", `id="total-blocks">4<`, "<code>max_orders=100/60s</code></td><td>ACCOUNT:12345</td><td class=\"n\">3</td>", "collar_pct=10"} {
				if !strings.Contains(html, s) {
					t.Errorf("HTML lacks %q", s)
				}
			}
		}
	}
}
