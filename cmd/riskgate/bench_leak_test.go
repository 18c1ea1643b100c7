package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
)

// TestBenchLeak runs `riskgate bench leak --orders 1000` on the embedded
// stack: with the default limits not one order past the account's cap of
// 100 is ALLOWed, and the last line says so in its machine-readable form.
func TestBenchLeak(t *testing.T) {
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"bench", "leak", "--orders", "1000"})
	t.Cleanup(func() {
		root.SetArgs(nil)
		root.SetOut(nil)
		root.SetErr(nil)
		resetContexts(root)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	t.Logf("riskgate bench leak:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^burst=(\d+) cap=(\d+) allowed=(\d+) leaked=(\d+)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no burst=… cap=… allowed=… leaked=… line")
	}
	if m[1] != "1000" || m[2] != "100" || m[3] != "100" || m[4] != "0" {
		t.Errorf("burst=%s cap=%s allowed=%s leaked=%s, want burst=1000 cap=100 allowed=100 leaked=0", m[1], m[2], m[3], m[4])
	}
}
