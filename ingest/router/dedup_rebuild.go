package router

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// A dedup record of the changelog that does not read (a damaged log, a
// record of a later release) holds identities the replayed window would
// forget: an order sent again within the window would be decided again —
// ALLOWed twice, sent on twice — and a CANCEL of an ALLOWed order would no
// longer pass a kill. Every decision that claims an identity also has an
// audit record, written in the same transaction, which names the order id,
// its type, its orders.v1 partition and the decision time the window keys
// on. So the replay rebuilds the window of each partition with such a
// record from audit.v1 before the router decides any of its orders. A
// record holds one transaction's identities, decided within a transaction
// timeout of its timestamp (the transaction's start, or when it was
// produced), so the audit is read from there on, not the whole window; a
// record older than the window held nothing the window still needs.

// auditIdentity is what the rebuild reads of an audit record.
type auditIdentity struct {
	TS               int64           `json:"ts"`
	Decision         domain.Decision `json:"decision"`
	OrderID          string          `json:"order_id"`
	OrderType        string          `json:"order_type"`
	KillswitchStatus domain.Status   `json:"killswitch_status"`
	Partition        int32           `json:"partition"`
}

// claims reports whether the router recorded the identity of the order an
// audit record decided: every decision but a DUPLICATE (recorded before)
// and the REJECT of a record that did not decode or validate (which claims
// no id, so that a corrected resubmission is decided on its own; unlike
// the REJECT of a CANCEL under a kill, it read no kill state).
func (a *auditIdentity) claims() bool {
	switch a.Decision {
	case domain.DecisionDuplicate:
		return false
	case domain.DecisionReject:
		return a.KillswitchStatus != ""
	}
	return true
}

// rebuildDedup adds to stores, the replayed windows, the identities decided
// since cutoff (Unix ms) in the partitions of the changelog records lost,
// read from audit.v1.
func (r *Router) rebuildDedup(ctx context.Context, stores map[int32]*dedupStore, lost []*kgo.Record, cutoff int64) error {
	var parts []int32
	from := int64(math.MaxInt64)
	for _, rec := range lost {
		// A second of slack for the audit records' own timestamps.
		earliest := rec.Timestamp.Add(-r.cfg.TransactionTimeout - time.Second).UnixMilli()
		if rec.Timestamp.Add(r.cfg.TransactionTimeout).UnixMilli() < cutoff {
			continue // its identities have left the window
		}
		from = min(from, max(earliest, cutoff))
		r.log.Error("dedup changelog record does not read: rebuilding the partition's dedup window from "+domain.TopicAudit,
			"partition", rec.Partition, "offset", rec.Offset)
		if !slices.Contains(parts, rec.Partition) {
			parts = append(parts, rec.Partition)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	start := time.Now()
	ids, unreadable := 0, 0
	err := readTopic(ctx, r.cfg.Kafka, domain.TopicAudit, nil, from, func(rec *kgo.Record) {
		var a auditIdentity
		if err := json.Unmarshal(rec.Value, &a); err != nil {
			unreadable++
			r.log.Warn("dedup window rebuild: audit record does not decode; its identity, if any, is not in the window",
				"partition", rec.Partition, "offset", rec.Offset, "err", err)
			return
		}
		s := stores[a.Partition]
		if s == nil || !slices.Contains(parts, a.Partition) || a.TS < cutoff || a.OrderID == "" || !a.claims() {
			return
		}
		cancel := a.OrderType == string(domain.OrderCancel)
		s.add(r.hash.key(a.OrderID, cancel), a.TS, !cancel && a.Decision == domain.DecisionAllow)
		ids++
	})
	if err != nil {
		return err
	}
	r.m.dedupRebuilds.Inc()
	r.log.Info("dedup window rebuilt from "+domain.TopicAudit, "partitions", parts, "from", time.UnixMilli(from).UTC(), "identities", ids,
		"unreadable_audit_records", unreadable, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
