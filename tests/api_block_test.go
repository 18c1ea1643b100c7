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

// resubmittedLimit is the limit r-1's BLOCK names: a default limit
// (limits version 0) crossed by a fat-finger quantity.
const resubmittedLimit = "ACCOUNT:A3 max_order_qty=100000"

// seedResubmissions adds to seedBlocks' records orders whose first record
// the router REJECTed (keyed by another account), submitted again under
// the same order id: r-1 then BLOCKed (qty 1e9 against a default limit),
// r-2 then DROPped by seed's kill (corr-1) and sent a third time
// (DUPLICATE), r-3 then ALLOWed and sent a third time, r-4 REJECTed twice.
func (h *apiHarness) seedResubmissions() {
	h.t.Helper()
	h.seedBlocks()
	reject := domain.AuditRecord{Decision: domain.DecisionReject, AccountID: "A3", Symbol: "ACME", Strategy: "mm",
		Service: "router", Reason: `orders.v1 records must be keyed by their account_id: record key "x" is not the account_id "A3"`}
	decided := func(d domain.Decision) domain.AuditRecord {
		return domain.AuditRecord{Decision: d, AccountID: "A3", Symbol: "ACME", Strategy: "mm",
			KillswitchStatus: domain.StatusActive, Service: "router"}
	}
	block := decided(domain.DecisionBlock)
	block.Reason, block.Limit, block.LimitValue = "the order would cross a pre-trade limit", resubmittedLimit, 1e9
	drop := decided(domain.DecisionDrop)
	drop.CorrID, drop.KillswitchStatus, drop.Reason = "corr-1", domain.StatusKilled, "ACCOUNT:A1 KILLED"
	dup := decided(domain.DecisionDuplicate)
	orders := map[string][]domain.AuditRecord{
		"r-1": {reject, block},
		"r-2": {reject, drop, dup},
		"r-3": {reject, decided(domain.DecisionAllow), dup},
		"r-4": {reject, reject},
	}
	var b index.Batch
	off := int64(0)
	for id, recs := range orders {
		for i, rec := range recs {
			rec.OrderID, rec.TS = id, seedTS+int64(40+i)*1000
			b.Audit = append(b.Audit, index.AuditEntry{Pos: index.Pos{Partition: 2, Offset: off}, Record: rec})
			off++
		}
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
	resubmitted := func(h *apiHarness) { h.seedResubmissions() }
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
		{name: "a BLOCK after a REJECT is the order's decision", setup: resubmitted, method: "GET", path: "/v1/orders/r-1", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.OrderDetail](t, body)
				if d.Decision != domain.DecisionBlock || d.Limit != resubmittedLimit || d.Cause != nil || len(d.Records) != 2 ||
					d.Records[0].Decision != domain.DecisionReject {
					t.Errorf("order detail %+v", d)
				}
			}},
		{name: "a DROP after a REJECT names its kill", setup: resubmitted, method: "GET", path: "/v1/orders/r-2", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.OrderDetail](t, body)
				if d.Decision != domain.DecisionDrop || d.Limit != "" || d.Cause == nil || d.Cause.CmdID != "cmd-1" || len(d.Records) != 3 {
					t.Errorf("order detail %+v", d)
				}
			}},
		{name: "an ALLOW after a REJECT, then a DUPLICATE", setup: resubmitted, method: "GET", path: "/v1/orders/r-3", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.OrderDetail](t, body)
				if d.Decision != domain.DecisionAllow || d.Limit != "" || d.Cause != nil || len(d.Records) != 3 {
					t.Errorf("order detail %+v", d)
				}
			}},
		{name: "REJECTed every time", setup: resubmitted, method: "GET", path: "/v1/orders/r-4", who: "vera", status: 200,
			check: func(t *testing.T, h *apiHarness, body string) {
				d := decodeAs[api.OrderDetail](t, body)
				if d.Decision != domain.DecisionReject || d.Limit != "" || d.Cause != nil || len(d.Records) != 2 {
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
