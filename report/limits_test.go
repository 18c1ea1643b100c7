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

// The report lists the day's changes of limits — who asked, who approved,
// why, old → new — in its JSON, a CSV and the HTML page next to the blocks
// by limit; a retried publish counts once, another day's changes not at all.
func TestLimitChanges(t *testing.T) {
	db := loadDay(t)
	at := func(h, m int) int64 { return time.Date(2026, 3, 10, h, m, 0, 0, time.UTC).UnixMilli() }
	n := func(v int64) *int64 { return &v }
	f := func(v float64) *float64 { return &v }
	cmds := []domain.LimitsCommand{
		{CmdID: "c1", TS: at(9, 0), Scope: "ACCOUNT:12345", Action: domain.LimitsSet, Operator: "olga", Identity: domain.IdentityVerified,
			Reason: "desk asked", New: domain.LimitValues{MaxOrders: n(200), CreditLimit: f(5e6)}, Version: 1},
		{CmdID: "c1", TS: at(9, 0), Scope: "ACCOUNT:12345", Action: domain.LimitsSet, Operator: "olga", Identity: domain.IdentityVerified,
			Reason: "desk asked", New: domain.LimitValues{MaxOrders: n(200), CreditLimit: f(5e6)}, Version: 1}, // retried publish
		{CmdID: "c2", TS: at(10, 0), Scope: "ACCOUNT:12345", Action: domain.LimitsRequest, Operator: "ada", Reason: "big day",
			Old: domain.LimitValues{MaxOrders: n(200)}, New: domain.LimitValues{MaxOrders: n(200)}, ExpiresAt: at(10, 10)},
		{CmdID: "c3", TS: at(10, 5), Scope: "ACCOUNT:12345", Action: domain.LimitsApprove, Operator: "ada", ApprovedBy: "adam",
			Reason: "=checked", Old: domain.LimitValues{MaxOrders: n(200), CreditLimit: f(5e6)}, New: domain.LimitValues{MaxOrders: n(5000)}, Version: 2},
		{CmdID: "c4", TS: at(11, 0), Scope: "SYMBOL:AAPL", Action: domain.LimitsRestrict, Operator: "olga", Reason: "news",
			New: domain.LimitValues{Restricted: new(true)}, Version: 1},
		{CmdID: "c0", TS: time.Date(2026, 3, 9, 23, 0, 0, 0, time.UTC).UnixMilli(), Scope: "ACCOUNT:1", Action: domain.LimitsSet,
			Operator: "olga", Reason: "yesterday", New: domain.LimitValues{MaxOrders: n(5)}},
	}
	var b index.Batch
	for i, c := range cmds {
		b.Limits = append(b.Limits, index.LimitsCommandEntry{Pos: index.Pos{Partition: 1, Offset: int64(i)}, Command: c})
	}
	if err := db.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	day, _ := report.ParseDate("2026-03-10", nil)
	r, err := report.Build(context.Background(), db, day, report.Options{Now: func() time.Time { return time.Date(2026, 3, 11, 1, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range r.LimitChanges {
		got = append(got, c.CmdID+" "+string(c.Action)+" "+c.Operator+"/"+c.ApprovedBy+": "+strings.Join(c.Changes, ", "))
	}
	want := []string{
		"c1 SET olga/: credit_limit default → 5000000, max_orders default → 200",
		"c2 REQUEST ada/: ",
		"c3 APPROVE ada/adam: credit_limit 5000000 → default, max_orders 200 → 5000",
		"c4 RESTRICT olga/: restricted default → true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("limit changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !r.LimitChanges[1].Until.Equal(time.UnixMilli(at(10, 10))) {
		t.Errorf("request's approval window ends %v", r.LimitChanges[1].Until)
	}

	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	var sawCSV bool
	for _, f := range files {
		switch {
		case strings.HasSuffix(f.Name, "-limit-changes.csv"):
			sawCSV = true
			rows, err := csv.NewReader(bytes.NewReader(f.Body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 5 || rows[3][3] != "APPROVE" || rows[3][5] != "adam" || rows[3][7] != "'=checked" ||
				rows[3][8] != "credit_limit 5000000 → default; max_orders 200 → 5000" {
				t.Errorf("limit changes CSV %q", rows)
			}
		case strings.HasSuffix(f.Name, ".html"):
			html := string(f.Body)
			blocks, changes := strings.Index(html, "<h2>Blocks by limit</h2>"), strings.Index(html, "<h2>Limit changes</h2>")
			if blocks < 0 || changes < blocks {
				t.Errorf("HTML: the limit changes do not follow the blocks by limit")
			}
			for _, s := range []string{`id="limit-changes-count">4<`, "<code>max_orders 200 → 5000</code>", "<td>adam</td>", "no change", "=checked"} {
				if !strings.Contains(html, s) {
					t.Errorf("HTML lacks %q", s)
				}
			}
		}
	}
	if !sawCSV {
		t.Error("no limit changes CSV among the files")
	}
}
