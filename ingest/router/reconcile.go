package router

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
)

// OrderRef locates one orders.v1 record.
type OrderRef struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	OrderID   string `json:"order_id,omitempty"`
}

// String is "partition/offset order_id=…".
func (r OrderRef) String() string {
	s := strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
	if r.OrderID != "" {
		s += " order_id=" + r.OrderID
	}
	return s
}

// ReconcileReport is what Reconcile found. Orders are the orders.v1 records
// whose timestamp is in the range; their audit records, gated orders and
// DLQ records are looked for from the start of the range to the end of
// each topic.
type ReconcileReport struct {
	From, To time.Time
	Orders   int
	// Audited counts orders with exactly one audit record.
	Audited   int
	Decisions map[domain.Decision]int
	// Unreadable counts orders without a readable order_id, which get no
	// audit record; UnreadableInDLQ of them are in orders.dlq.v1.
	Unreadable      int
	UnreadableInDLQ int
	Gated           int

	// Problems.
	MissingAudit     []OrderRef // an order_id but no audit record
	MultipleAudits   []OrderRef // more than one audit record
	AllowedNotGated  []string   // order_ids with more ALLOW audits than gated orders
	GatedNotAllowed  []string   // order_ids with more gated orders than ALLOW audits
	UnreadableNotDLQ []OrderRef // neither audited nor in the DLQ
}

// OK reports whether the report found no problem.
func (r *ReconcileReport) OK() bool { return r.Problems() == 0 }

// Problems counts every problem found.
func (r *ReconcileReport) Problems() int {
	return len(r.MissingAudit) + len(r.MultipleAudits) + len(r.AllowedNotGated) +
		len(r.GatedNotAllowed) + len(r.UnreadableNotDLQ)
}

// Reconcile reads orders.v1, audit.v1, orders.gated.v1 and orders.dlq.v1
// (committed records only) and checks that every order whose record
// timestamp is in [from, to) has exactly one audit record, that every ALLOW
// has its gated order and no order was gated twice.
func Reconcile(ctx context.Context, kc kafka.Config, from, to time.Time) (*ReconcileReport, error) {
	rep := &ReconcileReport{From: from, To: to, Decisions: make(map[domain.Decision]int)}
	fromMS, toMS := from.UnixMilli(), to.UnixMilli()

	type ref struct {
		p int32
		o int64
	}
	ids := make(map[ref]string) // "" when unreadable
	err := readTopic(ctx, kc, domain.TopicOrders, nil, fromMS, func(r *kgo.Record) {
		if ms := r.Timestamp.UnixMilli(); ms < fromMS || ms >= toMS {
			return
		}
		o, _ := domain.DecodeOrder(r.Value)
		ids[ref{r.Partition, r.Offset}] = o.OrderID
	})
	if err != nil {
		return nil, err
	}
	rep.Orders = len(ids)

	audits := make(map[ref]int)
	allows := make(map[string]int)
	var bad error
	err = readTopic(ctx, kc, domain.TopicAudit, nil, fromMS, func(r *kgo.Record) {
		var a domain.AuditRecord
		if err := json.Unmarshal(r.Value, &a); err != nil {
			bad = fmt.Errorf("audit.v1 %d/%d: %w", r.Partition, r.Offset, err)
			return
		}
		k := ref{a.Partition, a.Offset}
		if _, ok := ids[k]; !ok {
			return
		}
		audits[k]++
		rep.Decisions[a.Decision]++
		// Only an ALLOW is gated: a BLOCK, like a DROP, is audited only,
		// and one that was gated shows as gated without an ALLOW.
		if a.Decision == domain.DecisionAllow {
			allows[a.OrderID]++
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}

	inRange := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" {
			inRange[id] = true
		}
	}
	gated := make(map[string]int)
	err = readTopic(ctx, kc, domain.TopicGated, nil, fromMS, func(r *kgo.Record) {
		o, _ := domain.DecodeOrder(r.Value)
		if inRange[o.OrderID] {
			gated[o.OrderID]++
			rep.Gated++
		}
	})
	if err != nil {
		return nil, err
	}

	dlq := make(map[ref]bool)
	err = readTopic(ctx, kc, domain.TopicDLQ, nil, fromMS, func(r *kgo.Record) {
		var k ref
		var topic string
		for _, h := range r.Headers {
			switch h.Key {
			case "source_topic":
				topic = string(h.Value)
			case "source_partition":
				p, _ := strconv.ParseInt(string(h.Value), 10, 32)
				k.p = int32(p)
			case "source_offset":
				k.o, _ = strconv.ParseInt(string(h.Value), 10, 64)
			}
		}
		if topic == domain.TopicOrders {
			dlq[k] = true
		}
	})
	if err != nil {
		return nil, err
	}

	for k, id := range ids {
		n := audits[k]
		switch {
		case n == 1:
			rep.Audited++
		case n > 1:
			rep.MultipleAudits = append(rep.MultipleAudits, OrderRef{k.p, k.o, id})
		case id != "":
			rep.MissingAudit = append(rep.MissingAudit, OrderRef{k.p, k.o, id})
		}
		if id == "" {
			rep.Unreadable++
			if dlq[k] {
				rep.UnreadableInDLQ++
			} else if n == 0 {
				rep.UnreadableNotDLQ = append(rep.UnreadableNotDLQ, OrderRef{k.p, k.o, id})
			}
		}
	}
	for id, n := range allows {
		if gated[id] < n {
			rep.AllowedNotGated = append(rep.AllowedNotGated, id)
		}
	}
	for id, n := range gated {
		if n > allows[id] {
			rep.GatedNotAllowed = append(rep.GatedNotAllowed, id)
		}
	}
	cmpRef := func(a, b OrderRef) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	}
	slices.SortFunc(rep.MissingAudit, cmpRef)
	slices.SortFunc(rep.MultipleAudits, cmpRef)
	slices.SortFunc(rep.UnreadableNotDLQ, cmpRef)
	slices.Sort(rep.AllowedNotGated)
	slices.Sort(rep.GatedNotAllowed)
	return rep, nil
}
