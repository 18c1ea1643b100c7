package report

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// Block counts the day's orders BLOCKed by one pre-trade limit of one scope
// (DESIGN §9): the orders a control stopped before they left the firm, as
// RTS 6 Art. 15 and SEC 15c3-5 (c)(1) want recorded.
type Block struct {
	// Scope is the limit's scope, e.g. ACCOUNT:12345.
	Scope domain.Scope `json:"scope"`
	// Limit is the limit as the router named it without its scope, e.g.
	// "max_orders=100/60s".
	Limit string `json:"limit"`
	Count int64  `json:"count"`
	// First and Last are the times of the first and last block.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// countBlocks pages through the day's BLOCK records once: the total and
// the count per limit and scope, most blocks first.
func (b *builder) countBlocks(ctx context.Context) error {
	rep := b.rep
	q := index.AuditQuery{Decision: domain.DecisionBlock, Since: rep.From.UnixMilli(), Until: rep.To.UnixMilli(), Limit: 1000}
	by := map[string]*Block{}
	for {
		page, err := b.r.Audit(ctx, q)
		if err != nil {
			return fmt.Errorf("report %s: read blocks: %w", rep.Date, err)
		}
		for _, a := range page.Records {
			ts := time.UnixMilli(a.TS).In(b.loc)
			rep.TotalBlocks++
			bl := by[a.Limit]
			if bl == nil {
				sc, lim := domain.SplitLimit(a.Limit)
				bl = &Block{Scope: sc, Limit: lim, First: ts, Last: ts}
				by[a.Limit] = bl
			}
			bl.Count++
			if ts.Before(bl.First) {
				bl.First = ts
			}
			if ts.After(bl.Last) {
				bl.Last = ts
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	for _, bl := range by {
		rep.Blocks = append(rep.Blocks, *bl)
	}
	sort.Slice(rep.Blocks, func(i, j int) bool {
		x, y := rep.Blocks[i], rep.Blocks[j]
		if x.Count != y.Count {
			return x.Count > y.Count
		}
		if x.Scope != y.Scope {
			return x.Scope < y.Scope
		}
		return x.Limit < y.Limit
	})
	return nil
}

func (r *Report) blockRows() [][]string {
	rows := [][]string{{"date", "limit", "scope", "count", "first", "last"}}
	for _, b := range r.Blocks {
		rows = append(rows, []string{r.Date, csvSafe(b.Limit), string(b.Scope), strconv.FormatInt(b.Count, 10),
			fmtTime(b.First), fmtTime(b.Last)})
	}
	return rows
}
