package dynamo

import (
	"errors"
	"testing"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
)

// TestAuditCursors: a cursor is the last record's audit key; a cursor of
// the key before audit keys held the orders.v1 position continues from the
// start of its millisecond (nothing skipped); anything else is refused.
func TestAuditCursors(t *testing.T) {
	k := auditKey(&domain.AuditRecord{TS: 1_764_000_000_123, Partition: 2, Offset: 99}, index.Pos{Partition: 1, Offset: 7})
	if got, err := decodeCursor(encodeCursor(k)); err != nil || got != k {
		t.Errorf("decodeCursor(%q) = %q, %v", k, got, err)
	}
	old := tsKey(1_764_000_000_123, index.Pos{Partition: 1, Offset: 7})
	got, err := decodeCursor(encodeCursor(old))
	if want := tsBound(1_764_000_000_123) + "#" + maxKey; err != nil || got != want {
		t.Errorf("decodeCursor(%q) = %q, %v; want %q", old, got, err, want)
	}
	if !(got > k) {
		t.Errorf("an old cursor %q must bound every key of its millisecond, as %q", got, k)
	}
	for _, bad := range []string{"", "!!", encodeCursor("x"), encodeCursor(k + "#1"), encodeCursor(old[:len(old)-1] + "#")} {
		if _, err := decodeCursor(bad); !errors.Is(err, index.ErrBadCursor) {
			t.Errorf("decodeCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}
