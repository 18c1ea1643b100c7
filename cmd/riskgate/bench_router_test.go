package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/riskgate/riskgate/ingest/kafka"
)

// TestBenchRouter runs a small `riskgate bench router`: each round's line
// says how long the router spent ending its transactions, a part of its
// run, how much of that flushing, and the ratio of its two runs; the ratio
// reported is the rounds' median, and the last line is the machine-readable
// one.
func TestBenchRouter(t *testing.T) {
	out, err := runRiskgate(t, 2*time.Minute, "bench", "router", "--orders", "20000", "--rounds", "2", "--scopes", "100",
		"--rate", "1000", "--latency-duration", "300ms")
	if err != nil {
		t.Fatal(err)
	}
	rounds := regexp.MustCompile(`(?m)^round (\d): pipe \d+ orders/s, router \d+ orders/s \(([0-9.]+) s of its ([0-9.]+) s ending transactions, ([0-9.]+) s of it flushing\), ratio ([0-9.]+)$`).
		FindAllStringSubmatch(out, -1)
	if len(rounds) != 2 {
		t.Fatalf("%d round lines with the time ending transactions, want 2", len(rounds))
	}
	var ratios []float64
	for _, r := range rounds {
		ending, _ := strconv.ParseFloat(r[2], 64)
		took, _ := strconv.ParseFloat(r[3], 64)
		if ending < 0 || ending > took {
			t.Errorf("round %s: %v s ending transactions of a %v s run", r[1], ending, took)
		}
		// Every transaction of a throughput run commits, so it flushes
		// (takes time) as it ends.
		if flush, _ := strconv.ParseFloat(r[4], 64); flush <= 0 || flush > ending {
			t.Errorf("round %s: %v s flushing of %v s ending transactions", r[1], flush, ending)
		}
		ratio, _ := strconv.ParseFloat(r[5], 64)
		if ratio <= 0 {
			t.Errorf("round %s: ratio %v", r[1], ratio)
		}
		ratios = append(ratios, ratio)
	}
	last := regexp.MustCompile(`(?m)^router_orders_per_s=\d+ pipe_orders_per_s=\d+ ratio=([0-9.]+) p50_ms=[0-9.]+ p99_ms=[0-9.]+ compression=none wire_bytes_per_order=\d+ pipe_pad_bytes=0$`).
		FindStringSubmatch(out)
	if last == nil {
		t.Fatal("no machine-readable last line")
	}
	// Two rounds: the median is their mean, to the printed precision.
	if len(ratios) == 2 {
		ratio, _ := strconv.ParseFloat(last[1], 64)
		if mean := (ratios[0] + ratios[1]) / 2; ratio < mean-0.011 || ratio > mean+0.011 {
			t.Errorf("ratio=%v, want the median of the rounds' %v", ratio, ratios)
		}
	}
}

// TestBenchRouterKafkaDir runs the bench with its in-process Kafka's logs in
// files: each run's directory is made under --kafka-dir and removed after
// it; a --kafka-dir that does not exist is an error naming the flag.
func TestBenchRouterKafkaDir(t *testing.T) {
	resetBenchRouterFlag(t, "kafka-dir", "")
	dir := t.TempDir()
	out, err := runRiskgate(t, 2*time.Minute, "bench", "router", "--orders", "5000", "--rounds", "1", "--scopes", "100",
		"--rate", "1000", "--latency-duration", "200ms", "--kafka-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^router_orders_per_s=\d+ pipe_orders_per_s=\d+ ratio=[0-9.]+ `).MatchString(out) {
		t.Error("no machine-readable last line")
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("%s left in --kafka-dir", e.Name())
	}

	missing := filepath.Join(dir, "missing")
	_, err = runRiskgate(t, time.Minute, "bench", "router", "--orders", "100", "--rounds", "1", "--kafka-dir", missing)
	if err == nil || !regexp.MustCompile(`--kafka-dir: .*missing`).MatchString(err.Error()) {
		t.Errorf("--kafka-dir %s: %v, want an error naming the flag and the directory", missing, err)
	}
}

// benchWrittenLine matches the line of the bytes per order the router and
// the pipe wrote (uncompressed), with the pipe's pad.
var benchWrittenLine = regexp.MustCompile(`(?m)^router wrote (\d+) bytes/order in none batches, (\d+) before compression; the pipe (\d+) and (\d+) \(--pipe-pad (\d+)\)$`)

// TestBenchRouterPipePad runs the bench with and without --pipe-pad: the
// padded pipe writes the pad's bytes more per order, the router as much as
// before; a pad out of range is an error naming the flag.
func TestBenchRouterPipePad(t *testing.T) {
	resetBenchRouterFlag(t, "pipe-pad", "0")
	bytesPerOrder := func(pad int) (router, pipe int) {
		t.Helper()
		out, err := runRiskgate(t, 2*time.Minute, "bench", "router", "--orders", "5000", "--rounds", "1", "--scopes", "100",
			"--rate", "1000", "--latency-duration", "200ms", "--pipe-pad", strconv.Itoa(pad))
		if err != nil {
			t.Fatal(err)
		}
		m := benchWrittenLine.FindStringSubmatch(out)
		if m == nil || m[5] != strconv.Itoa(pad) {
			t.Fatalf("no line of the bytes written with --pipe-pad %d in:\n%s", pad, out)
		}
		router, _ = strconv.Atoi(m[2])
		pipe, _ = strconv.Atoi(m[4])
		return router, pipe
	}
	router0, pipe0 := bytesPerOrder(0)
	router1, pipe1 := bytesPerOrder(300)
	// Two copies of an order of about 150 bytes, and record overheads.
	if pipe0 < 250 || pipe0 > 450 {
		t.Errorf("the unpadded pipe wrote %d bytes per order, want two copies of an order", pipe0)
	}
	// Each batch's header (61 bytes) is shared by the records the producer
	// happened to gather into it, more or fewer from run to run, so the
	// bytes per order move by a few apart from the pad.
	if d := pipe1 - pipe0; d < 285 || d > 315 {
		t.Errorf("--pipe-pad 300 wrote %d bytes per order more, want 300", d)
	}
	if d := router1 - router0; d < -15 || d > 15 {
		t.Errorf("the router wrote %d then %d bytes per order, want the same", router0, router1)
	}

	for _, bad := range []string{"-1", "65537", "lots"} {
		_, err := runRiskgate(t, time.Minute, "bench", "router", "--orders", "100", "--rounds", "1", "--pipe-pad", bad)
		if err == nil || !regexp.MustCompile(`--pipe-pad `+bad+`: want 0 to \d+ bytes, or auto`).MatchString(err.Error()) {
			t.Errorf("--pipe-pad %s: %v, want an error naming the flag", bad, err)
		}
	}
}

// TestBenchRouterPipePadAuto runs the bench with --pipe-pad auto: it says
// how many bytes per order the router and the unpadded pipe wrote in a
// first pair of runs and pads the pipe by the difference, so that the
// rounds' pipe writes about as many bytes per order as the router; the
// last line names the pad. With a codec, which would squeeze the pad's
// spaces out of what reaches the broker, it is refused.
func TestBenchRouterPipePadAuto(t *testing.T) {
	resetBenchRouterFlag(t, "pipe-pad", "0")
	out, err := runRiskgate(t, 2*time.Minute, "bench", "router", "--orders", "5000", "--rounds", "1", "--scopes", "100",
		"--rate", "1000", "--latency-duration", "200ms", "--pipe-pad", "auto")
	if err != nil {
		t.Fatal(err)
	}
	calib := regexp.MustCompile(`(?m)^--pipe-pad auto: on 5000 orders the router wrote (\d+) bytes/order and the pipe (\d+): the pipe's second copy padded with (\d+)$`).
		FindStringSubmatch(out)
	if calib == nil {
		t.Fatalf("no line of the pad found in:\n%s", out)
	}
	router, _ := strconv.Atoi(calib[1])
	pipe, _ := strconv.Atoi(calib[2])
	pad, _ := strconv.Atoi(calib[3])
	// Rounded apart: the figures are printed rounded, the pad from the
	// unrounded ones.
	if d := router - pipe - pad; d < -1 || d > 1 || pad < 100 {
		t.Errorf("router %d and pipe %d bytes per order, padded with %d: want their difference, over 100 bytes (the audit record is longer than the order)", router, pipe, pad)
	}
	m := benchWrittenLine.FindStringSubmatch(out)
	if m == nil || m[5] != calib[3] {
		t.Fatalf("no line of the bytes written with --pipe-pad %d in:\n%s", pad, out)
	}
	routerRaw, _ := strconv.Atoi(m[2])
	pipeRaw, _ := strconv.Atoi(m[4])
	// Batch headers are shared by more or fewer records from run to run.
	if d := pipeRaw - routerRaw; d < -15 || d > 15 {
		t.Errorf("padded, the pipe wrote %d bytes per order and the router %d: want about as many", pipeRaw, routerRaw)
	}
	if !regexp.MustCompile(`(?m)^router_orders_per_s=\d+ .* pipe_pad_bytes=` + calib[3] + `$`).MatchString(out) {
		t.Errorf("the machine-readable line does not name the pad %d", pad)
	}

	t.Cleanup(func() { kafkaCompressionFlag = string(kafka.DefaultCompression) })
	_, err = runRiskgate(t, time.Minute, "bench", "router", "--orders", "100", "--rounds", "1", "--pipe-pad", "auto", "--kafka-compression", "gzip")
	if err == nil || !regexp.MustCompile(`--pipe-pad auto: .*--kafka-compression gzip`).MatchString(err.Error()) {
		t.Errorf("--pipe-pad auto --kafka-compression gzip: %v, want an error naming both flags", err)
	}
}

// resetBenchRouterFlag sets a flag of bench router back to its default
// when the test ends: the flags outlive a run, for the tests after it.
func resetBenchRouterFlag(t *testing.T, name, value string) {
	t.Cleanup(func() {
		cmd, _, err := root.Find([]string{"bench", "router"})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Flags().Set(name, value); err != nil {
			t.Fatal(err)
		}
	})
}
