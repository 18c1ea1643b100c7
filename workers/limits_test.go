package workers

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// TestLimitsSettingsFromFile: the Limits workflows take each scope type's
// defaults and ceilings from the routers' limits file, and the built-in set
// without one.
func TestLimitsSettingsFromFile(t *testing.T) {
	file, err := limits.Parse("test.yaml", []byte("defaults:\n  ACCOUNT:\n    max_orders: 20\nceilings:\n  ACCOUNT:\n    max_orders: 200\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := LimitsSettings(&file, 5*time.Minute)
	acct, ceil := s.Defaults[domain.ScopeAccount], s.Ceilings[domain.ScopeAccount]
	if acct.MaxOrders == nil || *acct.MaxOrders != 20 || acct.WindowSeconds == nil || *acct.WindowSeconds != 60 ||
		ceil.MaxOrders == nil || *ceil.MaxOrders != 200 || s.ApprovalWindow != 5*time.Minute {
		t.Errorf("from the file: defaults %+v ceilings %+v window %v", acct, ceil, s.ApprovalWindow)
	}
	if g := s.Defaults[domain.ScopeGlobal]; g.MaxOrders != nil {
		t.Errorf("GLOBAL has max_orders %d, but the file gives it none", *g.MaxOrders)
	}

	builtin := LimitsSettings(nil, 0)
	deploy, err := limits.Load(filepath.Join("..", "deploy", "limits.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fromDeploy := LimitsSettings(&deploy, 0)
	for _, typ := range domain.ScopeTypes {
		if got, want := *builtin.Ceilings[typ].MaxOrders, *fromDeploy.Ceilings[typ].MaxOrders; got != want {
			t.Errorf("%s ceiling max_orders: built-in %d, deploy/limits.yaml %d", typ, got, want)
		}
	}
	if builtin.ApprovalWindow != 10*time.Minute {
		t.Errorf("default approval window %v, want 10m", builtin.ApprovalWindow)
	}
}
