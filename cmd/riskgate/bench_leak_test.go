package main

import (
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
)

// TestBenchLeak runs `riskgate bench leak --orders 1000` on the embedded
// stack: with the default limits not one order past the account's cap of
// 100 is ALLOWed, and the last line says so in its machine-readable form.
// The first 100 orders are ALLOWed and the 101st BLOCKed, unless the
// detector's kill (it sees the burst too) reached the router before the
// 101st order: then every order from the first one the kill caught on is
// DROPped and none is BLOCKed, which the table's "first stopped" row shows.
func TestBenchLeak(t *testing.T) {
	if _, err := devstack.FindTemporalBinary(); errors.Is(err, devstack.ErrNoTemporalBinary) {
		t.Skip(err)
	}
	out, err := runRiskgate(t, 3*time.Minute, "bench", "leak", "--orders", "1000")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^burst=(\d+) cap=(\d+) allowed=(\d+) leaked=(\d+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no burst=… cap=… allowed=… leaked=… line")
	}
	if m[1] != "1000" || m[2] != "100" || m[4] != "0" {
		t.Errorf("burst=%s cap=%s allowed=%s leaked=%s, want burst=1000 cap=100 leaked=0", m[1], m[2], m[3], m[4])
	}
	counts := map[string]int{}
	for _, row := range regexp.MustCompile(`(?m)^\s*([A-Z]+)\s+(\d+)\s*$`).FindAllStringSubmatch(out, -1) {
		counts[row[1]], _ = strconv.Atoi(row[2])
	}
	stop := regexp.MustCompile(`first stopped\s+order (\d+) \((\w+)\)`).FindStringSubmatch(out)
	if stop == nil {
		t.Fatal(`no "first stopped" row`)
	}
	at, _ := strconv.Atoi(stop[1])
	allowed := counts["ALLOW"]
	switch {
	case allowed == 100 && at == 101 && stop[2] == "BLOCK" && counts["BLOCK"]+counts["DROP"] == 900:
	case allowed < 100 && at == allowed+1 && stop[2] == "DROP" && counts["DROP"] == 1000-allowed:
		t.Logf("the detector's kill reached the router after %d orders, before the cap: every later order DROPped", allowed)
	default:
		t.Errorf("decisions %v, first stopped: order %d by %s; want orders 1–100 ALLOWed, 101 BLOCKed and the rest BLOCKed or DROPped (or, when the kill lands before the cap, every order from the first one it caught DROPped)", counts, at, stop[2])
	}
}
