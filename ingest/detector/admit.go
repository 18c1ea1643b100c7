// Which orders of orders.v1 count, and at what event time.

package detector

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// Reasons an order is left out of every window.
const (
	ignoredCancel = "cancel"
	ignoredKey    = "key_mismatch"
)

// ignoreReason says why a decoded order is not counted, or "". A CANCEL
// opens no exposure: counting it would let a cancel-all during a kill keep
// the scope from being reported normal. A record keyed by other than its
// account_id is REJECTed by the router, and counting it here would split
// the account's windows across partitions.
func ignoreReason(r *kgo.Record, o *domain.Order) string {
	switch {
	case string(r.Key) != o.AccountID:
		return ignoredKey
	case o.IsCancel():
		return ignoredCancel
	}
	return ""
}

// admit applies lateness and future skew. ok is false for a late record.
func (d *Detector) admit(ps *partState, ts int64) (adm int64, clamped, ok bool) {
	rules := d.engine.Rules()
	now := d.cfg.Now().UnixMilli()
	if ts > now+rules.FutureSkew.Milliseconds() {
		ts, clamped = now, true
	}
	if ts < ps.streamTime-rules.Lateness.Milliseconds() {
		return ts, clamped, false
	}
	ps.streamTime = max(ps.streamTime, ts)
	if ts > d.maxEvent {
		d.maxEvent, d.wallAtMax = ts, time.Now()
	}
	return ts, clamped, true
}
