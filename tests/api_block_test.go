package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// blockLimit is the limit the seeded BLOCKs name, as the router writes it.
const blockLimit = "ACCOUNT:A1 max_orders=100/60s"

// seedBlocks adds to seed's records three BLOCKs of account A1 (b-0..b-2,
// after o-29), the 101st to 103rd orders of its window.
func (h *apiHarness) seedBlocks() {
	h.t.Helper()
	h.seed()
	var b index.Batch
	for i := range 3 {
		b.Audit = append(b.Audit, index.AuditEntry{Pos: index.Pos{Partition: 1, Offset: int64(i)}, Record: domain.AuditRecord{
			TS: seedTS + int64(30+i)*1000, Decision: domain.DecisionBlock, OrderID: fmt.Sprintf("b-%d", i),
			AccountID: "A1", Symbol: "ACME", Strategy: "mm", KillswitchStatus: domain.StatusActive, Service: "router",
			Reason: "pre-trade limit", Limit: blockLimit, LimitValue: float64(101 + i), LimitsVersion: 4,
		}})
	}
	if err := h.idx.Apply(context.Background(), &b); err != nil {
		h.t.Fatal(err)
	}
}

// The audit search, the demo's /audit and the order lookup understand BLOCK:
// filter by it, return the limit, its value and the limits' version, and
// name the limit of a BLOCKed order as they name the kill of a DROPped one.
// Every response is checked against the OpenAPI document by the harness.
func TestAPIBlockDecisions(t *testing.T) {
	seed := func(h *apiHarness) { h.seedBlocks() }
	page := func(t *testing.T, body string) index.AuditPage { return decodeAs[index.AuditPage](t, body) }
	wantBlocks := func(t *testing.T, recs []domain.AuditRecord) {
		t.Helper()
		if len(recs) != 3 {
			t.Fatalf("%d records, want the 3 BLOCKs: %+v", len(recs), recs)
		}
		for i, r := range recs {
			want := float64(103 - i) // newest first
			if r.Decision != domain.DecisionBlock || r.Limit != blockLimit || r.LimitValue != want || r.LimitsVersion != 4 {
				t.Errorf("record %d: %+v", i, r)
			}
		}
	}
	runAPICases(t, []apiCase{
		{name: "search by BLOCK", setup: seed, method: "GET", path: "/v1/audit?decision=BLOCK", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) { wantBlocks(t, page(t, body).Records) }},
		{name: "search by block, any case", setup: seed, method: "GET", path: "/v1/audit?decision=block&account=A1", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) { wantBlocks(t, page(t, body).Records) }},
		{name: "BLOCK fields on the wire", setup: seed, method: "GET", path: "/v1/audit?decision=BLOCK&limit=1", who: "vera", status: 200,
			contains: []string{`"decision":"BLOCK"`, `"limit":"` + blockLimit + `"`, `"limit_value":103`, `"limits_version":4`}},
		{name: "DROPs carry no limit", setup: seed, method: "GET", path: "/v1/audit?decision=DROP&limit=1000", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				p := page(t, body)
				if len(p.Records) != 10 {
					t.Fatalf("%d DROPs, want 10", len(p.Records))
				}
				if strings.Contains(body, `"limit"`) {
					t.Errorf("a DROP names a limit: %s", body)
				}
			}},
		{name: "demo audit by BLOCK", setup: seed, method: "GET", path: "/audit?decision=BLOCK", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) { wantBlocks(t, decodeAs[[]domain.AuditRecord](t, body)) }},
		{name: "bad decision names BLOCK", method: "GET", path: "/v1/audit?decision=BLOCKED", who: "vera", status: 400,
			contains: []string{"REJECT or BLOCK"}},
		{name: "order lookup names the limit", setup: seed, method: "GET", path: "/v1/orders/b-1", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.OrderDetail](t, body)
				if d.Decision != domain.DecisionBlock || d.Limit != blockLimit || d.Cause != nil || len(d.Records) != 1 || d.Records[0].LimitValue != 102 {
					t.Errorf("order detail %+v", d)
				}
			}},
		{name: "order lookup of a DROP names no limit", setup: seed, method: "GET", path: "/v1/orders/o-00", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.OrderDetail](t, body)
				if d.Decision != domain.DecisionDrop || d.Limit != "" || d.Cause == nil {
					t.Errorf("order detail %+v", d)
				}
			}},
	})
	t.Run("rates count BLOCKs apart", func(t *testing.T) {
		h := newAPIHarness(t)
		h.seedBlocks()
		rs, err := h.idx.Rates(context.Background(), seedTS)
		if err != nil {
			t.Fatal(err)
		}
		var block, other int64
		for _, r := range rs {
			block += r.Block
			other += r.Other
		}
		if block != 3 || other != 0 {
			t.Fatalf("rates count %d BLOCKs and %d others, want 3 and 0: %+v", block, other, rs)
		}
	})
}
