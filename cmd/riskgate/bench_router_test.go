package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchRouter runs a small `riskgate bench router`: each round's line
// says how long the router spent ending its transactions, a part of its
// run, and the last line is the machine-readable one.
func TestBenchRouter(t *testing.T) {
	out, err := runRiskgate(t, 2*time.Minute, "bench", "router", "--orders", "20000", "--rounds", "2", "--scopes", "100",
		"--rate", "1000", "--latency-duration", "300ms")
	if err != nil {
		t.Fatal(err)
	}
	rounds := regexp.MustCompile(`(?m)^round (\d): pipe \d+ orders/s, router \d+ orders/s \(([0-9.]+) s of its ([0-9.]+) s ending transactions\)$`).
		FindAllStringSubmatch(out, -1)
	if len(rounds) != 2 {
		t.Fatalf("%d round lines with the time ending transactions, want 2", len(rounds))
	}
	for _, r := range rounds {
		ending, _ := strconv.ParseFloat(r[2], 64)
		took, _ := strconv.ParseFloat(r[3], 64)
		if ending < 0 || ending > took {
			t.Errorf("round %s: %v s ending transactions of a %v s run", r[1], ending, took)
		}
	}
	if !regexp.MustCompile(`(?m)^router_orders_per_s=\d+ pipe_orders_per_s=\d+ ratio=[0-9.]+ p50_ms=[0-9.]+ p99_ms=[0-9.]+ compression=none wire_bytes_per_order=\d+$`).MatchString(out) {
		t.Error("no machine-readable last line")
	}
}
